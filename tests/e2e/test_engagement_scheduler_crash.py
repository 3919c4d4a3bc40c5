"""The engagement service as ops run it (a uvicorn process): its scheduler killed half-way through a day's care
moments and started again creates every task once — none missing, none twice — and publishes each once."""

import asyncio
import json
import os
import signal
import time
from collections import defaultdict

import pytest
from pymongo import MongoClient

from crm_cli.stack import ServiceProcess, free_port
from engagement_support import TASK_CREATED, Feed, registered, tier_changed
from support import eventually, read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(540)]

CUSTOMERS = 400
CHUNK = 10


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


async def test_a_scheduler_killed_half_way_creates_no_duplicate_tasks(service_env, tmp_path):
    env = {**service_env, "SCHEDULER_CHUNK_SIZE": str(CHUNK), "SCHEDULER_INTERVAL_SECONDS": "0.2", "LOG_FORMAT": "json"}
    feed = Feed(env)
    ids = [f"CS{i:04d}" for i in range(CUSTOMERS)]
    mongo = MongoClient(env["MONGODB_URI"], serverSelectionTimeoutMS=5000)
    db = mongo[env["MONGODB_DATABASE"]]
    try:
        # Day 1 (2026-09-19): the customers arrive; 中秋 (09-25) is still beyond the vip lead time of 5 days.
        proc = await asyncio.to_thread(start, env, tmp_path, "engagement-1", "2026-09-19")
        try:
            await feed.profile(*[registered(cid) for cid in ids])
            await feed.tiering(*[tier_changed(cid, "vip", reason="first_tier") for cid in ids])

            async def all_tiered():
                return db["customers"].count_documents({"tier": "vip", "owner": "S-RM1"}) == CUSTOMERS

            await eventually(all_tiered, timeout=120, interval=0.5)
        finally:
            await asyncio.to_thread(proc.stop)
        assert db["tasks"].count_documents({"kind": "festival"}) == 0

        # Day 2 (2026-09-20): the scheduler plans 中秋 for every customer, chunk by chunk; kill it part-way.
        proc = await asyncio.to_thread(start, env, tmp_path, "engagement-2", "2026-09-20")
        killed = False
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                state = db["scheduler"].find_one({"_id": "care:2026-09-20"})
                if state and 0 < state.get("visited", 0) < CUSTOMERS and not state.get("done"):
                    os.kill(proc.pid, signal.SIGKILL)
                    killed = True
                    break
                assert not (state and state.get("done")), (
                    f"the care run finished before it could be interrupted: {state}"
                )
                await asyncio.sleep(0.01)
        finally:
            await asyncio.to_thread(proc.stop, 5)
        assert killed and proc.returncode == -signal.SIGKILL
        left = db["scheduler"].find_one({"_id": "care:2026-09-20"})
        planned = db["tasks"].count_documents({"kind": "festival"})
        assert not left["done"] and 0 < planned < CUSTOMERS and left["visited"] % CHUNK == 0, (left, planned)
        assert planned == left["visited"]  # the cursor and the chunk's tasks committed together

        # Started again, the same day: the run resumes after the dead process's lease runs out.
        proc = await asyncio.to_thread(start, env, tmp_path, "engagement-3", "2026-09-20")
        try:

            async def finished():
                state = db["scheduler"].find_one({"_id": "care:2026-09-20"})
                return state and state.get("done")

            # The killed process may have died inside a transaction that wrote the lease: the database aborts it
            # after its 60 s lifetime, and only then can the lease change hands.
            await eventually(finished, timeout=200, interval=0.5)
            records = await read_topic(
                feed.bootstrap,
                feed.topic("crm.engagement.tasks"),
                timeout=60,
                settle=2.0,
                until=lambda rs: len(_festival_task_ids(rs)) >= CUSTOMERS,
            )
        finally:
            await asyncio.to_thread(proc.stop)

        tasks = list(db["tasks"].find({"kind": "festival"}))
        per_customer = defaultdict(list)
        for t in tasks:
            per_customer[t["customer_id"]].append(t["_id"])
        assert sorted(per_customer) == ids
        assert {cid: v for cid, v in per_customer.items() if len(v) != 1} == {}
        assert {t["due_on"] for t in tasks} == {"2026-09-25"}
        # Published once each: the relay may send an event again after a crash, but with the same CloudEvent id.
        by_task = defaultdict(set)
        for r in records:
            e = json.loads(r.value)
            if e["type"] == TASK_CREATED and e["data"]["kind"] == "festival":
                by_task[e["data"]["task_id"]].add(e["id"])
        assert set(by_task) == {t["_id"] for t in tasks}
        assert {tid: ev for tid, ev in by_task.items() if len(ev) != 1} == {}
    finally:
        mongo.close()


def _festival_task_ids(records) -> set[str]:
    out = set()
    for r in records:
        e = json.loads(r.value)
        if e["type"] == TASK_CREATED and e["data"]["kind"] == "festival":
            out.add(e["data"]["task_id"])
    return out
