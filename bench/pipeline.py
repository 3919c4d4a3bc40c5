"""How fast balances flow through the CRM, and how fast a policy change re-tiers customers.

    python bench/pipeline.py                    (make bench-pipeline BENCH_ARGS="...")
    python bench/pipeline.py --quick            a smoke run of about a minute

Starts its own embedded stack (Tansu + SecantusDB on free ports, data in a temporary directory) and the
services as their own processes (uvicorn, as `crm run` does), then measures:

A. End to end. N balance snapshots on `corebank.balances` → profile (archive, outbox) → assets-changed on
   `crm.profile.customers` → tiering. Set-up, not timed: C customers registered through the profile's
   `POST /v1/customers/batch` (the staff directory put into tiering first), until tiering has applied every
   registration. Timed: the N snapshots are produced with one aiokafka producer as fast as it goes; the clock
   stops when tiering's `crm_messages_consumed_total{group="crm-tiering.profile",outcome="applied"}` has grown
   by one per assets-changed event the snapshots caused (one per snapshot: a customer's consecutive snapshots
   are days apart and differ in amount, and a customer's next snapshot is more than one poll further on in its
   partition). Database round trips are the services' own `crm_db_commands_total` (every command sent to
   MongoDB). Baseline in the same run, on the same servers: a bare aiokafka consumer that reads the same N
   snapshots from a fresh topic in polls of at most 500 and writes each poll with one `bulk_write` of upserts,
   committing offsets after each.
B. Re-tiering. For each size S, a fresh tiering (own database, own topic prefix) is loaded through its real
   consumer with S registered and S assets-changed events (amounts spread over every tier), then head office
   lowers the tier bounds (`PUT /v1/policy`) and the rollout is followed until done: customers/s =
   total / (finished_at - started_at). Linear if the time per customer stays within ±25% of the smallest size's.
   Optionally the rollout chunk size (ROLLOUT_CHUNK_SIZE) is compared on the smallest size's data.

Exit code 0 when every phase finished, 1 when something did not (a timeout, lost events, a service that
stopped, dead letters).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from crm_cli.demo_data import make_balance, make_branches, make_faker, make_staff
from crm_cli.stack import EmbeddedKafka, EmbeddedMongo, ServiceProcess, StackError, free_port

console = Console(highlight=False, width=int(os.environ.get("COLUMNS", "140")))
ADMIN = ("S-ADMIN", "admin", None)
HEAD_OFFICE = ("S-HO01", "head_office", None)
PROFILE_GROUP = "crm-tiering.profile"  # tiering's consumer of crm.profile.customers
BALANCES_GROUP = "crm-profile.balances"  # profile's consumer of corebank.balances
FEEDBACK_GROUP = "crm-profile.tiering"  # profile's consumer of crm.tiering.customers
TARGET_RATIO = 0.5
TARGET_ROUND_TRIPS = 0.1
LINEAR_TOLERANCE = 0.25
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchFailed(RuntimeError):
    """A phase did not finish: the figures would mean nothing."""


# --------------------------------------------------------------------------------------------
# Prometheus text, processes' CPU


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass
class Metrics:
    samples: list[tuple[str, dict[str, str], float]]

    @classmethod
    def parse(cls, text: str) -> Metrics:
        out = []
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = _SAMPLE.match(line)
            if m:
                out.append((m.group(1), dict(_LABEL.findall(m.group(2) or "")), float(m.group(3))))
        return cls(out)

    def sum(self, name: str, **match: str) -> float:
        """Sum of `name` over the samples whose labels match; a `group` matches with or without a topic prefix."""
        total = 0.0
        for n, labels, value in self.samples:
            if n != name:
                continue
            ok = True
            for k, v in match.items():
                have = labels.get(k, "")
                if not (have == v or (k in ("group", "topic") and have.endswith("." + v))):
                    ok = False
                    break
            if ok:
                total += value
        return total

    def by_label(self, name: str, label: str) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for n, labels, value in self.samples:
            if n == name:
                out[labels.get(label, "")] += value
        return dict(out)


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


def tree_cpu_seconds(pid: int | None) -> float:
    """user + system CPU seconds of a process and its descendants (0 when gone)."""
    if pid is None:
        return 0.0
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                raw = f.read().decode(errors="replace")
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2 :].split()
        # fields after the command: state ppid ... utime(12th) stime(13th) counted from state = index 0
        stats[int(entry)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / CLK_TCK)
    children: dict[int, list[int]] = defaultdict(list)
    for p, (ppid, _) in stats.items():
        children[ppid].append(p)
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            total += stats[p][1]
        todo += children.get(p, [])
    return total


class CpuMeter:
    """CPU seconds per named process over a window."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self.start: dict[str, float] = {}
        self.t0 = 0.0

    def _read(self) -> dict[str, float]:
        out = {name: tree_cpu_seconds(pid) for name, pid in self.pids.items()}
        t = os.times()
        out["bench (this process)"] = t.user + t.system
        return out

    def begin(self) -> None:
        self.start, self.t0 = self._read(), time.perf_counter()

    def end(self) -> dict[str, tuple[float, float]]:
        """name -> (CPU seconds, share of one core)."""
        now, wall = self._read(), time.perf_counter() - self.t0
        return {
            k: (now[k] - self.start.get(k, 0.0), (now[k] - self.start.get(k, 0.0)) / wall if wall else 0.0) for k in now
        }


# --------------------------------------------------------------------------------------------
# the stack


