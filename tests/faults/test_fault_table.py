"""Proven under faults: the same seeded workload run once without faults (the oracle) and once per fault must end
in exactly the same state of every service and the same published events — 0 lost, 0 doubled, 0 out of order.
The reduced run (plain pytest) takes a kill, a paused lease holder and poison messages on a small workload;
`make faults` takes them all."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date

import httpx
import pytest

from crm_cli.stack import CONSUMER_GROUPS
from harness import FULL, HEAD_OFFICE, ROWS, TOPICS, Cluster, Snapshot, Workload, compare, snapshot

pytestmark = [pytest.mark.faults, pytest.mark.timeout(3600 if FULL else 600)]

BUSINESS_DATE = date(2026, 12, 1)
# CRM_FAULTS_CUSTOMERS: another size (e.g. every fault of the full table on a small workload).
CUSTOMERS = int(os.environ.get("CRM_FAULTS_CUSTOMERS") or (3000 if FULL else 40))
WORKLOAD = Workload(customers=CUSTOMERS, days=3 if FULL else 2, business_date=BUSINESS_DATE)
OUTAGE = 60.0 if FULL else 15.0  # the broker paused this long
POISON = b"\x00 not an event {"


@dataclass
class Fault:
    """What strikes (an async action on the cluster) when the workload starts step `at`, after `delay` seconds."""

    name: str
    at: str
    action: Callable[[Cluster], Awaitable[None]]
    delay: float = 0.5
    replicas: int = 1
    compare_events: bool = True
    poison: bool = False
    ended: float | None = None
    notes: list[str] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def hook(self, cluster: Cluster) -> Callable[[str], Awaitable[None]]:
        async def at_phase(step: str) -> None:
            if step == self.at and self._task is None:
                self._task = asyncio.create_task(self._strike(cluster))

        return at_phase

    async def _strike(self, cluster: Cluster) -> None:
        await asyncio.sleep(self.delay)
        await self.action(cluster)
        self.ended = time.monotonic()

    async def finish(self) -> None:
        assert self._task is not None, f"{self.name}: the workload never reached step {self.at}"
        await self._task


# ---------------------------------------------------------------------------------------------
# the faults


def killed(*services: str) -> Callable[[Cluster], Awaitable[None]]:
    async def action(cluster: Cluster) -> None:
        for s in services:
            await asyncio.to_thread(cluster.kill, s)
        await asyncio.sleep(3)
        for s in services:
            await asyncio.to_thread(cluster.restart, s)

    return action


async def broker_paused(cluster: Cluster) -> None:
    cluster.pause_broker()
    try:
        await asyncio.sleep(2)
        # Reads keep answering while the broker is away (writes go on through the workload: the outbox keeps them).
        async with httpx.AsyncClient(timeout=10) as http:
            from harness import Bank

            r = await http.get(
                cluster.urls("profile")[0] + "/v1/customers",
                params={"limit": 5},
                headers=Bank(cluster).auth(HEAD_OFFICE),
            )
            assert r.status_code == 200, f"profile did not answer a read during the broker outage: {r.status_code}"
        await asyncio.sleep(OUTAGE - 2)
    finally:
        cluster.resume_broker()


async def broker_emptied(cluster: Cluster) -> None:
    await asyncio.to_thread(cluster.restart_broker)


def db_failing(
    command: str, code: int = 112, labels: tuple[str, ...] = ("TransientTransactionError",), times: int = 40
) -> Callable[[Cluster], Awaitable[None]]:
    async def action(cluster: Cluster) -> None:
        await asyncio.to_thread(
            cluster.fail_point,
            {"times": times},
            {"failCommands": [command], "errorCode": code, "errorLabels": list(labels)},
        )
        await asyncio.sleep(8)
        await asyncio.to_thread(cluster.fail_point_off)

    return action


def killed_during_rebalance(*services: str) -> Callable[[Cluster], Awaitable[None]]:
    """Replica 1 leaves (a graceful stop: its groups rebalance); during the rebalance replica 0 is killed."""

    async def action(cluster: Cluster) -> None:
        for s in services:
            await asyncio.to_thread(cluster.replicas[s][1].stop, 10)
        await asyncio.sleep(1)
        for s in services:
            await asyncio.to_thread(cluster.kill, s, 0)
        await asyncio.sleep(3)
        for s in services:
            await asyncio.to_thread(cluster.restart, s, 0)
            await asyncio.to_thread(cluster.restart, s, 1)

    return action


def holder_paused(service: str, lease: str, seconds: float = 20.0) -> Callable[[Cluster], Awaitable[None]]:
    """The replica holding the lease is stopped (SIGSTOP) past its 15 s lease, then resumed (SIGCONT)."""

    async def action(cluster: Cluster) -> None:
        deadline = time.monotonic() + 30
        holder = None
        while holder is None:
            holder = await asyncio.to_thread(cluster.holder, service, lease)
            assert holder is not None or time.monotonic() < deadline, f"nobody holds {lease}"
            await asyncio.sleep(0.2)
        cluster.pause(service, holder)
        try:
            await asyncio.sleep(seconds)
        finally:
            cluster.resume(service, holder)

    return action


async def poisoned(cluster: Cluster) -> None:
    from harness import produce

    for topic in TOPICS:
        await produce(cluster, topic, [("poison", POISON)])


def faults() -> list[Fault]:
    rng = random.Random(WORKLOAD.seed)
    steps = [s for s in WORKLOAD.steps() if s != "directory"]

    def anywhere() -> dict[str, object]:
        return {"at": rng.choice(steps), "delay": round(rng.uniform(0.2, 2.0), 1)}

    kills = [
        Fault(f"SIGKILL {s}", action=killed(s), **anywhere())
        for s in ("profile", "tiering", "engagement", "complaints")
    ]
    kills.append(Fault("SIGKILL profile + tiering", action=killed("profile", "tiering"), **anywhere()))
    every = [
        *kills,
        Fault(f"broker paused {OUTAGE:.0f} s", at="registrations", delay=0.2, action=broker_paused),
        # At a quiet point, HTTP writes (tasks completed) going on while the broker is down and after it comes back.
        Fault("broker killed, restarted empty", at="tasks", delay=0.0, action=broker_emptied, compare_events=False),
        Fault("database: commitTransaction fails", at="balances:1", action=db_failing("commitTransaction")),
        Fault("database: insert fails", at="registrations", action=db_failing("insert")),
        Fault("database: find fails", at=f"balances:{WORKLOAD.days - 1}", action=db_failing("find", code=6, labels=())),
        Fault(
            "2 replicas, one killed in a rebalance",
            at="balances:1",
            replicas=2,
            action=killed_during_rebalance("profile", "tiering", "engagement", "complaints"),
        ),
        Fault(
            "rollout lease holder paused",
            at="policy",
            delay=0.0,
            replicas=2,
            action=holder_paused("tiering", "tiering:policy-rollout"),
        ),
        Fault(
            "engagement scheduler holder paused",
            at="tasks",
            delay=0.0,
            replicas=2,
            action=holder_paused("engagement", "engagement:scheduler"),
        ),
        Fault(
            "complaints deadline clock holder paused",
            at="complaints",
            delay=0.0,
            replicas=2,
            action=holder_paused("complaints", "complaints:deadlines"),
        ),
        Fault("a poison message in every consumed topic", at="balances:1", action=poisoned, poison=True),
    ]
    if FULL:
        return every
    # Within the CI budget (each run starts a whole cluster, about two minutes here): a kill, a fenced lease holder
    # paused and resumed, and a poison message in every topic. `make faults` runs every kind.
    keep = {"SIGKILL tiering", "rollout lease holder paused", "a poison message in every consumed topic"}
    return [f for f in every if f.name in keep]


# ---------------------------------------------------------------------------------------------
# runs


@pytest.fixture(scope="session")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """The fault-free run: the expected final state."""

    async def run() -> Snapshot:
        with Cluster(tmp_path_factory.mktemp("oracle"), business_date=BUSINESS_DATE) as cluster:
            await WORKLOAD.run(cluster)
            return await snapshot(cluster)

    expected = asyncio.run(run())
    assert expected.dead_letters == [], f"the fault-free run dead-lettered: {expected.dead_letters[:5]}"
    ROWS.append(
        {
            "fault": "none (oracle)",
            "events": len({e.id for e in expected.events}),
            "lost": "-",
            "doubled": "-",
            "out_of_order": "-",
            "dead_letters": 0,
            "recover": "-",
        }
    )
    return expected


def expected_letters(poison: bool) -> set[tuple[str, str]]:
    """(topic, group) of every dead letter a run should have: one per consuming group of a poisoned topic."""
    if not poison:
        return set()
    return {(f"{topic}.dlt", group) for consumed in CONSUMER_GROUPS.values() for topic, group in consumed.items()}


@pytest.mark.parametrize("fault", faults(), ids=lambda f: f.name)
async def test_nothing_lost_nothing_twice(fault: Fault, oracle: Snapshot, tmp_path) -> None:
    with Cluster(tmp_path, business_date=BUSINESS_DATE, replicas=fault.replicas) as cluster:
        stats = await WORKLOAD.run(cluster, at_phase=fault.hook(cluster))
        await fault.finish()
        actual = await snapshot(cluster)
        quiet_after = time.monotonic()
    verdict = compare(oracle, actual, events=fault.compare_events)
    letters = {(d["topic"], d["group"]) for d in actual.dead_letters}
    want = expected_letters(fault.poison)
    wrong_letters = sorted(letters - want)
    missing_letters = sorted(want - letters)
    recover = next((t for t in stats["quiet_at"] if fault.ended and t >= fault.ended), quiet_after) - (fault.ended or 0)
    ROWS.append(
        {
            "fault": fault.name,
            "events": verdict.events,
            "lost": verdict.lost + len(missing_letters),
            "doubled": verdict.doubled,
            "out_of_order": verdict.out_of_order,
            "dead_letters": len(actual.dead_letters),
            "recover": f"{recover:.1f}",
        }
    )
    assert verdict.ok(), f"{fault.name} (at {fault.at}): {verdict.report()}"
    assert not wrong_letters, (
        f"{fault.name}: dead-lettered though the message was good: {wrong_letters} "
        f"{[d for d in actual.dead_letters][:3]}"
    )
    assert not missing_letters, f"{fault.name}: poison not dead-lettered by {missing_letters}"
    assert len(actual.dead_letters) == len(want), (
        f"{fault.name}: a message dead-lettered twice or a good one too: {actual.dead_letters}"
    )
    assert all(d["error"] for d in actual.dead_letters), "a dead letter without its reason"
    assert actual.unreadable == (len(TOPICS) - 1 if fault.poison else 0)  # corebank.balances is not read back
