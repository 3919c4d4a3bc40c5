"""Two replicas of the tiering service (uvicorn processes) share the policy rollout's lease. The holder is stopped
(SIGSTOP) part-way through a rollout, past its lease; the other replica takes over and finishes it; the stopped
one is resumed (SIGCONT). The resumed holder writes nothing after losing the lease: the rollout counts each
customer once, each customer whose tier changed has one tier-changed event under the new policy, and no outbox
row of the old epoch is added after the takeover."""

import asyncio
import json
import os
import signal
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from pymongo import MongoClient, ReturnDocument

from crm_cli.stack import ServiceProcess, free_port
from crm_kit.jobs import EXPIRED
from support import eventually
from tiering_support import TIER_CHANGED, Feed, assets, auth, envelope, registered

pytestmark = pytest.mark.e2e

CUSTOMERS = 300
CHUNK = 10
D0 = date(2026, 9, 1)
AMOUNTS = ("450000.00", "250000.00", "600000.00")  # every third customer: potential, then vip from 400,000
LEASE = "tiering:policy-rollout"


def start(env, tmp_path, name):
    proc = ServiceProcess(
        name, "crm_tiering.main:create_app", "TIERING_PORT", free_port(), env, log_path=tmp_path / f"{name}.log"
    )
    return proc.start()


def pid_of(owner: str) -> int:
    return int(owner.split(":")[1])  # host:pid:object


async def test_a_rollout_holder_paused_past_its_lease_writes_nothing_once_resumed(service_env, tmp_path, token_for):
    env = {**service_env, "ROLLOUT_CHUNK_SIZE": str(CHUNK), "LEASE_SECONDS": "3"}
    feed = Feed(env)
    head_office = token_for("head_office", "S-HO1", None)
    ids = [f"CX{i:04d}" for i in range(CUSTOMERS)]
    amount = {cid: AMOUNTS[i % 3] for i, cid in enumerate(ids)}
    changing = {cid for cid in ids if amount[cid] == "450000.00"}
    mongo = MongoClient(env["MONGODB_URI"], serverSelectionTimeoutMS=5000)
    db = mongo[env["MONGODB_DATABASE"]]
    replicas = []
    try:
        # Until both replicas are up, a third holder (the test) keeps the rollout's lease.
        kept = db["leases"].find_one_and_update(
            {"_id": LEASE},
            {"$set": {"owner": "test:0:0", "until": datetime.now(UTC) + timedelta(hours=1)}, "$inc": {"epoch": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        replicas = [await asyncio.to_thread(start, env, tmp_path, f"tiering-{n}") for n in (1, 2)]
        by_pid = {p.pid: p for p in replicas}
        await feed.send_raw(
            "crm.profile.customers",
            [(envelope(*registered(cid)), cid) for cid in ids]
            + [(envelope(*assets(cid, D0, amount[cid])), cid) for cid in ids],
        )
        assert len(await feed.published(TIER_CHANGED, count=CUSTOMERS, timeout=120)) == CUSTOMERS

        async with httpx.AsyncClient(base_url=replicas[0].base_url, headers=auth(head_office), timeout=10) as client:
            policy = (await client.get("/v1/policy")).json()["policy"]
            policy["tiers"][3]["lower_bound"] = "400000.00"
            r = await client.put("/v1/policy", json={"policy": policy, "note": "vip from 40万"})
            assert r.status_code == 202, r.text
            rollout = r.json()
        db["leases"].update_one({"_id": LEASE}, {"$set": {"until": EXPIRED}})

        deadline = time.monotonic() + 90
        while True:
            assert time.monotonic() < deadline, "the rollout never got under way"
            seen = db["rollouts"].find_one({"_id": rollout["id"]})
            lease = db["leases"].find_one({"_id": LEASE})
            if lease["epoch"] > kept["epoch"] and 0 < seen["done"] < CUSTOMERS // 2:
                holder = by_pid[pid_of(lease["owner"])]
                os.kill(holder.pid, signal.SIGSTOP)
                break
            assert seen["status"] == "running", f"the rollout finished before it could be interrupted: {seen}"
            await asyncio.sleep(0.01)
        other = next(p for p in replicas if p is not holder)
        epoch = lease["epoch"]

        async def taken_over():
            doc = db["leases"].find_one({"_id": LEASE})
            return doc["epoch"] > epoch and pid_of(doc["owner"]) == other.pid

        await eventually(taken_over, timeout=90, interval=0.2)
        of_old_epoch = {"lease.name": LEASE, "lease.epoch": epoch}
        written_before = db["outbox"].count_documents(of_old_epoch)

        async def finished():
            return db["rollouts"].find_one({"_id": rollout["id"], "status": "done"})

        await eventually(finished, timeout=120, interval=0.5)
        os.kill(holder.pid, signal.SIGCONT)
        await asyncio.sleep(5)  # the resumed holder carries on where it stopped
        assert holder.is_running()
        assert db["outbox"].count_documents(of_old_epoch) == written_before
        done = db["rollouts"].find_one({"_id": rollout["id"]})
        records = await feed.records(until=lambda rs: len(_v2(rs)) >= len(changing), timeout=60, settle=2.0)
    finally:
        for p in replicas:
            if p.is_running():
                os.kill(p.pid, signal.SIGCONT)
            await asyncio.to_thread(p.stop)
        mongo.close()

    # Each customer counted once, though two holders worked on the rollout.
    assert (done["done"], done["changed"]) == (CUSTOMERS, len(changing))
    by_customer: dict[str, set[str]] = defaultdict(set)
    for e in _v2(records):
        by_customer[e["subject"]].add(e["id"])
    assert set(by_customer) == changing
    assert {cid: evs for cid, evs in by_customer.items() if len(evs) != 1} == {}
    for p in replicas:
        assert "outside a fenced transaction" not in (tmp_path / f"{p.name}.log").read_text()


def _v2(records) -> list[dict]:
    out = []
    for r in records:
        event = json.loads(r.value)
        if event["type"] == TIER_CHANGED and event["data"]["policy_version"] == 2:
            out.append(event)
    return out