@dataclass
class Stack:
    workdir: Path
    kafka: EmbeddedKafka
    mongo: EmbeddedMongo
    jwt_secret: str
    data_key: str
    lookup_key: str
    partitions: int
    staff: list[dict[str, Any]] = field(default_factory=list)

    def service_env(self, database: str, **extra: str) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            "KAFKA_IDEMPOTENT_PRODUCER": "false",
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_TOPIC_PARTITIONS": str(self.partitions),
            "MONGODB_URI": self.mongo.uri,
            "MONGODB_DATABASE": database,
            "CRM_JWT_SECRET": self.jwt_secret,
            "CRM_DATA_KEY": self.data_key,
            "CRM_LOOKUP_KEY": self.lookup_key,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "WARNING",
            **extra,
        }

    def start_service(self, stack: ExitStack, name: str, database: str, log_name: str, **extra: str) -> ServiceProcess:
        factory, port_var = {
            "profile": ("crm_profile.main:create_app", "PROFILE_PORT"),
            "tiering": ("crm_tiering.main:create_app", "TIERING_PORT"),
        }[name]
        svc = ServiceProcess(
            name,
            factory,
            port_var,
            free_port(),
            self.service_env(database, **extra),
            log_path=self.workdir / f"{log_name}.log",
        )
        t0 = time.perf_counter()
        stack.enter_context(svc)
        console.print(
            f"  {name} ready on {svc.base_url} in {time.perf_counter() - t0:.1f}s "
            f"(database {database}{', ' + ', '.join(f'{k}={v}' for k, v in extra.items()) if extra else ''})"
        )
        return svc


def token(secret: str, who: tuple[str, str, str | None]) -> str:
    from crm_kit.auth import issue_token

    return issue_token(secret=secret, staff_id=who[0], role=who[1], branch=who[2])


async def fetch_metrics(client: httpx.AsyncClient, svc: ServiceProcess) -> Metrics:
    r = await client.get(f"{svc.base_url}/metrics", timeout=10)
    r.raise_for_status()
    return Metrics.parse(r.text)


def check_alive(*services: ServiceProcess) -> None:
    for svc in services:
        if not svc.is_running():
            raise BenchFailed(
                f"the {svc.name} service stopped (exit code {svc.returncode}); last lines of its log:\n{svc.log_tail()}"
            )


async def put_staff(client: httpx.AsyncClient, tiering: ServiceProcess, stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {token(stack.jwt_secret, ADMIN)}"}

    async def put(member: dict[str, Any]) -> None:
        r = await client.put(
            f"{tiering.base_url}/v1/staff/{member['staff_id']}",
            headers=headers,
            json={"name": member["name"], "branch": member["branch"], "roles": [member["role"]], "active": True},
        )
        if r.status_code >= 300:
            raise BenchFailed(f"PUT /v1/staff/{member['staff_id']} answered {r.status_code}: {r.text[:300]}")

    await asyncio.gather(*(put(m) for m in stack.staff))


async def produce(
    bootstrap: str,
    topic: str,
    messages: list[tuple[bytes, bytes, list[tuple[str, bytes]] | None]],
) -> float:
    """Send every (key, value, headers) and wait for all acks; returns the seconds it took."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=False,
        acks="all",
        linger_ms=5,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    try:
        t0 = time.perf_counter()
        futures = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in messages]
        await asyncio.gather(*futures)
        return time.perf_counter() - t0
    finally:
        await producer.stop()


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def db_top(uri: str) -> dict[str, tuple[int, int]]:
    """The database server's `top`: namespace -> (microseconds, operations) so far (commands that name no
    collection, such as commitTransaction, are not in it)."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        totals = (await client.admin.command("top"))["totals"]
    except Exception:  # noqa: BLE001 - a server without `top`: no breakdown
        return {}
    finally:
        await client.close()
    return {ns: (v["total"]["time"], v["total"]["count"]) for ns, v in totals.items() if isinstance(v, dict)}


def top_delta(after: dict[str, tuple[int, int]], before: dict[str, tuple[int, int]]) -> dict[str, dict[str, float]]:
    out = {}
    for ns, (us, n) in after.items():
        us0, n0 = before.get(ns, (0, 0))
        if n - n0 > 0:
            out[ns] = {"ms": (us - us0) / 1000, "ops": n - n0}
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["ms"]))


def print_top(title: str, top: dict[str, dict[str, float]], per: int, per_what: str, limit: int = 12) -> None:
    if not top:
        return
    total = sum(v["ms"] for v in top.values())
    t = Table(title=title)
    for col in ("collection", "operations", "ms in the server", "ms/op", f"ms per {per_what}", "share"):
        t.add_column(col, justify="right" if col != "collection" else "left")
    for ns, v in list(top.items())[:limit]:
        t.add_row(
            ns,
            f"{v['ops']:,.0f}",
            f"{v['ms']:,.0f}",
            f"{v['ms'] / v['ops']:.1f}",
            f"{v['ms'] / per:.2f}",
            f"{v['ms'] / total:.0%}" if total else "",
        )
    console.print(t)


# --------------------------------------------------------------------------------------------
# A. end to end


def make_customers(n: int, seed: int = 20261124) -> list[dict[str, Any]]:
    """`n` registrable customers (API shape) with unique ID documents and core-banking numbers CB0000000000…"""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from import_rows import make_rows  # the import benchmark's rows: valid IDs, unique numbers

    from crm_cli.importer import to_payload

    rows, _ = make_rows(n, seed=seed, invalid_every=0)
    return [to_payload(r) for r in rows]


def _split(aum_cents: int, rng: random.Random) -> dict[str, str]:
    deposits = aum_cents * rng.randint(20, 100) // 100
    rest = aum_cents - deposits
    wealth = rest * rng.randint(0, 100) // 100
    cents = {"deposit": deposits, "wealth": wealth, "fund": rest - wealth}  # crm_contracts.corebank.ProductType
    return {k: format(Decimal(v).scaleb(-2), "f") for k, v in cents.items()}


def make_snapshots(core_nos: list[str], n: int, seed: int = 7) -> list[tuple[bytes, bytes, None]]:
    """`n` snapshots, day by day (every customer's day 1, then every customer's day 2 …, ending today). A
    customer's first amount is spread over every tier; each next day moves it by up to ±5%, never by 0."""
    rng = random.Random(seed)
    days = math.ceil(n / len(core_nos))
    today = date.today()
    last: dict[str, int] = {}
    out: list[tuple[bytes, bytes, None]] = []
    for d in range(days):
        as_of = (today - timedelta(days=days - 1 - d)).isoformat()
        for core_no in core_nos:
            if len(out) == n:
                break
            if core_no not in last:
                cents = int(Decimal(make_balance(rng, core_no, as_of)["aum"]) * 100)
            else:
                prev = last[core_no]
                cents = max(1, prev + int(prev * rng.uniform(-0.05, 0.05)))
                if cents == prev:
                    cents += 1
            last[core_no] = cents
            body = {
                "core_customer_no": core_no,
                "as_of": as_of,
                "aum": format(Decimal(cents).scaleb(-2), "f"),
                "breakdown": _split(cents, rng),
            }
            out.append((core_no.encode(), json.dumps(body, separators=(",", ":")).encode(), None))
    return out


