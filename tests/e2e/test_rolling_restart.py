"""A rolling deploy: two replicas of the profile service share a balance feed from core banking while
each is restarted in turn with SIGTERM. Nothing is lost and nothing applied twice: every customer's
assets-changed events are exactly the days whose AUM changed, once each, in order; a stopped replica
leaves no lease behind."""

import asyncio
import json
import random
import signal
from datetime import date, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from crm_cli.demo_data import make_balance
from crm_cli.seed import seed
from crm_cli.stack import ServiceProcess, free_port
from crm_kit.jobs import EXPIRED
from support import of_type, read_topic

pytestmark = pytest.mark.e2e

CUSTOMERS = 16
DAYS = 12
FIRST_DAY = date(2031, 3, 1)
ASSETS_CHANGED = "crm.profile.customer.assets-changed.v1"


def replica(env, tmp_path, name):
    proc = ServiceProcess(
        name, "crm_profile.main:create_app", "PROFILE_PORT", free_port(), env, log_path=tmp_path / f"{name}.log"
    )
    return proc.start()


def expected_changes(feed):
    """(customer's core no, day) of each snapshot whose AUM differs from that customer's day before."""
    last: dict[str, str] = {}
    wanted = set()
    for snap in feed:
        if last.get(snap["core_customer_no"]) != snap["aum"]:
            wanted.add((snap["core_customer_no"], snap["as_of"]))
        last[snap["core_customer_no"]] = snap["aum"]
    return wanted


async def leases_of(db, pid):
    """The leases a process still holds: a released lease keeps its document (and epoch) but has expired."""
    held = await db["leases"].find({"owner": {"$regex": f":{pid}:"}}).to_list()
    return [lease for lease in held if lease["until"] != EXPIRED]


async def test_replicas_restarted_one_by_one_under_load_lose_nothing_and_apply_nothing_twice(
    service_env, stack, tmp_path
):
    env = {**service_env, "KAFKA_TOPIC_PARTITIONS": "4"}
    prefix = env["KAFKA_TOPIC_PREFIX"]
    a, b = await asyncio.gather(
        asyncio.to_thread(replica, env, tmp_path, "profile-a"), asyncio.to_thread(replica, env, tmp_path, "profile-b")
    )
    running = {"a": a, "b": b}
    mongo = AsyncMongoClient(env["MONGODB_URI"], tz_aware=True)
    db = mongo[env["MONGODB_DATABASE"]]
    try:
        seeded = await seed(api=a.base_url, secrets=env, count=CUSTOMERS, staff_file=None)
        core_nos = [c["core_customer_no"] for c in seeded["customers"]]
        rng = random.Random(11)
        feed: list[dict] = []
        restarted = asyncio.Event()

        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
        await producer.start()

        async def core_banking_feed():
            # One day of the feed every 0.3 s, keyed by customer as core banking sends it, from before the
            # first restart until after the last.
            day = 0
            while not restarted.is_set() or day < DAYS:
                for no in core_nos:
                    snap = make_balance(rng, no, FIRST_DAY + timedelta(days=day))
                    feed.append(snap)
                    await producer.send(f"{prefix}corebank.balances", json.dumps(snap).encode(), key=no.encode())
                await producer.flush()
                day += 1
                await asyncio.sleep(0.3)

        feeding = asyncio.create_task(core_banking_feed())
        try:
            for name in ("a", "b"):
                await asyncio.sleep(2)
                old = running[name]
                code = await asyncio.to_thread(old.stop)
                assert code in (0, -signal.SIGTERM), f"{old.name} did not stop cleanly: {old.log_tail()}"
                assert await leases_of(db, old.pid) == [], f"{old.name} left its leases behind"
                running[name] = await asyncio.to_thread(replica, env, tmp_path, f"profile-{name}2")
            restarted.set()
            await feeding
        finally:
            feeding.cancel()
            await producer.stop()
        assert len(feed) > DAYS * CUSTOMERS, "the feed ended before the restarts"

        wanted = expected_changes(feed)

        def in_feed(records):
            return [e for e in of_type(records, ASSETS_CHANGED) if e["data"]["as_of"] >= FIRST_DAY.isoformat()]

        records = await read_topic(
            stack.kafka_bootstrap,
            f"{prefix}crm.profile.customers",
            until=lambda rs: len(in_feed(rs)) >= len(wanted),
            timeout=120,
            settle=3,
        )
        published = [(e["data"]["core_customer_no"], e["data"]["as_of"]) for e in in_feed(records)]
        assert sorted(set(published)) == sorted(wanted), "events lost"
        assert len(published) == len(set(published)), "an event published twice"
        last_sequence: dict[bytes, int] = {}
        for record in records:  # each customer's events numbered 1, 2, 3 … with no gap and no repeat
            sequence = int(dict(record.headers)["ce_sequence"])
            assert sequence == last_sequence.get(record.key, 0) + 1
            last_sequence[record.key] = sequence
    finally:
        for proc in running.values():
            await asyncio.to_thread(proc.stop)
        await mongo.close()
    for proc in running.values():
        assert leases_released(env, proc.pid)


def leases_released(env, pid):
    from pymongo import MongoClient

    client = MongoClient(env["MONGODB_URI"])
    try:
        held = client[env["MONGODB_DATABASE"]]["leases"].find({"owner": {"$regex": f":{pid}:"}})
        return [lease for lease in held if lease["until"].replace(tzinfo=EXPIRED.tzinfo) != EXPIRED] == []
    finally:
        client.close()
