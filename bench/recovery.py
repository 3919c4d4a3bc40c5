"""How soon each service is back at work after a restart: killed (SIGKILL) or stopped (SIGTERM) mid-feed.

    python bench/recovery.py                        (make bench-recovery BENCH_ARGS="...")
    python bench/recovery.py --services profile --modes kill

Starts its own embedded stack (Tansu + SecantusDB on free ports, data in a temporary directory). For each
service (profile, tiering, engagement, complaints) and each way of stopping it, on a fresh topic prefix and
database: starts the service as its own process (uvicorn, as `crm run` does), feeds every topic it consumes
(profile: balance snapshots of customers registered through its API, and tiering decisions; the others:
profile registrations, tiering decisions, complaints, surveys — whatever they consume), stops it once about a
quarter of the feed is applied (SIGKILL, or SIGTERM and waiting for it to exit), waits `--pause` seconds and
starts it again. Printed, counted from the restart (the new process spawned):

- ready: GET /readyz answers 200;
- first: the first message consumed by the new process (any of its consumer groups; a redelivered message
  the inbox recognises counts, the consumer is back);
- slowest group: the latest of each consumer group's first message (the figure that shows a group stuck
  in its rejoin while the others work);
- backlog: every consumer group's committed offsets reach the end of its topic (the whole feed produced).

Nothing is lost: the backlog time needs every offset committed. Nothing doubled: the new process's
`duplicate` count is how many redelivered messages the inbox (or the handler's own rule) skipped.
Exit code 0 when every run finished, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import Metrics, make_customers, make_snapshots, register_customers
from pipeline import Stack as BenchStack

from crm_cli.stack import (
    CONSUMER_GROUPS,
    SERVICES,
    EmbeddedKafka,
    EmbeddedMongo,
    ServiceProcess,
    StackError,
    free_port,
)
from crm_contracts.complaints import ComplaintOpened
from crm_contracts.engagement import SurveyAnswered
from crm_contracts.envelope import CloudEvent, EventData
from crm_contracts.profile import CustomerRegistered
from crm_contracts.tiering import TierChanged
from crm_contracts.topics import (
    COMPLAINTS_CASES,
    COREBANK_BALANCES,
    ENGAGEMENT_TASKS,
    PROFILE_CUSTOMERS,
    TIERING_CUSTOMERS,
)

console = Console(highlight=False, width=int(os.environ.get("COLUMNS", "140")))
POLL = 0.05

SOURCES = {
    PROFILE_CUSTOMERS: "crm/profile",
    TIERING_CUSTOMERS: "crm/tiering",
    COMPLAINTS_CASES: "crm/complaints",
    ENGAGEMENT_TASKS: "crm/engagement",
}


class BenchFailed(RuntimeError):
    """A run did not finish: its figures would mean nothing."""


@dataclass
class Run:
    service: str
    mode: str  # "kill" | "term"
    fed: int = 0
    stopped_after: int = 0
    ready: float | None = None
    first: float | None = None
    slowest_group: tuple[str, float] | None = None
    backlog: float | None = None
    duplicates: int = 0
    stop_seconds: float | None = None


# --------------------------------------------------------------------------------------------
# the feed


def _event(topic: str, data: EventData, subject: str, sequence: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    event = CloudEvent.wrap(data, source=SOURCES[topic], subject=subject)
    return subject.encode(), event.model_dump_json().encode(), [("ce_sequence", str(sequence).encode())]


def events_for(topic: str, customer_ids: list[str]) -> list[tuple[bytes, bytes, list[tuple[str, bytes]] | None]]:
    """One event per customer on a contract topic, as its producing service would publish it."""
    now = datetime.now(UTC)
    out: list[tuple[bytes, bytes, list[tuple[str, bytes]] | None]] = []
    for n, cid in enumerate(customer_ids):
        data: EventData
        if topic == PROFILE_CUSTOMERS:
            data = CustomerRegistered(
                customer_id=cid,
                kind="individual",
                branch="BR001",
                owner="S-RM1",
                registered_at=now - timedelta(days=400),
                registered_by="S-RM1",
                channel="service_process",
            )
        elif topic == TIERING_CUSTOMERS:
            data = TierChanged(
                customer_id=cid,
                branch="BR001",
                from_tier=None,
                to_tier="vip",
                reason="upgrade",
                policy_version=1,
                as_of=date.today(),
                basis_amount=Decimal("600000.00"),
            )
        elif topic == COMPLAINTS_CASES:
            data = ComplaintOpened(complaint_id=f"CP-{n:06d}", customer_id=cid, opened_at=now)
        elif topic == ENGAGEMENT_TASKS:
            data = SurveyAnswered(
                survey_id=f"SV-{n:06d}", customer_id=cid, trigger="interaction_sample", csat=5, answered_at=now
            )
        else:
            raise ValueError(topic)
        out.append(_event(topic, data, cid, 1))
    return out


async def feed(bootstrap: str, parts: dict[str, list[Any]], *, seconds: float) -> None:
    """Every topic's messages, spread evenly over about `seconds` (a feed still arriving when the service stops)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all", linger_ms=5)
    await producer.start()
    try:
        steps = 20
        for step in range(steps):
            futures = []
            for topic, messages in parts.items():
                chunk = messages[step * len(messages) // steps : (step + 1) * len(messages) // steps]
                futures += [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in chunk]
            await asyncio.gather(*futures)
            await asyncio.sleep(seconds / steps)
    finally:
        await producer.stop()


# --------------------------------------------------------------------------------------------
# what the service has done


async def consumed(client: httpx.AsyncClient, svc: ServiceProcess) -> dict[str, tuple[float, float]]:
    """group -> (applied, duplicate) by this process so far (empty while it does not answer)."""
    try:
        r = await client.get(f"{svc.base_url}/metrics", timeout=2)
    except httpx.HTTPError:
        return {}
    if r.status_code != 200:
        return {}
    m = Metrics.parse(r.text)
    out: dict[str, tuple[float, float]] = {}
    for name, labels, value in m.samples:
        if name == "crm_messages_consumed_total":
            applied, dup = out.get(labels["group"], (0.0, 0.0))
            if labels["outcome"] == "applied":
                applied += value
            elif labels["outcome"] == "duplicate":
                dup += value
            out[labels["group"]] = (applied, dup)
    return out


async def lag(bootstrap: str, groups: dict[str, str]) -> int:
    """Messages not yet committed by their group, over every (topic, group)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await probe.start()
    try:
        total = 0
        for topic, group in groups.items():
            parts = probe.partitions_for_topic(topic) or set()
            if not parts:
                await probe._client.force_metadata_update()  # noqa: SLF001 - a brand-new topic
                parts = probe.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in parts]
            ends = await probe.end_offsets(tps) if tps else {}
            # Partitions named: Tansu closes the connection on "all of the group's partitions".
            committed = await admin.list_consumer_group_offsets(group, partitions=tps) if tps else {}
            for tp, end in ends.items():
                meta = committed.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else 0
                total += max(0, end - done)
        return total
    finally:
        await probe.stop()
        await admin.close()


# --------------------------------------------------------------------------------------------
# one run


async def run_one(env: BenchStack, service: str, mode: str, args: argparse.Namespace) -> Run:
    spec = next(s for s in SERVICES if s.name == service)
    tag = uuid.uuid4().hex[:6]
    prefix = f"rec{tag}."
    extra = {"KAFKA_TOPIC_PREFIX": prefix, "LOG_LEVEL": "INFO"}
    if args.session_timeout_ms:
        extra["KAFKA_SESSION_TIMEOUT_MS"] = str(args.session_timeout_ms)
    environ = env.service_env(f"bench_rec_{service}_{tag}", **extra)
    if not args.session_timeout_ms:
        environ.pop("KAFKA_SESSION_TIMEOUT_MS", None)  # the service's own default

    def process(n: int) -> ServiceProcess:
        return ServiceProcess(
            service,
            spec.factory,
            spec.port_var,
            free_port(),
            environ,
            log_path=env.workdir / f"{service}-{mode}-{n}.log",
        )

    groups = {prefix + topic: prefix + group for topic, group in CONSUMER_GROUPS[service].items()}
    run = Run(service, mode)
    first = process(1)
    await asyncio.to_thread(first.start)
    second: ServiceProcess | None = None
    try:
        async with httpx.AsyncClient() as client:
            n = args.messages
            parts: dict[str, list[Any]] = {}
            if service == "profile":
                customers = make_customers(args.customers)
                await register_customers(client, first, env, customers)
                parts[prefix + COREBANK_BALANCES] = make_snapshots([c["core_customer_no"] for c in customers], n)
                parts[prefix + TIERING_CUSTOMERS] = events_for(
                    TIERING_CUSTOMERS, [f"C-UNKNOWN-{i}" for i in range(n // 10)]
                )
            else:
                ids = [f"C{tag}{i:06d}" for i in range(n)]
                for i, topic in enumerate(CONSUMER_GROUPS[service]):
                    parts[prefix + topic] = events_for(topic, ids if i == 0 else ids[: n // 10])
            run.fed = sum(len(v) for v in parts.values())
            feeding = asyncio.create_task(feed(env.kafka.bootstrap, parts, seconds=args.feed_seconds))

            # Stop it mid-feed: once about a quarter has been applied.
            deadline = time.monotonic() + args.timeout
            while True:
                done = sum(a for a, _ in (await consumed(client, first)).values())
                if done >= run.fed // 4:
                    break
                if time.monotonic() > deadline or not first.is_running():
                    raise BenchFailed(
                        f"{service}: the first process did not apply a quarter of the feed "
                        f"({done:.0f} of {run.fed}); log:\n{first.log_tail()}"
                    )
                await asyncio.sleep(POLL)
            run.stopped_after = int(done)
            t_stop = time.perf_counter()
            assert first.process is not None
            if mode == "kill":
                os.killpg(first.process.pid, signal.SIGKILL)
                await asyncio.to_thread(first.process.wait)
            else:
                first.process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(first.process.wait, 60)
            run.stop_seconds = time.perf_counter() - t_stop
            await asyncio.to_thread(first.stop)
            await asyncio.sleep(args.pause)

            second = process(2)
            second.spawn()
            t0 = time.perf_counter()
            firsts: dict[str, float] = {}
            while True:
                now = time.perf_counter() - t0
                if run.ready is None:
                    try:
                        r = await client.get(f"{second.base_url}/readyz", timeout=2)
                        if r.status_code == 200:
                            run.ready = now
                    except httpx.HTTPError:
                        pass
                counts = await consumed(client, second)
                for group, (a, d) in counts.items():
                    if a + d > 0 and group not in firsts:
                        firsts[group] = now
                if firsts and run.first is None:
                    run.first = min(firsts.values())
                if feeding.done() and run.ready is not None:
                    feeding.result()
                    if len(firsts) == len(groups) and await lag(env.kafka.bootstrap, groups) == 0:
                        run.backlog = time.perf_counter() - t0
                        run.duplicates = int(sum(d for _, d in counts.values()))
                        break
                    if await lag(env.kafka.bootstrap, groups) == 0 and len(firsts) < len(groups):
                        # A group whose messages were all committed before the stop has nothing to redeliver.
                        run.backlog = time.perf_counter() - t0
                        run.duplicates = int(sum(d for _, d in counts.values()))
                        break
                if not second.is_running():
                    raise BenchFailed(f"{service}: the restarted process stopped; log:\n{second.log_tail()}")
                if now > args.timeout:
                    raise BenchFailed(
                        f"{service} ({mode}): not caught up {args.timeout:.0f}s after the restart "
                        f"(lag {await lag(env.kafka.bootstrap, groups)}, groups started: {sorted(firsts)})"
                    )
                await asyncio.sleep(POLL)
            if firsts:
                slowest = max(firsts, key=lambda g: firsts[g])
                run.slowest_group = (slowest.removeprefix(prefix), firsts[slowest])
    finally:
        await asyncio.to_thread(first.stop)
        if second is not None:
            await asyncio.to_thread(second.stop)
    return run


def print_runs(runs: list[Run]) -> None:
    t = Table(title="Recovery after a restart (seconds from the new process spawned)")
    for col in (
        "service",
        "stopped by",
        "fed",
        "stopped after",
        "ready",
        "first message",
        "slowest group",
        "backlog consumed",
        "duplicates skipped",
    ):
        t.add_column(col, justify="left" if col in ("service", "stopped by", "slowest group") else "right")
    for r in runs:
        t.add_row(
            r.service,
            "SIGKILL" if r.mode == "kill" else f"SIGTERM ({r.stop_seconds:.1f}s to exit)",
            str(r.fed),
            str(r.stopped_after),
            f"{r.ready:.1f}" if r.ready is not None else "-",
            f"{r.first:.1f}" if r.first is not None else "-",
            f"{r.slowest_group[0]} {r.slowest_group[1]:.1f}" if r.slowest_group else "-",
            f"{r.backlog:.1f}" if r.backlog is not None else "-",
            str(r.duplicates),
        )
    console.print(t)


async def run_all(env: BenchStack, args: argparse.Namespace) -> list[Run]:
    runs = []
    for service in args.services:
        for mode in args.modes:
            console.print(f"{service}: {'SIGKILL' if mode == 'kill' else 'SIGTERM'} mid-feed …")
            run = await run_one(env, service, mode, args)
            console.print(f"  ready {run.ready:.1f}s, first message {run.first:.1f}s, backlog {run.backlog:.1f}s")
            runs.append(run)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--services",
        type=lambda s: s.split(","),
        default=list(CONSUMER_GROUPS),
        help="comma-separated (default: all four)",
    )
    parser.add_argument(
        "--modes", type=lambda s: s.split(","), default=["kill", "term"], help="kill,term (default both)"
    )
    parser.add_argument(
        "--messages", type=int, default=2000, help="messages on each service's main topic (default 2000)"
    )
    parser.add_argument("--customers", type=int, default=500, help="customers registered for profile's snapshots")
    parser.add_argument("--feed-seconds", type=float, default=6.0, help="the feed is spread over this long (default 6)")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between the stop and the restart (default 2)")
    parser.add_argument("--partitions", type=int, default=6, help="KAFKA_TOPIC_PARTITIONS (default 6, the services')")
    parser.add_argument(
        "--session-timeout-ms", type=int, default=None, help="KAFKA_SESSION_TIMEOUT_MS (default: the services' own)"
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds any one wait may take (default 180)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    args = parser.parse_args(argv)
    unknown = set(args.services) - set(CONSUMER_GROUPS) or set(args.modes) - {"kill", "term"}
    if unknown:
        parser.error(f"unknown: {sorted(unknown)}")

    workdir = Path(tempfile.mkdtemp(prefix="crm-bench-recovery-"))
    failed: str | None = None
    runs: list[Run] = []
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

            env = BenchStack(
                workdir=workdir,
                kafka=kafka,
                mongo=mongo,
                jwt_secret=secrets.token_urlsafe(48),
                data_key=new_key_b64(),
                lookup_key=new_key_b64(),
                partitions=args.partitions,
            )
            runs = asyncio.run(run_all(env, args))
        except (StackError, BenchFailed) as exc:
            failed = str(exc)
        except KeyboardInterrupt:
            failed = "interrupted"
    if runs:
        print_runs(runs)
    console.print(
        f"machine: {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}; "
        f"embedded Tansu + SecantusDB; load average at the end {os.getloadavg()[0]:.2f}"
    )
    if failed:
        console.print("did not finish: " + failed, style="red", markup=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