async def register_customers(
    client: httpx.AsyncClient,
    profile: ServiceProcess,
    stack: Stack,
    customers: list[dict[str, Any]],
    *,
    chunk: int = 500,
    in_flight: int = 3,
) -> int:
    headers = {"Authorization": f"Bearer {token(stack.jwt_secret, ADMIN)}"}
    slots = asyncio.Semaphore(in_flight)
    created = 0

    async def send(part: list[dict[str, Any]]) -> None:
        nonlocal created
        async with slots:
            r = await client.post(
                f"{profile.base_url}/v1/customers/batch", headers=headers, json={"customers": part}, timeout=600
            )
        if r.status_code != 200:
            raise BenchFailed(f"POST /v1/customers/batch answered {r.status_code}: {r.text[:300]}")
        results = r.json()["results"]
        bad = [x for x in results if x["status"] == "rejected"]
        if bad:
            raise BenchFailed(f"registration rejected {len(bad)} rows, e.g. {bad[0]}")
        created += sum(1 for x in results if x["status"] == "created")

    await asyncio.gather(*(send(customers[i : i + chunk]) for i in range(0, len(customers), chunk)))
    return created


STALL_SECONDS = 600.0  # --stall-timeout


async def wait_until(
    what: str,
    check,
    *,
    timeout: float,
    services: tuple[ServiceProcess, ...],  # type: ignore[no-untyped-def]
    interval: float = 0.1,
    report_every: float = 10.0,
    progress=None,
    level=None,
) -> float:  # type: ignore[no-untyped-def]
    """Poll `check()` (async, truthy when done) until done; returns the time.perf_counter() when it was seen.
    Fails after `timeout` seconds, or when `level()` (async, a number that grows with progress) has not grown
    for STALL_SECONDS."""
    start = time.perf_counter()
    deadline = start + timeout
    next_report = start + report_every
    last_level, last_move = None, start
    while True:
        if await check():
            return time.perf_counter()
        check_alive(*services)
        now = time.perf_counter()
        if level is not None:
            value = await level()
            if value != last_level:
                last_level, last_move = value, now
            elif now - last_move > STALL_SECONDS:
                state = f" ({await progress()})" if progress else ""
                raise BenchFailed(f"no progress for {STALL_SECONDS:.0f}s waiting for {what}{state}")
        if now > deadline:
            state = f" ({await progress()})" if progress else ""
            raise BenchFailed(f"timed out after {timeout:.0f}s waiting for {what}{state}")
        if progress and now > next_report:
            console.print(f"    … {await progress()}")
            next_report = now + report_every
        await asyncio.sleep(interval)


async def unsent(mongo_uri: str, database: str) -> int:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri)
    try:
        return await client[database]["outbox"].count_documents({"sent_at": None})
    finally:
        await client.close()


@dataclass
class Snapshot:
    profile: Metrics
    tiering: Metrics

    def db(self) -> dict[str, dict[str, float]]:
        return {
            "profile": self.profile.by_label("crm_db_commands_total", "command"),
            "tiering": self.tiering.by_label("crm_db_commands_total", "command"),
        }


async def snapshot(client: httpx.AsyncClient, profile: ServiceProcess, tiering: ServiceProcess) -> Snapshot:
    p, t = await asyncio.gather(fetch_metrics(client, profile), fetch_metrics(client, tiering))
    return Snapshot(p, t)


def db_delta(after: Snapshot, before: Snapshot) -> dict[str, dict[str, float]]:
    a, b = after.db(), before.db()
    return {svc: delta(a[svc], b[svc]) for svc in a}


