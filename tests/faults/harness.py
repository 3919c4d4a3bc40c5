"""The fault suite's harness: a whole bank CRM on its own broker and database (`Cluster`), the workload a bank
would drive through it (`Workload`), the final state of every service and every published event once the system
is quiet (`snapshot`), and how a fault run differs from the fault-free run (`compare`).

Each cluster has its own Tansu broker and SecantusDB (with test commands, for `configureFailPoint`), never the
session `stack`: faults stop, pause and restart them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from crm_cli.demo_data import make_balance, make_complaints, make_dataset, make_products
from crm_cli.stack import CONSUMER_GROUPS, SERVICES, EmbeddedKafka, EmbeddedMongo, ServiceProcess, free_port
from crm_contracts.topics import (
    COMPLAINTS_CASES,
    COREBANK_BALANCES,
    ENGAGEMENT_TASKS,
    PROFILE_CUSTOMERS,
    TIERING_CUSTOMERS,
    dead_letter,
)
from crm_kit.auth import issue_token
from crm_kit.clock import BANK_TZ

# `make faults` sets CRM_FAULTS=full: every fault on a few thousand customers; otherwise the reduced run.
FULL = os.environ.get("CRM_FAULTS", "").strip().lower() == "full"
ROWS: list[dict[str, object]] = []  # one per run, for the table printed at the end of the session


def table() -> str:
    lines = [
        "| fault | events | lost | doubled | out of order | dead letters | time to recover (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ROWS:
        lines.append(
            f"| {r['fault']} | {r['events']} | {r['lost']} | {r['doubled']} | {r['out_of_order']} | "
            f"{r['dead_letters']} | {r['recover']} |"
        )
    return "\n".join(lines)


SPECS = {spec.name: spec for spec in SERVICES}
TOPICS = (PROFILE_CUSTOMERS, TIERING_CUSTOMERS, ENGAGEMENT_TASKS, COMPLAINTS_CASES, COREBANK_BALANCES)
ALL_TOPICS = TOPICS + tuple(dead_letter(t) for t in TOPICS)
# The state each service keeps about customers, tasks and cases (not logs, outboxes, inboxes, leases, audit).
STATE: dict[str, tuple[str, ...]] = {
    "profile": ("customers", "balance_history", "relationships"),
    "tiering": ("customers", "staff", "policies", "rollouts", "watch"),
    "engagement": (
        "customers",
        "tasks",
        "open_task_keys",
        "interactions",
        "contact_attempts",
        "surveys",
        "points_accounts",
        "points_ledger",
        "recommendations",
    ),
    "complaints": ("complaints", "customers", "handlers"),
}
HEAD_OFFICE = ("S-HO01", "head_office", None)
ADMIN = ("S-ADMIN", "admin", None)


def new_secrets() -> dict[str, str]:
    import secrets as pysecrets

    from crm_kit.crypto import new_key_b64

    return {
        "CRM_JWT_SECRET": pysecrets.token_urlsafe(48),
        "CRM_DATA_KEY": new_key_b64(),
        "CRM_LOOKUP_KEY": new_key_b64(),
    }


# ---------------------------------------------------------------------------------------------
# the cluster


class Cluster:
    """A broker, a database and `replicas` processes of each of the four services, wired as `crm run` wires them,
    with the business date pinned (so every run computes the same dates) and short scheduler intervals."""

    def __init__(
        self,
        workdir: Path,
        *,
        business_date: date,
        replicas: int = 1,
        partitions: int = 4,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.business_date = business_date
        self.secrets = new_secrets()
        self.prefix = f"f{uuid.uuid4().hex[:6]}."
        self.partitions = partitions
        self.kafka = EmbeddedKafka("127.0.0.1", free_port(), log_path=workdir / "kafka.log")
        self.mongo = EmbeddedMongo(
            "127.0.0.1", free_port(), workdir / "mongo-data", test_commands=True, log_path=workdir / "mongodb.log"
        )
        self.extra_env = extra_env or {}
        self.replicas: dict[str, list[ServiceProcess]] = {
            name: [self._process(name, i) for i in range(replicas)] for name in SPECS
        }
        self._db: MongoClient[dict[str, Any]] | None = None

    def database(self, service: str) -> str:
        return f"crm_{service}"

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def env(self, service: str) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            "KAFKA_IDEMPOTENT_PRODUCER": "false",  # Tansu has no idempotent producer
            "KAFKA_TOPIC_PREFIX": self.prefix,
            "KAFKA_TOPIC_PARTITIONS": str(self.partitions),
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "MONGODB_URI": self.mongo.uri,
            "MONGODB_DATABASE": self.database(service),
            "LOG_FORMAT": "json",
            "OUTBOX_POLL_SECONDS": "0.2",
            "CLOCK_DATE": self.business_date.isoformat(),
            "SCHEDULER_INTERVAL_SECONDS": "1",
            "ROUTING_INTERVAL_SECONDS": "1",
            "SWEEP_INTERVAL_SECONDS": "1",
            **self.secrets,
            **self.extra_env,
        }

    def _process(self, service: str, index: int) -> ServiceProcess:
        spec = SPECS[service]
        return ServiceProcess(
            f"{service}-{index}",
            spec.factory,
            spec.port_var,
            free_port(),
            self.env(service),
            log_path=self.workdir / f"{service}-{index}.log",
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Cluster:
        self.kafka.start()
        self.mongo.start()
        for procs in self.replicas.values():  # the env was made before the ports were known
            for p in procs:
                p.env.update(self.env(p.name.rsplit("-", 1)[0]))
        # Profile first (it creates the topics the others consume), then the rest side by side.
        first = [ps[0] for ps in self.replicas.values()]
        with ThreadPoolExecutor(len(first)) as pool:
            list(pool.map(lambda p: p.start(), first))
        rest = [p for ps in self.replicas.values() for p in ps[1:]]
        if rest:
            with ThreadPoolExecutor(len(rest)) as pool:
                list(pool.map(lambda p: p.start(), rest))
        return self

    def stop(self) -> None:
        for procs in self.replicas.values():
            for p in procs:
                with contextlib.suppress(Exception):
                    if p.pid:
                        os.kill(p.pid, signal.SIGCONT)
                    p.stop(grace=5)
        with contextlib.suppress(Exception):
            if self.kafka.pid:
                os.kill(self.kafka.pid, signal.SIGCONT)
        for proc in (self.kafka, self.mongo):
            with contextlib.suppress(Exception):
                proc.stop(grace=5)
        if self._db is not None:
            self._db.close()

    def __enter__(self) -> Cluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------------------------

    def kill(self, service: str, index: int = 0) -> None:
        proc = self.replicas[service][index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stop(grace=5)

    def restart(self, service: str, index: int = 0) -> None:
        proc = self.replicas[service][index]
        if proc.is_running():
            proc.stop(grace=5)
        proc.start()

    def pause(self, service: str, index: int = 0) -> None:
        os.killpg(self.replicas[service][index].pid, signal.SIGSTOP)

    def resume(self, service: str, index: int = 0) -> None:
        os.killpg(self.replicas[service][index].pid, signal.SIGCONT)

    def pause_broker(self) -> None:
        os.kill(self.kafka.pid, signal.SIGSTOP)

    def resume_broker(self) -> None:
        os.kill(self.kafka.pid, signal.SIGCONT)

    def restart_broker(self) -> None:
        """Kill the broker and start it again on the same port: memory-only, it comes back empty."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.kafka.pid, signal.SIGKILL)
        self.kafka.stop(grace=5)
        self.kafka.start()

    def fail_point(self, mode: Any, data: dict[str, Any]) -> dict[str, Any]:
        """`configureFailPoint failCommand` on the database (started with --enable-test-commands)."""
        return self.db().admin.command({"configureFailPoint": "failCommand", "mode": mode, "data": data})

    def fail_point_off(self) -> None:
        self.db().admin.command({"configureFailPoint": "failCommand", "mode": "off"})

    # -- reading -----------------------------------------------------------------------------

    def db(self) -> MongoClient[dict[str, Any]]:
        if self._db is None:
            self._db = MongoClient(self.mongo.uri, serverSelectionTimeoutMS=10_000, tz_aware=True)
        return self._db

    def reset_db_client(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def urls(self, service: str) -> list[str]:
        return [p.base_url for p in self.replicas[service] if p.is_running()]

    def leases(self, service: str) -> list[dict[str, Any]]:
        return list(self.db()[self.database(service)]["leases"].find())

    def holder(self, service: str, lease: str) -> int | None:
        """Which replica holds a lease (its owner is "host:pid:…"), by index; None when nobody does."""
        doc = self.db()[self.database(service)]["leases"].find_one({"_id": lease})
        if not doc:
            return None
        pid = int(str(doc["owner"]).split(":")[1])
        for i, p in enumerate(self.replicas[service]):
            if p.pid == pid:
                return i
        return None


# ---------------------------------------------------------------------------------------------
# quiet: outboxes empty, consumer lag 0, nothing changing


async def _partitions(consumer: Any, topics: Iterable[str]) -> list[Any]:
    from aiokafka import TopicPartition

    await consumer._client.force_metadata_update()  # noqa: SLF001 - topics created since the start
    return [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]


async def _high_waters(
    bootstrap: str, topics: Iterable[str], start: dict[tuple[str, int], int]
) -> dict[tuple[str, int], int]:
    """The end of every partition of `topics`. Taken from fetch answers (their high-water mark), read from `start`
    on (a consumer group's position): Tansu's ListOffsets answers 1 for any non-empty partition."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        request_timeout_ms=5000,
        max_partition_fetch_bytes=64 * 1024,
    )
    await consumer.start()
    try:
        tps = await _partitions(consumer, topics)
        if not tps:
            return {}
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, start.get((tp.topic, tp.partition), 0))
        deadline = time.monotonic() + 10
        while any(consumer.highwater(tp) is None for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError("no fetch answer from the broker")
            await consumer.getmany(timeout_ms=200, max_records=1)
        return {(tp.topic, tp.partition): int(consumer.highwater(tp)) for tp in tps}
    finally:
        await consumer.stop()


async def _group_offsets(bootstrap: str, group: str, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    # A group member that never joins, only asks for the committed offsets (Tansu answers the admin client's
    # OffsetFetch for several partitions in a shape aiokafka misreads).
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, request_timeout_ms=5000
    )
    await consumer.start()
    try:
        out = {}
        for t, p in partitions:
            committed = await consumer.committed(TopicPartition(t, p))
            out[(t, p)] = committed or 0
        return out
    finally:
        await consumer.stop()


async def progress(cluster: Cluster) -> dict[str, Any]:
    """Unsent outbox messages per service, running rollouts, consumer lag per group, and every partition's end."""
    from aiokafka import AIOKafkaConsumer

    def pending() -> dict[str, int]:
        out = {}
        for s in SPECS:
            docs = cluster.db()[cluster.database(s)]["outbox"].find({"sent_at": None}, {"messages.id": 1})
            out[s] = sum(len(d["messages"]) for d in docs)
        out["rollouts"] = cluster.db()[cluster.database("tiering")]["rollouts"].count_documents(
            {"status": {"$ne": "done"}}
        )
        return out

    outbox = await asyncio.to_thread(pending)
    bootstrap = cluster.kafka.bootstrap
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await probe.start()
    try:
        tps = [(tp.topic, tp.partition) for tp in await _partitions(probe, [cluster.topic(t) for t in ALL_TOPICS])]
    finally:
        await probe.stop()
    committed: dict[str, dict[tuple[str, int], int]] = {}
    for consumed in CONSUMER_GROUPS.values():
        for topic, group in consumed.items():
            mine = [tp for tp in tps if tp[0] == cluster.topic(topic)]
            committed[group] = await _group_offsets(bootstrap, cluster.prefix + group, mine) if mine else {}
    start: dict[tuple[str, int], int] = {}
    for offsets in committed.values():
        for tp, off in offsets.items():
            start[tp] = min(start.get(tp, off), off)
    ends = await _high_waters(bootstrap, [cluster.topic(t) for t in ALL_TOPICS], start)
    lag = {group: sum(ends.get(tp, 0) - off for tp, off in offsets.items()) for group, offsets in committed.items()}
    return {"outbox": outbox, "lag": lag, "ends": ends}


async def wait_quiet(cluster: Cluster, *, settle: float = 3.0, timeout: float = 240.0) -> float:
    """Wait until outboxes are empty, no group lags and no topic grew for `settle` seconds. Seconds waited."""
    started = time.monotonic()
    deadline = started + timeout
    last: Any = None
    stable_since: float | None = None
    seen: Any = None
    while True:
        try:
            seen = await progress(cluster)
            quiet = not any(seen["outbox"].values()) and not any(seen["lag"].values())
            mark = seen["ends"]
        except Exception as exc:  # noqa: BLE001 - a paused or restarting component: not quiet yet
            quiet, mark, seen = False, None, repr(exc)
        now = time.monotonic()
        if quiet and mark == last:
            stable_since = stable_since or now
            if now - stable_since >= settle:
                return now - started
        else:
            stable_since = now if quiet else None
        last = mark
        if now > deadline:
            raise AssertionError(f"the system did not become quiet within {timeout:.0f}s: {seen}")
        await asyncio.sleep(0.5)


# ---------------------------------------------------------------------------------------------
# the bank's clients: retried as a careful client would, against any running replica


class Bank:
    """HTTP calls as staff, retried through outages (connection refused, timeouts, 5xx) on any live replica."""

    def __init__(self, cluster: Cluster, *, patience: float = 180.0) -> None:
        self.cluster = cluster
        self.patience = patience
        self.http = httpx.AsyncClient(timeout=15)
        self._tokens: dict[tuple[str, str, str | None], str] = {}
        self.retries = 0

    def auth(self, as_: tuple[str, str, str | None]) -> dict[str, str]:
        if as_ not in self._tokens:
            staff, role, branch = as_
            self._tokens[as_] = issue_token(
                secret=self.cluster.secrets["CRM_JWT_SECRET"], staff_id=staff, role=role, branch=branch
            )
        return {"Authorization": f"Bearer {self._tokens[as_]}"}

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        as_: tuple[str, str, str | None],
        ok: Callable[[httpx.Response, int], bool] = lambda r, _attempt: r.status_code < 400,
        **kw: Any,
    ) -> httpx.Response:
        """The response `ok` accepts (attempt number given: a retried POST may meet its own first effect)."""
        deadline = time.monotonic() + self.patience
        attempt = 0
        last: Any = None
        while time.monotonic() < deadline:
            attempt += 1
            urls = self.cluster.urls(service)
            if urls:
                url = urls[attempt % len(urls)]
                try:
                    r = await self.http.request(method, url + path, headers=self.auth(as_), **kw)
                    if ok(r, attempt):
                        return r
                    last = (r.status_code, r.text[:300])
                    if r.status_code < 500 and r.status_code not in (408, 409, 425, 429):
                        raise AssertionError(f"{method} {service}{path} refused: {last}")
                except httpx.TransportError as exc:
                    last = repr(exc)
            self.retries += 1
            await asyncio.sleep(min(2.0, 0.2 * attempt))
        raise AssertionError(f"{method} {service}{path} not accepted within {self.patience:.0f}s: {last}")

    async def close(self) -> None:
        await self.http.aclose()


