"""Two replicas of the engagement service (uvicorn processes) share the scheduler's lease. The holder is stopped
(SIGSTOP) half-way through a day's care moments, past its lease; the other replica takes over and finishes the
run; the stopped one is resumed (SIGCONT). The resumed holder writes and publishes nothing after losing the lease:
every task once, the run's cursor and its tasks in step, no outbox row of its epoch after the takeover, nothing
it relayed after it was resumed."""

import asyncio
import json
import os
import signal
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import MongoClient, ReturnDocument

from crm_cli.stack import ServiceProcess, free_port
from crm_kit.jobs import EXPIRED
from engagement_support import TASK_CREATED, Feed, registered, tier_changed
from support import eventually, read_topic

pytestmark = pytest.mark.e2e

CUSTOMERS = 200
CHUNK = 5
LEASE = "engagement:scheduler"
RELAY_LEASE = "outbox-relay:engagement"


def start(env, tmp_path, name, day):
    proc = ServiceProcess(
        name,
        "crm_engagement.main:create_app",
        "ENGAGEMENT_PORT",
        free_port(),
        {**env, "CLOCK_DATE": day},
        log_path=tmp_path / f"{name}.log",
    )
    return proc.start()


def pid_of(owner: str) -> int:
    return int(owner.split(":")[1])  # host:pid:object