async def run_pipeline(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    n, c = args.snapshots, args.customers
    result: dict[str, Any] = {"snapshots": n, "customers": c, "partitions": stack.partitions}
    console.rule(f"A. end to end: {n:,} snapshots of {c:,} customers")
    console.print(f"generating {c:,} customers and {n:,} snapshots …")
    t0 = time.perf_counter()
    customers = make_customers(c)
    core_nos = [x["core_customer_no"] for x in customers]
    snapshots = make_snapshots(core_nos, n)
    per_partition_day = c / stack.partitions
    console.print(
        f"  done in {time.perf_counter() - t0:.1f}s; {math.ceil(n / c)} days, ~{per_partition_day:,.0f} "
        "customers per partition per day"
    )
    if per_partition_day < 500:
        console.print(
            "  [yellow]fewer than 500 customers per partition and day: a poll of 500 may hold two snapshots of "
            "one customer, which the profile folds into one event (the run then counts the events it "
            "caused)[/]"
        )

    with ExitStack() as services:
        profile = stack.start_service(services, "profile", "crm_profile", "profile")
        tiering = stack.start_service(services, "tiering", "crm_tiering", "tiering")
        procs = (profile, tiering)
        async with httpx.AsyncClient() as client:
            await put_staff(client, tiering, stack)
            console.print(f"registering {c:,} customers through POST /v1/customers/batch …")
            t0 = time.perf_counter()
            base = await fetch_metrics(client, tiering)
            created = await register_customers(client, profile, stack, customers)
            if created != c:
                raise BenchFailed(f"{created:,} of {c:,} customers were created (a stale database?)")
            reg_seconds = time.perf_counter() - t0

            async def applied_by_tiering() -> float:
                m = await fetch_metrics(client, tiering)
                return m.sum("crm_messages_consumed_total", group=PROFILE_GROUP, outcome="applied") - base.sum(
                    "crm_messages_consumed_total", group=PROFILE_GROUP, outcome="applied"
                )

            async def registered() -> bool:
                return await applied_by_tiering() >= c

            async def reg_progress() -> str:
                return f"tiering applied {await applied_by_tiering():,.0f} of {c:,} registrations"

            await wait_until(
                "tiering to apply every registration",
                registered,
                timeout=args.timeout,
                services=procs,
                progress=reg_progress,
                level=applied_by_tiering,
            )
            console.print(
                f"  registered in {reg_seconds:.1f}s ({c / reg_seconds:,.0f}/s); tiering had applied them all "
                f"{time.perf_counter() - t0 - reg_seconds:.1f}s later"
            )
            result["registration_seconds"] = reg_seconds
            await asyncio.sleep(1.0)  # let the relays and the consumers go idle

            # ---- timed
            before = await snapshot(client, profile, tiering)
            cpu = CpuMeter(
                {
                    "mongodb (SecantusDB)": stack.mongo.pid,
                    "kafka (Tansu)": stack.kafka.pid,
                    "profile": profile.pid,
                    "tiering": tiering.pid,
                }
            )
            applied0 = before.tiering.sum("crm_messages_consumed_total", group=PROFILE_GROUP, outcome="applied")
            balances0 = before.profile.sum("crm_messages_consumed_total", group=BALANCES_GROUP)
            published0 = before.profile.sum("crm_outbox_published_total")
            console.print(f"producing {n:,} snapshots to corebank.balances …")
            top0 = await db_top(stack.mongo.uri)
            cpu.begin()
            t_start = time.perf_counter()
            produce_seconds = await produce(stack.kafka.bootstrap, "corebank.balances", snapshots)
            console.print(f"  produced in {produce_seconds:.2f}s ({n / produce_seconds:,.0f}/s); waiting for tiering …")
            last: dict[str, float] = {}

            async def state() -> dict[str, float]:
                s = await snapshot(client, profile, tiering)
                last.update(
                    applied=s.tiering.sum("crm_messages_consumed_total", group=PROFILE_GROUP, outcome="applied")
                    - applied0,
                    balances=s.profile.sum("crm_messages_consumed_total", group=BALANCES_GROUP) - balances0,
                    published=s.profile.sum("crm_outbox_published_total") - published0,
                )
                return last

            async def done() -> bool:
                st = await state()
                if st["applied"] >= n:
                    return True
                if st["balances"] >= n and st["published"] <= st["applied"]:
                    # Every snapshot is in; fewer events than snapshots came out (two of one customer in one poll).
                    return (
                        await unsent(stack.mongo.uri, "crm_profile") == 0
                        and (await state())["applied"] >= st["published"]
                    )
                return False

            async def progress() -> str:
                st = await state()
                el = time.perf_counter() - t_start
                return (
                    f"{el:5.0f}s: profile consumed {st['balances']:,.0f} snapshots, published {st['published']:,.0f} "
                    f"events; tiering applied {st['applied']:,.0f} ({st['applied'] / el:,.0f}/s)"
                )

            async def moved() -> float:
                return last.get("applied", 0.0) + last.get("balances", 0.0)

            t_done = await wait_until(
                "tiering to apply every assets-changed event",
                done,
                timeout=args.timeout,
                services=procs,
                progress=progress,
                interval=0.1,
                level=moved,
            )
            cpu_use = cpu.end()
            seconds = t_done - t_start
            after = await snapshot(client, profile, tiering)
            top = top_delta(await db_top(stack.mongo.uri), top0)
            events = last["applied"]
            console.print(f"  done in {seconds:.1f}s: {events:,.0f} events applied by tiering")

            # ---- the tiering → profile feedback (owner-assigned, tier-changed …), not part of the clock
            t_fb = time.perf_counter()
            tier_pub0 = before.tiering.sum("crm_outbox_published_total")
            fb0 = before.profile.sum("crm_messages_consumed_total", group=FEEDBACK_GROUP)

            async def settled() -> bool:
                s = await snapshot(client, profile, tiering)
                pub = s.tiering.sum("crm_outbox_published_total") - tier_pub0
                got = s.profile.sum("crm_messages_consumed_total", group=FEEDBACK_GROUP) - fb0
                return got >= pub and await unsent(stack.mongo.uri, "crm_tiering") == 0

            with contextlib.suppress(BenchFailed):
                await wait_until(
                    "profile to apply tiering's events",
                    settled,
                    timeout=min(args.timeout, 300),
                    services=procs,
                    interval=0.25,
                )
            settled_after = await snapshot(client, profile, tiering)
            console.print(f"  tiering's own events reached the profile {time.perf_counter() - t_fb:.1f}s later")

            dead = {
                name: s.sum("crm_dead_letters_total")
                for name, s in (("profile", settled_after.profile), ("tiering", settled_after.tiering))
            }
            dead0 = {
                name: s.sum("crm_dead_letters_total")
                for name, s in (("profile", before.profile), ("tiering", before.tiering))
            }
            dead = {k: v - dead0[k] for k, v in dead.items()}

        win = db_delta(after, before)
        total_win = {svc: sum(v.values()) for svc, v in win.items()}
        full = db_delta(settled_after, before)
        total_full = {svc: sum(v.values()) for svc, v in full.items()}
        feedback_events = settled_after.tiering.sum("crm_outbox_published_total") - tier_pub0
        result.update(
            {
                "events": events,
                "produce_seconds": produce_seconds,
                "seconds": seconds,
                "events_per_second": n / seconds,
                "round_trips": total_win,
                "round_trips_per_event": sum(total_win.values()) / n,
                "round_trips_by_command": win,
                "round_trips_with_feedback": total_full,
                "round_trips_per_event_with_feedback": sum(total_full.values()) / n,
                "tiering_events_published": feedback_events,
                "cpu": {k: {"seconds": v[0], "core_share": v[1]} for k, v in cpu_use.items()},
                "dead_letters": dead,
                "db_top": top,
            }
        )
        if events < n:
            result["folded"] = n - events
        if any(dead.values()):
            raise BenchFailed(f"dead letters during the run: {dead} (see the services' logs in {stack.workdir})")

    # ---- baseline
    console.print("baseline: a bare aiokafka consumer + one bulk_write per poll …")
    result["baseline"] = await run_baseline(stack, snapshots)
    return result


async def run_baseline(stack: Stack, snapshots: list[tuple[bytes, bytes, None]]) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer
    from bson.decimal128 import Decimal128
    from pymongo import AsyncMongoClient, UpdateOne, monitoring

    n = len(snapshots)
    topic = f"bench.baseline.{uuid.uuid4().hex[:8]}"
    await create_topic(stack.kafka.bootstrap, topic, stack.partitions)
    await produce(stack.kafka.bootstrap, topic, snapshots)

    commands = 0

    class Count(monitoring.CommandListener):
        def started(self, _event: monitoring.CommandStartedEvent) -> None:
            nonlocal commands
            commands += 1

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            pass

    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        stack.mongo.uri, tz_aware=True, event_listeners=[Count()]
    )
    coll = mongo["bench_baseline"]["balances"]
    await coll.find_one({})  # connect before the clock
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka.bootstrap,
        group_id=f"{topic}.group",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        max_poll_records=500,
    )
    await consumer.start()
    cpu = CpuMeter({"mongodb (SecantusDB)": stack.mongo.pid, "kafka (Tansu)": stack.kafka.pid})
    try:
        consumed, polls, t0 = 0, 0, None
        commands_at_start = commands
        deadline = time.perf_counter() + 300
        while consumed < n:
            if time.perf_counter() > deadline:
                raise BenchFailed(f"baseline consumer read {consumed:,} of {n:,} in 300s")
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            records = [r for rs in batch.values() for r in rs]
            if not records:
                continue
            if t0 is None:
                top0 = await db_top(stack.mongo.uri)
                t0 = time.perf_counter()
                cpu.begin()
                commands_at_start = commands
            now = datetime.now(UTC)
            ops = []
            for r in records:
                doc = json.loads(r.value)
                ops.append(
                    UpdateOne(
                        {"_id": doc["core_customer_no"]},
                        {
                            "$set": {
                                "as_of": doc["as_of"],
                                "aum": Decimal128(doc["aum"]),
                                "breakdown": {k: Decimal128(v) for k, v in doc["breakdown"].items()},
                                "updated_at": now,
                            }
                        },
                        upsert=True,
                    )
                )
            await coll.bulk_write(ops, ordered=False)
            await consumer.commit()
            consumed += len(records)
            polls += 1
        assert t0 is not None
        seconds = time.perf_counter() - t0
        cpu_use = cpu.end()
        top = top_delta(await db_top(stack.mongo.uri), top0)
    finally:
        await consumer.stop()
        await mongo.close()
    console.print(f"  {n:,} in {seconds:.2f}s ({n / seconds:,.0f}/s) in {polls} polls")
    return {
        "seconds": seconds,
        "events_per_second": n / seconds,
        "polls": polls,
        "round_trips_per_event": (commands - commands_at_start) / n,
        "db_top": top,
        "cpu": {k: {"seconds": v[0], "core_share": v[1]} for k, v in cpu_use.items()},
    }