async def produce(cluster: Cluster, topic: str, messages: list[tuple[str, bytes]], *, patience: float = 180.0) -> None:
    """Core banking's feed: every message delivered (acks=all), retried through a broker outage."""
    from aiokafka import AIOKafkaProducer

    deadline = time.monotonic() + patience
    remaining = list(messages)
    while remaining:
        producer = AIOKafkaProducer(
            bootstrap_servers=cluster.kafka.bootstrap,
            acks="all",
            request_timeout_ms=10_000,
            enable_idempotence=False,
            linger_ms=5,
        )
        try:
            await producer.start()
            while remaining:
                chunk = remaining[:500]
                futures = [await producer.send(cluster.topic(topic), value, key=key.encode()) for key, value in chunk]
                await asyncio.gather(*futures)
                remaining = remaining[len(chunk) :]
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)
        finally:
            with contextlib.suppress(Exception):
                await producer.stop()


# ---------------------------------------------------------------------------------------------
# the workload


@dataclass
class Workload:
    """A seeded bank day-to-day: staff and catalogue, registrations through profile's API, a few business days
    of core-banking balances on `corebank.balances`, a tiering policy change, tasks completed in engagement and
    complaints taken through their process. Each phase waits for the system to settle before the next one, so
    what a phase acts on (tasks, tiers) is the same in every run; faults strike inside phases."""

    customers: int = 150
    days: int = 3
    seed: int = 20261124
    business_date: date = date(2026, 12, 1)
    settle: float = 2.0  # seconds without change that make the system quiet between steps
    phases: list[str] = field(
        default_factory=lambda: ["directory", "registrations", "balances", "policy", "tasks", "complaints", "handling"]
    )

    def steps(self) -> list[str]:
        """The phases, with one step per business day of balances (each day settles before the next: what
        engagement plans for a day depends on both profile's and tiering's events of that day having arrived)."""
        return [
            s for p in self.phases for s in ([f"balances:{i}" for i in range(self.days)] if p == "balances" else [p])
        ]

    def dataset(self) -> dict[str, Any]:
        per_branch = max(1, self.customers // 3)
        corporates = max(0, per_branch // 8)
        data = make_dataset(
            self.seed,
            branches=3,
            individuals_per_branch=per_branch - corporates,
            corporates_per_branch=corporates,
            as_of=self.business_date,
        )
        data["customers"] = data["customers"][: self.customers]
        return data

    def balance_days(self) -> list[date]:
        return [self.business_date - timedelta(days=self.days - 1 - i) for i in range(self.days)]

    async def run(
        self, cluster: Cluster, *, at_phase: Callable[[str], Awaitable[None]] | None = None
    ) -> dict[str, Any]:
        """Run every phase; `at_phase(name)` is awaited as each phase starts (where a fault is set off)."""
        data = self.dataset()
        bank = Bank(cluster)
        stats: dict[str, Any] = {"customers": len(data["customers"]), "quiet_at": []}
        try:
            for step in self.steps():
                if at_phase is not None:
                    await at_phase(step)
                phase, _, arg = step.partition(":")
                await getattr(self, f"_{phase}")(cluster, bank, data, *([int(arg)] if arg else []))
                await wait_quiet(cluster, settle=self.settle)
                stats["quiet_at"].append(time.monotonic())
            stats["http_retries"] = bank.retries
        finally:
            await bank.close()
        return stats

    async def _directory(self, cluster: Cluster, bank: Bank, data: dict[str, Any]) -> None:
        async def staff(m: dict[str, Any]) -> None:
            await bank.call(
                "tiering",
                "PUT",
                f"/v1/staff/{m['staff_id']}",
                as_=ADMIN,
                json={"name": m["name"], "branch": m["branch"], "roles": [m["role"]], "active": True},
            )

        async def product(p: dict[str, Any]) -> None:
            await bank.call(
                "engagement",
                "PUT",
                f"/v1/products/{p['code']}",
                as_=HEAD_OFFICE,
                json={k: p[k] for k in ("name", "type", "risk_level", "active")},
            )

        async def handler(m: dict[str, Any]) -> None:
            await bank.call(
                "complaints",
                "PUT",
                f"/v1/handlers/{m['staff_id']}",
                as_=HEAD_OFFICE,
                json={"branch": m["branch"], "categories": []},
            )

        # One member per branch for each tier's responsible roles: tiering gives a customer entering a tier to the
        # least-loaded eligible member, which depends on the order events arrive in; with one candidate, every run
        # (faults or not) gives each customer the same owner.
        directory: dict[tuple[str, str], dict[str, Any]] = {}
        for m in data["staff"]:
            if m["role"] in ("high_counter_teller", "low_counter_staff", "relationship_manager", "branch_manager"):
                directory.setdefault((m["branch"], m["role"]), m)
        await asyncio.gather(
            *(staff(m) for m in directory.values()),
            *(product(p) for p in make_products()),
            *(handler(m) for m in data["staff"] if m["role"] == "complaint_handler"),
        )
        # Surveys follow a sample of contacts chosen by the interaction's random id: every contact instead, so two
        # runs open the same surveys.
        r = await bank.call("engagement", "GET", "/v1/policy", as_=HEAD_OFFICE)
        if r.json()["version"] == 1:
            policy = r.json()["policy"]
            policy["surveys"]["interaction_sample_pct"] = 100
            await bank.call(
                "engagement",
                "PUT",
                "/v1/policy",
                as_=HEAD_OFFICE,
                json={"policy": policy, "note": "fault suite: a survey after every contact"},
            )

    async def _registrations(self, cluster: Cluster, bank: Bank, data: dict[str, Any]) -> None:
        slots = asyncio.Semaphore(4)

        async def register(c: dict[str, Any]) -> None:
            async with slots:
                # A retry that meets the first attempt's registration (409: same core customer number) is done.
                await bank.call(
                    "profile",
                    "POST",
                    "/v1/customers",
                    as_=(c["owner"], "relationship_manager", c["branch"]),
                    json=c,
                    ok=lambda r, n: r.status_code == 201 or (n > 1 and r.status_code == 409),
                )

        await asyncio.gather(*(register(c) for c in data["customers"]))

    async def _balances(self, cluster: Cluster, bank: Bank, data: dict[str, Any], index: int) -> None:
        day = self.balance_days()[index]
        rng = random.Random(f"{self.seed}:{day}")
        snapshots = [make_balance(rng, c["core_customer_no"], day) for c in data["customers"]]
        await produce(cluster, COREBANK_BALANCES, [(s["core_customer_no"], json.dumps(s).encode()) for s in snapshots])

    async def _policy(self, cluster: Cluster, bank: Bank, data: dict[str, Any]) -> None:
        r = await bank.call("tiering", "GET", "/v1/policy", as_=HEAD_OFFICE)
        policy = r.json()["policy"]
        if int(r.json().get("version", 1)) > 1:
            return  # a retried phase: the change is in
        # The bank lowers the top tier's entry bound by a fifth: some customers move up.
        top = policy["tiers"][-1]
        top["lower_bound"] = format((float(top["lower_bound"]) * 0.8), ".2f")
        await bank.call(
            "tiering",
            "PUT",
            "/v1/policy",
            as_=HEAD_OFFICE,
            json={"policy": policy, "note": "fault suite: top tier from 80% of its bound"},
        )

    async def _tasks(self, cluster: Cluster, bank: Bank, data: dict[str, Any]) -> None:
        keys = customer_keys(cluster)
        tasks = list(cluster.db()[cluster.database("engagement")]["tasks"].find({"status": "open"}))
        tasks.sort(
            key=lambda t: (
                keys.get(t.get("customer_id"), str(t.get("customer_id"))),
                t.get("kind", ""),
                str(t.get("due_on", "")),
            )
        )
        outcomes = ("reached", "no_answer", "meeting_booked")
        # The contact was made the day before, in office hours: the same for every run whatever the time of day
        # (quiet hours), and never in the future of the pinned business date.
        occurred = datetime.combine(self.business_date - timedelta(days=1), dtime(10, 0), tzinfo=BANK_TZ).isoformat()

        async def complete(i: int, t: dict[str, Any]) -> None:
            await bank.call(
                "engagement",
                "POST",
                f"/v1/tasks/{t['_id']}/complete",
                as_=HEAD_OFFICE,
                json={"outcome": outcomes[i % 3], "occurred_at": occurred},
                ok=lambda r, n: r.status_code == 200 or (n > 1 and r.status_code == 409),
            )

        # Every second open task, in the order of its customer's core number: the same tasks in every run.
        await asyncio.gather(*(complete(i, t) for i, t in enumerate(tasks) if i % 2 == 0))

    async def _complaints(self, cluster: Cluster, bank: Bank, data: dict[str, Any]) -> None:
        keys = customer_keys(cluster)
        ids = {v: k for k, v in keys.items()}
        registered = [
            {**c, "id": ids[f"C:{c['core_customer_no']}"]}
            for c in data["customers"]
            if f"C:{c['core_customer_no']}" in ids
        ]
        noon = datetime.combine(self.business_date, dtime(12, 0), tzinfo=BANK_TZ)
        bodies = make_complaints(random.Random(self.seed + 1), registered, now=noon)
        handlers = {m["branch"]: m["staff_id"] for m in data["staff"] if m["role"] == "complaint_handler"}

        async def take_in(i: int, body: dict[str, Any]) -> None:
            as_ = (handlers[body["branch"]], "complaint_handler", body["branch"])

            async def existing() -> str | None:
                r = await bank.call(
                    "complaints", "GET", "/v1/complaints", as_=HEAD_OFFICE, params={"customer_id": body["customer_id"]}
                )
                items = r.json()["items"]
                return str(items[0]["id"]) if items else None

            # Taking a complaint in is not idempotent: a retry first looks whether the first attempt got through.
            case_id = None
            for _ in range(30):
                case_id = await existing()
                if case_id:
                    break
                try:
                    r = await bank.http.post(
                        bank.cluster.urls("complaints")[0] + "/v1/complaints", headers=bank.auth(as_), json=body
                    )
                    if r.status_code == 201:
                        case_id = str(r.json()["id"])
                        break
                except (httpx.TransportError, IndexError):
                    pass
                await asyncio.sleep(1)
            assert case_id, f"complaint of {body['customer_id']} not taken in"

        await asyncio.gather(*(take_in(i, b) for i, b in enumerate(bodies)))

    async def _handling(self, cluster: Cluster, bank: Bank, data: dict[str, Any]) -> None:
        """The complaints taken in go through their process. A step of its own, after the intake has settled: the
        cases were received days ago, so the deadline clock has seen each one overdue before its handler acts,
        in every run (else a breach would depend on whether the clock ticked before the acknowledgement)."""
        keys = customer_keys(cluster)
        order = {f"C:{c['core_customer_no']}": i for i, c in enumerate(data["customers"])}
        cases = sorted(
            cluster.db()[cluster.database("complaints")]["complaints"].find(),
            key=lambda c: order.get(keys.get(c.get("customer_id"), ""), 10**9),
        )
        handlers = {m["branch"]: m["staff_id"] for m in data["staff"] if m["role"] == "complaint_handler"}
        steps = [
            ("acknowledge", {}),
            ("assign", {}),
            ("investigate", {}),
            ("contact", {}),
            (
                "resolve",
                {
                    "explanation": "the charge was explained and refunded",
                    "apology": True,
                    "compensation": "0.00",
                    "root_cause": "fees_charges",
                },
            ),
            ("notify", {"channel": "phone"}),
            ("confirm", {}),
        ]

        async def handle(i: int, case: dict[str, Any]) -> None:
            as_ = (handlers[case["branch"]], "complaint_handler", case["branch"])
            # Three in four go through the whole process; the others stay open at their second step.
            for action, step in steps if i % 4 else steps[:2]:
                await bank.call(
                    "complaints",
                    "POST",
                    f"/v1/complaints/{case['_id']}/{action.replace('_', '-')}",
                    as_=as_,
                    json=step,
                    ok=lambda r, n: r.status_code == 200 or (n > 1 and r.status_code == 409),
                )

        await asyncio.gather(*(handle(i, c) for i, c in enumerate(cases)))


# ---------------------------------------------------------------------------------------------
# snapshot: the final state, normalised so that two runs compare exactly

_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_RANDOM_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{24,}")
# Fields sealed with the run's data key (a random nonce each time): equal runs, different bytes.
_SEALED = "v1:"
# Bookkeeping that differs between two correct runs: when, which process, how many tries, versions of writes.
_DROPPED_KEYS = {
    "lookup",
    "cursor",
    "created_at",
    "updated_at",
    "sent_at",
    "at",
    "until",
    "owner_pid",
    "lease",
    "attempts",
    "_rev",
    "last_event_id",
    "applied_ids",
    "last_message_id",
    "correlation_id",
    "correlationid",
    "causationid",
    "heartbeat",
    "started_at",
    "finished_at",
    "token",
}


def customer_keys(cluster: Cluster) -> dict[str, str]:
    """Profile's customer id -> the core customer number (the workload's key for a customer)."""
    out = {}
    for doc in cluster.db()[cluster.database("profile")]["customers"].find({}, {"core_customer_no": 1}):
        if doc.get("core_customer_no"):
            out[str(doc["_id"])] = f"C:{doc['core_customer_no']}"
    return out


def _id_keys(cluster: Cluster, customers: dict[str, str]) -> dict[str, str]:
    """Every generated id (customers, tasks, cases) -> a key made of workload keys."""
    keys = dict(customers)
    eng = cluster.db()[cluster.database("engagement")]
    seen: Counter[str] = Counter()
    for t in sorted(
        eng["tasks"].find(),
        key=lambda t: (
            customers.get(t.get("customer_id"), ""),
            t.get("kind", ""),
            str(t.get("due_on", "")),
            str(t.get("origin", "")),
        ),
    ):
        base = f"T:{customers.get(t.get('customer_id'), t.get('customer_id'))}:{t.get('kind')}:{t.get('due_on')}"
        seen[base] += 1
        keys[str(t["_id"])] = f"{base}#{seen[base]}"
    for c in cluster.db()[cluster.database("complaints")]["complaints"].find():
        keys[str(c["_id"])] = f"K:{customers.get(c.get('customer_id'), c.get('customer_id'))}:{c.get('category')}"
    return keys


class Normaliser:
    def __init__(self, ids: dict[str, str]) -> None:
        self.ids = ids
        # Longest first, so an id inside another string (e.g. "complaint:<case id>") maps whole.
        self._pattern = re.compile("|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))) if ids else None

    def text(self, s: str) -> str:
        if self._pattern is not None:
            s = self._pattern.sub(lambda m: self.ids[m.group(0)], s)
        return _RANDOM_ID.sub("<id>", s)

    def value(self, v: Any) -> Any:
        from bson import ObjectId

        if isinstance(v, dict):
            return {
                self.text(str(k)): self.value(x)
                for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))
                if str(k) not in _DROPPED_KEYS
                and not isinstance(x, datetime)
                and not (isinstance(x, str) and _ISO_INSTANT.match(x))
            }
        if isinstance(v, list | tuple):
            items = [self.value(x) for x in v if not isinstance(x, datetime)]
            return items
        if isinstance(v, ObjectId):
            return self.text(str(v))
        if isinstance(v, bytes):
            return "<bytes>"
        if isinstance(v, str):
            if v.startswith(_SEALED):
                return "<sealed>"
            return "<instant>" if _ISO_INSTANT.match(v) else self.text(v)
        return v

    def key(self, v: Any) -> str:
        return json.dumps(self.value(v), sort_keys=True, default=str, ensure_ascii=False)


@dataclass
class Published:
    """One message read back from a topic."""

    topic: str
    partition: int
    offset: int
    id: str
    type: str
    subject: str
    seq: int | None
    content: str  # the normalised data (ids mapped, instants dropped)
    headers: dict[str, str]
    # An owner change that came before or after the event that made a task: two topics, no order between them.
    order_of_topics: bool = False


# Tiering's owner change and profile's event that makes a task travel on two topics, with no order between them:
# a task is made for the new owner, or for the old one and then handed over. The task's final assignee is
# compared (its document); who it was first made for, and the hand-over that followed, are not. The same holds
# for the tier a task was made under: a tier change may come before or after it (the task's document follows).
TASK_CREATED = "crm.engagement.task.created.v1"
TASK_REASSIGNED = "crm.engagement.task.reassigned.v1"


def _without_owner_race(collection: str, doc: dict[str, Any]) -> dict[str, Any]:
    if collection == "engagement.tasks" and isinstance(doc.get("history"), list):
        doc = {
            **doc,
            "history": [h for h in doc["history"] if not (isinstance(h, dict) and h.get("reason") == "owner_change")],
        }
    return doc


async def read_all(cluster: Cluster) -> list[Any]:
    """Every record of every topic of the cluster, from the beginning to the end."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        bootstrap_servers=cluster.kafka.bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        tps = await _partitions(consumer, [cluster.topic(t) for t in ALL_TOPICS])
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        position = {tp: 0 for tp in tps}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300, max_records=5000)
            for tp, msgs in batch.items():
                records.extend(msgs)
                position[tp] = msgs[-1].offset + 1
            if all(consumer.highwater(tp) is not None and position[tp] >= consumer.highwater(tp) for tp in tps):
                break
        else:
            raise AssertionError("topics not read to their end within 120 s")
    finally:
        await consumer.stop()
    return records


@dataclass
class Snapshot:
    state: dict[str, list[str]]  # "service.collection" -> sorted normalised documents
    events: list[Published]
    dead_letters: list[dict[str, Any]]
    customers: int
    unreadable: int = 0  # messages on an event topic that are not events (poison)

    def event_contents(self) -> Counter[str]:
        """Each distinct event id once: (topic, type, subject, content)."""
        first: dict[str, Published] = {}
        for e in self.events:
            if not e.order_of_topics:
                first.setdefault(e.id, e)
        return Counter(f"{e.topic}|{e.type}|{e.subject}|{e.content}" for e in first.values())


async def snapshot(cluster: Cluster) -> Snapshot:
    """The final state of every service and every published event, once the system is quiet."""
    await wait_quiet(cluster)
    customers = await asyncio.to_thread(customer_keys, cluster)
    ids = await asyncio.to_thread(_id_keys, cluster, customers)
    norm = Normaliser(ids)

    def read_state() -> dict[str, list[str]]:
        out = {}
        for service, collections in STATE.items():
            db = cluster.db()[cluster.database(service)]
            for name in collections:
                out[f"{service}.{name}"] = sorted(
                    norm.key(_without_owner_race(f"{service}.{name}", d)) for d in db[name].find()
                )
        return out

    state = await asyncio.to_thread(read_state)
    events: list[Published] = []
    letters: list[dict[str, Any]] = []
    unreadable = 0
    for r in await read_all(cluster):
        topic = r.topic[len(cluster.prefix) :]
        headers = {k: (v.decode(errors="replace") if isinstance(v, bytes) else str(v)) for k, v in (r.headers or [])}
        if topic.endswith(".dlt"):
            group = headers.get("dlt-consumer-group", "")
            letters.append(
                {"topic": topic, "error": headers.get("dlt-error", ""), "group": group.removeprefix(cluster.prefix)}
            )
            continue
        if topic == COREBANK_BALANCES:
            continue  # the workload's own input
        try:
            event = json.loads(r.value)
            etype, subject, eid, data = event["type"], event["subject"], event["id"], event.get("data")
        except (ValueError, KeyError, TypeError):
            unreadable += 1  # a poison message itself (the fault put it there): its dead letters are what count
            continue
        seq = headers.get("ce_sequence")
        race = etype == TASK_REASSIGNED and isinstance(data, dict) and data.get("reason") == "owner_change"
        if etype == TASK_CREATED and isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in ("assignee", "tier")}
        events.append(
            Published(
                topic,
                r.partition,
                r.offset,
                str(eid),
                etype,
                norm.text(str(subject)),
                int(seq) if seq and seq.isdigit() else None,
                norm.key(data),
                headers,
                race,
            )
        )
    events.sort(key=lambda e: (e.topic, e.partition, e.offset))
    return Snapshot(state=state, events=events, dead_letters=letters, customers=len(customers), unreadable=unreadable)


# ---------------------------------------------------------------------------------------------
# compare


@dataclass
class Verdict:
    events: int
    lost: int
    doubled: int
    out_of_order: int
    examples: list[str]

    def ok(self) -> bool:
        return self.lost == 0 and self.doubled == 0 and self.out_of_order == 0

    def report(self) -> str:
        head = f"lost {self.lost}, doubled {self.doubled}, out of order {self.out_of_order} (of {self.events} events)"
        return head + "".join(f"\n  - {e[:400]}" for e in self.examples)


def out_of_order(events: list[Published], *, from_first_seen: bool = False) -> tuple[int, list[str]]:
    """Per topic and customer, in partition order: an event first seen after one with a higher ce_sequence, one
    number used by two ids, or a gap in 1, 2, …. A re-sent event (same id again) is neither. `from_first_seen`:
    the topic lost what it held (a broker back empty), so numbers count from the lowest still on it."""
    bad, examples = 0, []
    streams: dict[tuple[str, str], list[Published]] = defaultdict(list)
    for e in events:
        if e.seq is not None:
            streams[(e.topic, e.subject)].append(e)
    for (topic, subject), evs in streams.items():
        ids_by_seq: dict[int, str] = {}
        high = 0
        for e in evs:
            known = ids_by_seq.get(e.seq)
            if known is not None and known != e.id:
                bad += 1
                examples.append(f"out of order: {topic} {subject} sequence {e.seq} used by two events ({e.type})")
            elif known is None:
                if e.seq < high:
                    bad += 1
                    examples.append(f"out of order: {topic} {subject} sequence {e.seq} after {high} ({e.type})")
                ids_by_seq[e.seq] = e.id
                high = max(high, e.seq)
        low = min(ids_by_seq, default=1) if from_first_seen else 1
        missing = sorted(set(range(low, high + 1)) - set(ids_by_seq))
        if missing:
            bad += len(missing)
            examples.append(f"gap: {topic} {subject} sequence {missing[:5]} never published")
    return bad, examples


def compare(expected: Snapshot, actual: Snapshot, *, events: bool = True) -> Verdict:
    """Lost: an effect of the fault-free run missing (a document or an event); doubled: an effect that run did
    not have (a document twice or changed, the same event content under a second id); out of order: see above."""
    lost = doubled = 0
    examples: list[str] = []
    for name in sorted(set(expected.state) | set(actual.state)):
        want, got = Counter(expected.state.get(name, [])), Counter(actual.state.get(name, []))
        missing, extra = want - got, got - want
        lost += sum(missing.values())
        doubled += sum(extra.values())
        examples += [f"{name} missing: {doc}" for doc in list(missing)[:2]]
        examples += [f"{name} unexpected: {doc}" for doc in list(extra)[:2]]
    # After a broker that came back empty, only the state compares: the events published before are gone.
    want_events = expected.event_contents() if events else Counter()
    got_events = actual.event_contents() if events else Counter()
    missing, extra = want_events - got_events, got_events - want_events
    lost += sum(missing.values())
    doubled += sum(extra.values())
    examples += [f"event missing: {e}" for e in list(missing)[:3]]
    examples += [f"event unexpected (or under a second id): {e}" for e in list(extra)[:3]]
    disorder, order_examples = out_of_order(actual.events, from_first_seen=not events)
    return Verdict(
        events=len({e.id for e in actual.events}),
        lost=lost,
        doubled=doubled,
        out_of_order=disorder,
        examples=examples[:12] + order_examples[:3],
    )