async def test_a_scheduler_holder_paused_past_its_lease_writes_and_publishes_nothing_once_resumed(
    service_env, tmp_path
):
    env = {**service_env, "SCHEDULER_CHUNK_SIZE": str(CHUNK), "SCHEDULER_INTERVAL_SECONDS": "0.2", "LEASE_SECONDS": "3"}
    feed = Feed(env)
    ids = [f"CS{i:04d}" for i in range(CUSTOMERS)]
    mongo = MongoClient(env["MONGODB_URI"], serverSelectionTimeoutMS=5000)
    db = mongo[env["MONGODB_DATABASE"]]
    replicas, holder, relayed_by_holder = [], None, None
    try:
        # Day 1 (2026-09-19): the customers arrive; 中秋 (09-25) is still beyond the vip lead time.
        proc = await asyncio.to_thread(start, env, tmp_path, "engagement-day1", "2026-09-19")
        try:
            await feed.profile(*[registered(cid) for cid in ids])
            await feed.tiering(*[tier_changed(cid, "vip", reason="first_tier") for cid in ids])

            async def all_tiered():
                return db["customers"].count_documents({"tier": "vip", "owner": "S-RM1"}) == CUSTOMERS

            await eventually(all_tiered, timeout=120, interval=0.5)
        finally:
            await asyncio.to_thread(proc.stop)

        # Day 2 (2026-09-20): two replicas; the one holding the scheduler's lease plans 中秋 chunk by chunk. Until
        # both are up, a third holder (the test) keeps the lease, then lets it go.
        kept = db["leases"].find_one_and_update(
            {"_id": LEASE},
            {"$set": {"owner": "test:0:0", "until": datetime.now(UTC) + timedelta(hours=1)}, "$inc": {"epoch": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        replicas = [await asyncio.to_thread(start, env, tmp_path, f"engagement-{n}", "2026-09-20") for n in (1, 2)]
        by_pid = {p.pid: p for p in replicas}
        db["leases"].update_one({"_id": LEASE}, {"$set": {"until": EXPIRED}})
        deadline = time.monotonic() + 90
        while True:
            assert time.monotonic() < deadline, "the care run never got under way"
            state = db["scheduler"].find_one({"_id": "care:2026-09-20"}) or {}
            lease = db["leases"].find_one({"_id": LEASE})
            if lease and lease["epoch"] > kept["epoch"] and 0 < state.get("visited", 0) < CUSTOMERS // 3:
                holder = by_pid[pid_of(lease["owner"])]
                os.kill(holder.pid, signal.SIGSTOP)
                break
            assert not state.get("done"), f"the care run finished before it could be interrupted: {state}"
            await asyncio.sleep(0.01)
        other = next(p for p in replicas if p is not holder)
        epoch = lease["epoch"]

        async def taken_over():
            doc = db["leases"].find_one({"_id": LEASE})
            return doc["epoch"] > epoch and pid_of(doc["owner"]) == other.pid and doc

        # Once the takeover is recorded nothing of the old epoch can commit any more: count what it wrote.
        await eventually(taken_over, timeout=90, interval=0.2)
        of_old_epoch = {"lease.name": LEASE, "lease.epoch": epoch}
        written_before = db["outbox"].count_documents(of_old_epoch)
        assert written_before > 0  # it had planned some chunks itself

        async def finished():
            return (db["scheduler"].find_one({"_id": "care:2026-09-20"}) or {}).get("done")

        await eventually(finished, timeout=120, interval=0.5)

        # Rows the stopped replica's relay marked sent under a relay lease it held before it was stopped. Resumed,
        # it may take the relay's lease again later, like any replica, but only with a higher epoch.
        # Whatever relay lease it held, it loses while stopped: the other replica has rows to relay and takes it.
        async def relay_taken_over():
            doc = db["leases"].find_one({"_id": RELAY_LEASE})
            return doc if doc and pid_of(doc["owner"]) != holder.pid else None

        relay = await eventually(relay_taken_over, timeout=60, interval=0.2)
        relayed_by_holder = {"sent_by.owner": {"$regex": f":{holder.pid}:"}, "sent_by.epoch": {"$lte": relay["epoch"]}}
        relayed_before = db["outbox"].count_documents(relayed_by_holder)
        resumed_ms = int(time.time() * 1000)
        os.kill(holder.pid, signal.SIGCONT)
        await asyncio.sleep(5)  # the resumed holder carries on where it stopped: its step, its relay
        assert holder.is_running()
        assert db["outbox"].count_documents(of_old_epoch) == written_before
        assert db["outbox"].count_documents(relayed_by_holder) == relayed_before
        records = await read_topic(
            feed.bootstrap,
            feed.topic("crm.engagement.tasks"),
            timeout=60,
            settle=2.0,
            until=lambda rs: len(_festival_tasks(rs)) >= CUSTOMERS,
        )
    finally:
        for p in replicas:
            if p.is_running():
                os.kill(p.pid, signal.SIGCONT)
            await asyncio.to_thread(p.stop)
        try:
            tasks = list(db["tasks"].find({"kind": "festival"}))
            state = db["scheduler"].find_one({"_id": "care:2026-09-20"})
            holder_epochs = (
                {d["sent_by"]["epoch"] for d in db["outbox"].find(relayed_by_holder, {"sent_by": 1})}
                if relayed_by_holder
                else set()
            )
        finally:
            mongo.close()

    per_customer = defaultdict(list)
    for t in tasks:
        per_customer[t["customer_id"]].append(t["_id"])
    assert sorted(per_customer) == ids and {c: v for c, v in per_customer.items() if len(v) != 1} == {}
    assert state["visited"] == CUSTOMERS  # the cursor and the tasks in step: no chunk counted twice
    by_task = _festival_tasks(records)
    assert set(by_task) == {t["_id"] for t in tasks}
    assert {tid: ev for tid, ev in by_task.items() if len(ev) != 1} == {}  # one CloudEvent per task
    # Nothing the stopped replica's relay sent under a lease it had lost bears a time after it was resumed.
    late = [
        r
        for r in records
        if dict(r.headers).get("crm_relay_epoch", b"").decode() in {str(e) for e in holder_epochs}
        and r.timestamp >= resumed_ms
    ]
    assert late == []
    for p in replicas:  # and no write of the scheduler (or the calendar job) went around the fence
        assert "outside a fenced transaction" not in (tmp_path / f"{p.name}.log").read_text()


def _festival_tasks(records) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for r in records:
        e = json.loads(r.value)
        if e["type"] == TASK_CREATED and e["data"]["kind"] == "festival":
            out[e["data"]["task_id"]].add(e["id"])
    return out