def print_pipeline(r: dict[str, Any]) -> None:
    b = r["baseline"]
    ratio = r["events_per_second"] / b["events_per_second"]
    rt = r["round_trips_per_event"]
    table = Table(
        title=f"A. {r['snapshots']:,} snapshots of {r['customers']:,} customers through profile → tiering "
        f"({r['partitions']} partitions)"
    )
    for col in ("", "seconds", "events/s", "DB round trips/event", "target"):
        table.add_column(col, justify="right")
    table.add_row(
        "produce (one aiokafka producer)",
        f"{r['produce_seconds']:.2f}",
        f"{r['snapshots'] / r['produce_seconds']:,.0f}",
        "",
        "",
    )
    table.add_row(
        "pipeline: first produce → tiering applied the last event",
        f"{r['seconds']:.1f}",
        f"{r['events_per_second']:,.0f}",
        f"{rt:.3f}",
        f"≤ {TARGET_ROUND_TRIPS}: {'met' if rt <= TARGET_ROUND_TRIPS else 'NOT met'}",
    )
    table.add_row(
        "baseline: bare consumer, one bulk_write per poll",
        f"{b['seconds']:.2f}",
        f"{b['events_per_second']:,.0f}",
        f"{b['round_trips_per_event']:.3f}",
        "",
    )
    table.add_row(
        "ratio pipeline / baseline",
        "",
        f"{ratio:.3f}",
        "",
        f"≥ {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'NOT met'}",
    )
    console.print(table)
    split = Table(title="database round trips in the timed window, per service and command")
    split.add_column("service")
    split.add_column("round trips", justify="right")
    split.add_column("per event", justify="right")
    split.add_column("commands")
    for svc, total in r["round_trips"].items():
        cmds = sorted(r["round_trips_by_command"][svc].items(), key=lambda kv: -kv[1])
        split.add_row(
            svc, f"{total:,.0f}", f"{total / r['snapshots']:.3f}", ", ".join(f"{k} {v:,.0f}" for k, v in cmds)
        )
    console.print(split)
    console.print(
        f"tiering published {r['tiering_events_published']:,.0f} events of its own (owner-assigned, tier-changed "
        f"…), which the profile consumes; counted until that settled: "
        f"{r['round_trips_per_event_with_feedback']:.3f} round trips per snapshot "
        f"({', '.join(f'{k} {v:,.0f}' for k, v in r['round_trips_with_feedback'].items())})"
    )
    if r.get("folded"):
        console.print(
            f"[yellow]{r['folded']:,} snapshots were folded with another of the same customer in one poll "
            "(no event of their own)[/]"
        )
    cpu = Table(title=f"CPU in the timed window (share of one core; the machine has {os.cpu_count()})")
    cpu.add_column("process")
    cpu.add_column("pipeline", justify="right")
    cpu.add_column("baseline", justify="right")
    for name, v in r["cpu"].items():
        bl = b["cpu"].get(name)
        cpu.add_row(
            name,
            f"{v['seconds']:.1f}s = {v['core_share']:.0%}",
            f"{bl['seconds']:.1f}s = {bl['core_share']:.0%}" if bl else "",
        )
    console.print(cpu)
    print_top(
        "where the database server spent its time in the pipeline's window (its `top`, per collection)",
        r["db_top"],
        r["snapshots"],
        "snapshot",
    )
    print_top("… and in the baseline's", b["db_top"], r["snapshots"], "snapshot", limit=3)


