"""The tiering service as ops run it (a uvicorn process): killed half-way through a policy rollout, started
again, it finishes the rollout and no customer is re-tiered twice."""

import asyncio
import json
import os
import signal
import time
from collections import defaultdict
from datetime import date

import httpx
import pytest
from pymongo import MongoClient

from crm_cli.stack import ServiceProcess, free_port
from support import eventually
from tiering_support import TIER_CHANGED, Feed, assets, auth, envelope, registered

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(540)]

CUSTOMERS = 300
CHUNK = 20
D0 = date(2026, 9, 1)
# Every third customer is at 450,000: potential under version 1, vip once the vip bound is 400,000.
AMOUNTS = ("450000.00", "250000.00", "600000.00")


def start(env, tmp_path, name):
    proc = ServiceProcess(
        name, "crm_tiering.main:create_app", "TIERING_PORT", free_port(), env, log_path=tmp_path / f"{name}.log"
    )
    return proc.start()


async def test_a_rollout_killed_half_way_resumes_and_re_tiers_each_customer_once(service_env, tmp_path, token_for):
    env = {**service_env, "ROLLOUT_CHUNK_SIZE": str(CHUNK), "LOG_FORMAT": "json"}
    feed = Feed(env)
    head_office = token_for("head_office", "S-HO1", None)
    ids = [f"CX{i:04d}" for i in range(CUSTOMERS)]
    amount = {cid: AMOUNTS[i % 3] for i, cid in enumerate(ids)}
    changing = {cid for cid in ids if amount[cid] == "450000.00"}

    proc = await asyncio.to_thread(start, env, tmp_path, "tiering")
    killed = False
    try:
        await feed.send_raw(
            "crm.profile.customers",
            [(envelope(*registered(cid)), cid) for cid in ids]
            + [(envelope(*assets(cid, D0, amount[cid])), cid) for cid in ids],
        )
        assert len(await feed.published(TIER_CHANGED, count=CUSTOMERS, timeout=120)) == CUSTOMERS

        async with httpx.AsyncClient(base_url=proc.base_url, headers=auth(head_office), timeout=10) as client:
            policy = (await client.get("/v1/policy")).json()["policy"]
            policy["tiers"][3]["lower_bound"] = "400000.00"
            r = await client.put("/v1/policy", json={"policy": policy, "note": "vip from 40万"})
            assert r.status_code == 202, r.text
            rollout = r.json()
            assert rollout["total"] == CUSTOMERS

            # Kill the process as soon as the rollout is part-way through.
            deadline = time.monotonic() + 60
            while True:
                seen = (await client.get(f"/v1/policy/rollouts/{rollout['id']}")).json()
                if 0 < seen["done"] < seen["total"]:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed = True
                    break
                assert seen["status"] == "running", f"the rollout finished before it could be interrupted: {seen}"
                assert time.monotonic() < deadline, f"the rollout did not start: {seen}"
    finally:
        await asyncio.to_thread(proc.stop, 5)
    assert killed and proc.returncode == -signal.SIGKILL

    # What the crash left behind: a rollout part-way (its cursor committed with its last chunk).
    mongo = MongoClient(env["MONGODB_URI"], serverSelectionTimeoutMS=5000)
    try:
        left = mongo[env["MONGODB_DATABASE"]]["rollouts"].find_one({"_id": rollout["id"]})
    finally:
        mongo.close()
    assert left["status"] == "running" and 0 < left["done"] < CUSTOMERS and left["done"] % CHUNK == 0, left

    proc2 = await asyncio.to_thread(start, env, tmp_path, "tiering-restarted")
    try:
        async with httpx.AsyncClient(base_url=proc2.base_url, headers=auth(head_office), timeout=10) as client:

            async def finished():
                got = (await client.get(f"/v1/policy/rollouts/{rollout['id']}")).json()
                return got if got["status"] == "done" else None

            # The dead process's lease on the rollout job runs out first (15 s).
            # The killed process may have died inside a transaction that wrote the lease: the database aborts it
            # after its 60 s lifetime, and only then can the lease change hands.
            done = await eventually(finished, timeout=200, interval=0.5)
            assert (done["total"], done["done"], done["changed"]) == (CUSTOMERS, CUSTOMERS, len(changing))
            page = (await client.get("/v1/customers", params={"tier": "vip", "limit": 500})).json()
            vip = {c["customer_id"] for c in page["items"]}
            assert vip == changing | {cid for cid in ids if amount[cid] == "600000.00"}

        records = await feed.records(until=lambda rs: len(_v2(rs)) >= len(changing), timeout=60, settle=2.0)
    finally:
        await asyncio.to_thread(proc2.stop)

    # Exactly one tier-changed event under version 2 for each customer whose tier changed, none for the others
    # and none twice. The outbox relay publishes at least once: a row sent just before the kill but not yet
    # marked sent goes out again after the restart, with the same CloudEvent id (consumers drop it by its id).
    by_customer: dict[str, dict[str, dict]] = defaultdict(dict)
    for e in _v2(records):
        by_customer[e["subject"]][e["id"]] = e
    assert set(by_customer) == changing
    twice = {cid: list(evs) for cid, evs in by_customer.items() if len(evs) != 1}
    assert twice == {}
    for cid, evs in by_customer.items():
        [e] = evs.values()
        assert (e["data"]["from_tier"], e["data"]["to_tier"], e["data"]["reason"], e["data"]["as_of"]) == (
            "potential",
            "vip",
            "policy_change",
            D0.isoformat(),
        ), cid

    # Each customer's events are numbered 1, 2, … without a gap or a number used by two different events.
    numbers: dict[str, dict[int, str]] = defaultdict(dict)
    for r in records:
        event = json.loads(r.value)
        seq = int(dict(r.headers)["ce_sequence"])
        assert numbers[event["subject"]].setdefault(seq, event["id"]) == event["id"], (event["subject"], seq)
    for cid, seqs in numbers.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), cid


def _v2(records) -> list[dict]:
    out = []
    for r in records:
        event = json.loads(r.value)
        if event["type"] == TIER_CHANGED and event["data"]["policy_version"] == 2:
            out.append(event)
    return out