# --------------------------------------------------------------------------------------------
# B. re-tiering


BANDS_AGE = ("under_30", "30_44", "45_59", "60_plus", None)
BANDS_INCOME = ("under_100k", "100k_300k", "300k_1m", "1m_plus", None)


def profile_events(
    size: int, staff: list[dict[str, Any]], topic_seed: int
) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """`size` registered events, then one assets-changed per customer (amounts over every tier), as the
    profile's relay publishes them."""
    from bson import ObjectId

    from crm_contracts.envelope import CloudEvent
    from crm_contracts.profile import AssetsChanged, CustomerRegistered

    rng = random.Random(topic_seed)
    rms: dict[str, list[str]] = defaultdict(list)
    for s in staff:
        if s["role"] == "relationship_manager":
            rms[s["branch"]].append(s["staff_id"])
    branches = sorted(rms)
    now = datetime.now(UTC)
    today = date.today()
    ids = [f"C{ObjectId()}" for _ in range(size)]
    out: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = []

    def add(cid: str, ev: CloudEvent[Any]) -> None:
        out.append(
            (
                cid.encode(),
                ev.model_dump_json().encode(),
                [
                    ("content-type", b"application/cloudevents+json"),
                    ("ce_type", ev.type.encode()),
                    ("ce_id", str(ev.id).encode()),
                ],
            )
        )

    for i, cid in enumerate(ids):
        branch = branches[i % len(branches)]
        kind = "corporate" if i % 8 == 7 else "individual"
        add(
            cid,
            CloudEvent.wrap(
                CustomerRegistered(
                    customer_id=cid,
                    kind=kind,
                    branch=branch,
                    owner=rng.choice(rms[branch]),
                    core_customer_no=f"CB{i:010d}",
                    registered_at=now - timedelta(days=rng.randrange(30, 2000)),
                    registered_by="S-ADMIN",
                    channel="bulk_import",
                    age_band=rng.choice(BANDS_AGE) if kind == "individual" else None,
                    income_band=rng.choice(BANDS_INCOME),
                ),
                source="crm/profile",
                subject=cid,
            ),
        )
    for i, cid in enumerate(ids):
        bal = make_balance(rng, f"CB{i:010d}", today)
        add(
            cid,
            CloudEvent.wrap(
                AssetsChanged(
                    customer_id=cid,
                    core_customer_no=f"CB{i:010d}",
                    as_of=today,
                    aum=Decimal(bal["aum"]),
                    breakdown={k: Decimal(v) for k, v in bal["breakdown"].items()},
                ),
                source="crm/profile",
                subject=cid,
            ),
        )
    return out


def lowered(policy: dict[str, Any], factor: Decimal) -> dict[str, Any]:
    """The policy with every tier bound but the lowest multiplied by `factor`: customers just under a bound
    move up at once (a downgrade would wait out the grace period)."""
    new = json.loads(json.dumps(policy))
    for i, tier in enumerate(new["tiers"]):
        if i:
            tier["lower_bound"] = format((Decimal(str(tier["lower_bound"])) * factor).quantize(Decimal("0.01")), "f")
    return new


async def rollout(
    client: httpx.AsyncClient, tiering: ServiceProcess, stack: Stack, policy: dict[str, Any], note: str, timeout: float
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token(stack.jwt_secret, HEAD_OFFICE)}"}
    before = await fetch_metrics(client, tiering)
    cpu = CpuMeter({"mongodb (SecantusDB)": stack.mongo.pid, "tiering": tiering.pid})
    top0 = await db_top(stack.mongo.uri)
    cpu.begin()
    r = await client.put(f"{tiering.base_url}/v1/policy", headers=headers, json={"policy": policy, "note": note})
    if r.status_code != 202:
        raise BenchFailed(f"PUT /v1/policy answered {r.status_code}: {r.text[:500]}")
    rid = r.json()["id"]
    view: dict[str, Any] = {}

    async def finished() -> bool:
        g = await client.get(f"{tiering.base_url}/v1/policy/rollouts/{rid}", headers=headers)
        g.raise_for_status()
        view.update(g.json())
        if view["status"] not in ("running", "done"):
            raise BenchFailed(f"rollout {rid} ended {view['status']}")
        return view["status"] == "done"

    async def progress() -> str:
        return f"rollout {view.get('done', 0):,} of {view.get('total', '?'):,} ({view.get('percent', 0)}%)"

    async def moved() -> float:
        return float(view.get("done", 0))

    await wait_until(
        f"rollout {rid}",
        finished,
        timeout=timeout,
        services=(tiering,),
        interval=0.25,
        report_every=15,
        progress=progress,
        level=moved,
    )
    cpu_use = cpu.end()
    top = top_delta(await db_top(stack.mongo.uri), top0)
    after = await fetch_metrics(client, tiering)
    seconds = (datetime.fromisoformat(view["finished_at"]) - datetime.fromisoformat(view["started_at"])).total_seconds()
    trips = delta(
        after.by_label("crm_db_commands_total", "command"), before.by_label("crm_db_commands_total", "command")
    )
    return {
        "id": rid,
        "total": view["total"],
        "changed": view["changed"],
        "seconds": seconds,
        "customers_per_second": view["total"] / seconds if seconds else float("inf"),
        "round_trips": sum(trips.values()),
        "round_trips_by_command": trips,
        "db_top": top,
        "cpu": {k: {"seconds": v[0], "core_share": v[1]} for k, v in cpu_use.items()},
    }


async def load_tiering(
    client: httpx.AsyncClient, tiering: ServiceProcess, stack: Stack, prefix: str, size: int, timeout: float
) -> float:
    events = profile_events(size, stack.staff, size)
    base = await fetch_metrics(client, tiering)
    applied0 = base.sum("crm_messages_consumed_total", group=PROFILE_GROUP, outcome="applied")
    t0 = time.perf_counter()
    await produce(stack.kafka.bootstrap, f"{prefix}crm.profile.customers", events)

    async def applied() -> float:
        m = await fetch_metrics(client, tiering)
        return m.sum("crm_messages_consumed_total", group=PROFILE_GROUP, outcome="applied") - applied0

    async def loaded() -> bool:
        return await applied() >= len(events)

    async def progress() -> str:
        return f"tiering applied {await applied():,.0f} of {len(events):,} events"

    await wait_until(
        f"tiering to apply {len(events):,} profile events",
        loaded,
        timeout=timeout,
        services=(tiering,),
        interval=0.25,
        report_every=20,
        progress=progress,
        level=applied,
    )
    seconds = time.perf_counter() - t0
    with contextlib.suppress(BenchFailed):  # its own events (tier-changed, owner-assigned) out of the way
        await wait_until(
            "tiering's outbox to drain",
            lambda: _zero(unsent(stack.mongo.uri, tiering.env["MONGODB_DATABASE"])),
            timeout=120,
            services=(tiering,),
            interval=0.5,
        )
    return seconds


async def _zero(n) -> bool:  # type: ignore[no-untyped-def]
    return await n == 0


async def run_retier(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    sizes: list[int] = args.retier_sizes
    console.rule(f"B. re-tiering after a policy change: {', '.join(f'{s:,}' for s in sizes)} customers")
    results: list[dict[str, Any]] = []
    chunk_runs: list[dict[str, Any]] = []
    factor = Decimal(args.bound_factor)
    for idx, size in enumerate(sizes):
        tag = uuid.uuid4().hex[:6]
        prefix, database = f"rt{size}-{tag}.", f"crm_tiering_rt{size}_{tag}"
        extra = {"KAFKA_TOPIC_PREFIX": prefix}
        if args.rollout_chunk:
            extra["ROLLOUT_CHUNK_SIZE"] = str(args.rollout_chunk)
        console.print(f"{size:,} customers: fresh tiering (database {database}, topic prefix {prefix})")
        with ExitStack() as services:
            tiering = stack.start_service(services, "tiering", database, f"tiering-rt{size}", **extra)
            async with httpx.AsyncClient(timeout=60) as client:
                await put_staff(client, tiering, stack)
                load_seconds = await load_tiering(client, tiering, stack, prefix, size, args.timeout)
                console.print(
                    f"  loaded {size:,} customers (2 events each) in {load_seconds:.1f}s "
                    f"({2 * size / load_seconds:,.0f} events/s)"
                )
                current = (
                    await client.get(
                        f"{tiering.base_url}/v1/policy",
                        headers={"Authorization": f"Bearer {token(stack.jwt_secret, HEAD_OFFICE)}"},
                    )
                ).json()["policy"]
                r = await rollout(
                    client, tiering, stack, lowered(current, factor), "bench: lower tier bounds", args.timeout
                )
                r.update(size=size, load_seconds=load_seconds, chunk=args.rollout_chunk or 500)
                console.print(
                    f"  re-tiered {r['total']:,} ({r['changed']:,} changed tier) in {r['seconds']:.1f}s: "
                    f"{r['customers_per_second']:,.0f} customers/s, {r['round_trips'] / size:.3f} round trips "
                    f"per customer"
                )
                results.append(r)
            if idx == 0 and args.chunk_compare:
                services.close()  # this tiering stops; the same database is re-tiered with other chunk sizes
                chunk_runs = await compare_chunks(stack, args, database, prefix, current, factor)
        await drop_database(stack.mongo.uri, database)
    return {"runs": results, "chunk_runs": chunk_runs}


async def compare_chunks(
    stack: Stack, args: argparse.Namespace, database: str, prefix: str, base: dict[str, Any], factor: Decimal
) -> list[dict[str, Any]]:
    """The same customers re-tiered under each chunk size: bounds back up (some customers start their
    downgrade grace), then down again (they move up at once: the rollout the sizes above measured)."""
    out = []
    for chunk in args.chunk_compare:
        with ExitStack() as services:
            tiering = stack.start_service(
                services,
                "tiering",
                database,
                f"tiering-chunk{chunk}",
                KAFKA_TOPIC_PREFIX=prefix,
                ROLLOUT_CHUNK_SIZE=str(chunk),
            )
            async with httpx.AsyncClient(timeout=60) as client:
                up = await rollout(client, tiering, stack, base, f"bench: chunk {chunk}, bounds back", args.timeout)
                down = await rollout(
                    client, tiering, stack, lowered(base, factor), f"bench: chunk {chunk}, lower", args.timeout
                )
        for direction, r in (("bounds back up", up), ("bounds lowered", down)):
            r.update(chunk=chunk, direction=direction)
            out.append(r)
        console.print(
            f"  chunk {chunk}: bounds back {up['customers_per_second']:,.0f}/s, lowered "
            f"{down['customers_per_second']:,.0f}/s "
            f"({down['round_trips'] / down['total']:.3f} round trips per customer)"
        )
    return out


async def drop_database(uri: str, database: str) -> None:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        await client.drop_database(database)
    except Exception as exc:  # noqa: BLE001 - only disk space is at stake
        console.print(f"[yellow]could not drop {database}: {exc}[/]")
    finally:
        await client.close()


def print_retier(r: dict[str, Any]) -> bool:
    runs = r["runs"]
    base = runs[0]["seconds"] / runs[0]["total"]
    table = Table(title="B. re-tiering every customer after a policy change (tier bounds lowered)")
    for col in (
        "customers",
        "changed",
        "chunk",
        "s",
        "cust/s",
        "ms/cust",
        "vs first",
        "trips/cust",
        "DB CPU",
        "tiering CPU",
        "load ev/s",
    ):
        table.add_column(col, justify="right")
    linear = True
    for run in runs:
        per = run["seconds"] / run["total"]
        rel = per / base - 1
        linear &= abs(rel) <= LINEAR_TOLERANCE
        table.add_row(
            f"{run['total']:,}",
            f"{run['changed']:,}",
            str(run["chunk"]),
            f"{run['seconds']:.1f}",
            f"{run['customers_per_second']:,.0f}",
            f"{per * 1000:.2f}",
            f"{rel:+.0%}",
            f"{run['round_trips'] / run['total']:.3f}",
            f"{run['cpu']['mongodb (SecantusDB)']['core_share']:.0%}",
            f"{run['cpu']['tiering']['core_share']:.0%}",
            f"{2 * run['total'] / run['load_seconds']:,.0f}",
        )
    console.print(table)
    for run in (runs[0], runs[-1]) if len(runs) > 1 else runs:
        print_top(
            f"where the database server spent the rollout of {run['total']:,} customers (its `top`)",
            run["db_top"],
            run["total"],
            "customer",
            limit=8,
        )
    verdict = "linear" if linear else "NOT linear"
    console.print(f"time per customer within ±{LINEAR_TOLERANCE:.0%} of the smallest size's: [bold]{verdict}[/]")
    if r["chunk_runs"]:
        ct = Table(
            title=f"rollout chunk size (ROLLOUT_CHUNK_SIZE) on the {runs[0]['total']:,} customers of the first size"
        )
        for col in ("chunk", "rollout", "changed tier", "seconds", "customers/s", "round trips/customer", "DB CPU"):
            ct.add_column(col, justify="right")
        for run in r["chunk_runs"]:
            ct.add_row(
                str(run["chunk"]),
                run["direction"],
                f"{run['changed']:,}",
                f"{run['seconds']:.1f}",
                f"{run['customers_per_second']:,.0f}",
                f"{run['round_trips'] / run['total']:.3f}",
                f"{run['cpu']['mongodb (SecantusDB)']['core_share']:.0%}",
            )
        console.print(ct)
    return linear


# --------------------------------------------------------------------------------------------
# main


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.replace("_", "").split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("sizes must be at least 1")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--snapshots", type=int, default=None, help="balance snapshots end to end (default 20000)")
    parser.add_argument(
        "--customers",
        type=int,
        default=None,
        help="customers registered for them (default snapshots/4: about 4 days each)",
    )
    parser.add_argument("--partitions", type=int, default=2, help="KAFKA_TOPIC_PARTITIONS of the services (default 2)")
    parser.add_argument("--retier-sizes", type=_sizes, default=None, help="default 25000,50000,100000")
    parser.add_argument(
        "--rollout-chunk",
        type=int,
        default=None,
        help="ROLLOUT_CHUNK_SIZE for the re-tiering sizes (default: the service's, 500)",
    )
    parser.add_argument(
        "--chunk-compare",
        type=_sizes,
        default=None,
        help="chunk sizes compared on the first re-tier size's data (default 2000; '' skips)",
    )
    parser.add_argument("--bound-factor", default="0.5", help="the new policy's tier bounds = old × this (default 0.5)")
    parser.add_argument("--skip-pipeline", action="store_true", help="only B")
    parser.add_argument("--skip-retier", action="store_true", help="only A")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2000 snapshots of 1000 customers, re-tier 1000 and 2000, no chunk comparison",
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds any one wait may take (default 7200; quick 300)"
    )
    parser.add_argument(
        "--stall-timeout",
        type=float,
        default=None,
        help="give up when a wait sees no progress for this long (default 600; quick 120)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    args = parser.parse_args(argv)
    if args.quick:
        args.snapshots = args.snapshots or 2000
        args.customers = args.customers or args.snapshots // 2
        args.retier_sizes = args.retier_sizes or [1000, 2000]
        args.chunk_compare = [] if args.chunk_compare is None else args.chunk_compare
        args.timeout = args.timeout or 300
        args.stall_timeout = args.stall_timeout or 120
    args.snapshots = args.snapshots or 20_000
    args.customers = args.customers or max(1, args.snapshots // 4)
    args.retier_sizes = args.retier_sizes or [25_000, 50_000, 100_000]
    args.chunk_compare = [2000] if args.chunk_compare is None else args.chunk_compare
    args.timeout = args.timeout or 7200
    global STALL_SECONDS
    STALL_SECONDS = args.stall_timeout or 600
    if args.snapshots < 1 or args.customers < 1 or args.customers > args.snapshots:
        parser.error("need 1 ≤ --customers ≤ --snapshots")

    workdir = Path(tempfile.mkdtemp(prefix="crm-bench-pipeline-"))
    results: dict[str, Any] = {
        "machine": {"cores": os.cpu_count(), "arch": platform.machine(), "python": platform.python_version()}
    }
    failed: str | None = None
    started = time.perf_counter()
    with ExitStack() as stack:
        if not args.keep:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        else:
            console.print(f"keeping {workdir}")
        try:
            console.print("starting the embedded Kafka (Tansu) and MongoDB (SecantusDB) …")
            kafka = stack.enter_context(EmbeddedKafka("127.0.0.1", free_port(), log_path=workdir / "kafka.log"))
            mongo = stack.enter_context(
                EmbeddedMongo("127.0.0.1", free_port(), workdir / "mongo-data", log_path=workdir / "mongodb.log")
            )
            from crm_kit.crypto import new_key_b64

            branches = make_branches(3)
            env = Stack(
                workdir=workdir,
                kafka=kafka,
                mongo=mongo,
                jwt_secret=secrets.token_urlsafe(48),
                data_key=new_key_b64(),
                lookup_key=new_key_b64(),
                partitions=args.partitions,
                staff=make_staff(branches, faker=make_faker(20261124)),
            )
            if not args.skip_pipeline:
                results["pipeline"] = asyncio.run(run_pipeline(env, args))
                print_pipeline(results["pipeline"])
            if not args.skip_retier:
                results["retier"] = asyncio.run(run_retier(env, args))
                results["retier"]["linear"] = print_retier(results["retier"])
        except (StackError, BenchFailed) as exc:
            failed = str(exc)
            if args.keep:
                failed += f"\n(logs in {workdir})"
        except KeyboardInterrupt:
            failed = "interrupted"
    console.print(
        f"machine: {os.cpu_count()} cores ({platform.machine()}, {platform.system()}), Python "
        f"{platform.python_version()}; embedded Tansu + SecantusDB; services, broker, database and this "
        f"benchmark share the machine; {time.perf_counter() - started:.0f}s in all; load average at the end "
        f"{os.getloadavg()[0]:.2f} (anything else running on the machine skews the figures)"
    )
    if args.json:
        results["failed"] = failed
        args.json.write_text(json.dumps(results, indent=2, default=str))
    if failed:
        console.print("did not finish: " + failed, style="red", markup=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
