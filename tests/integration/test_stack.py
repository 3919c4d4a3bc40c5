"""The harness stack works: Kafka with consumer groups and manual commits, MongoDB with transactions."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration


async def _create_topic(bootstrap: str, topic: str, partitions: int = 2) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        deadline = time.monotonic() + 15
        while topic not in await admin.list_topics():
            assert time.monotonic() < deadline, f"topic {topic} not listed"
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def _consume(consumer: AIOKafkaConsumer, want: int, timeout: float = 30.0) -> list[Any]:
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(records) < want and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=500)
        for msgs in batch.values():
            records.extend(msgs)
    return records


def _group_consumer(stack: Any, topic: str, group: str) -> AIOKafkaConsumer:
    # Tansu answers a JoinGroup only after half the session timeout: keep it at Kafka's minimum (6 s).
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_000,
    )


async def test_produce_and_consume_with_group_and_manual_commit(stack: Any, service_env: dict[str, str]) -> None:
    topic = f"{service_env['KAFKA_TOPIC_PREFIX']}harness.check"
    group = f"{service_env['KAFKA_TOPIC_PREFIX']}harness-group"
    await _create_topic(stack.kafka_bootstrap, topic)

    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=stack.idempotent_producer
    )
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, f"first-{i}".encode(), key=f"C{i % 3}".encode())
    finally:
        await producer.stop()

    # A group member reads everything and commits by hand.
    consumer = _group_consumer(stack, topic, group)
    await consumer.start()
    try:
        first = await _consume(consumer, 10)
        assert sorted(r.value.decode() for r in first) == sorted(f"first-{i}" for i in range(10))
        # Same key, same partition, in order.
        by_key: dict[bytes, list[str]] = {}
        for r in sorted(first, key=lambda r: (r.partition, r.offset)):
            by_key.setdefault(r.key, []).append(r.value.decode())
            assert {x.partition for x in first if x.key == r.key} == {r.partition}
        for values in by_key.values():
            assert values == sorted(values, key=lambda v: int(v.split("-")[1]))
        await consumer.commit()
        committed = {tp: await consumer.committed(tp) for tp in consumer.assignment()}
        assert sum(v or 0 for v in committed.values()) == 10
    finally:
        await consumer.stop()

    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=stack.idempotent_producer
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"second", key=b"C0")
    finally:
        await producer.stop()

    # The group's committed offsets are where a consumer of that group resumes: only the new record.
    # (Partitions are assigned by hand so the check does not wait for another group rebalance.)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(2)])
        second = await _consume(consumer, 1)
        second += await _consume(consumer, 1, timeout=1.0)  # anything already committed must not come back
        assert [r.value for r in second] == [b"second"]
        tp = TopicPartition(topic, second[0].partition)
        assert await consumer.committed(tp) == second[0].offset  # committed by the first consumer
    finally:
        await consumer.stop()


async def test_transaction_commits_and_abort_leaves_nothing(stack: Any, service_env: dict[str, str]) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_uri)
    try:
        db = client[service_env["MONGODB_DATABASE"]]
        customers, outbox = db["customers"], db["outbox"]
        await customers.insert_one({"_id": "warm-up"})  # collections exist before the transactions
        await outbox.insert_one({"_id": "warm-up"})

        # Commit: both documents appear together.
        async with client.start_session() as session, await session.start_transaction():
            await customers.insert_one({"_id": "C1", "name": "Ann"}, session=session)
            await outbox.insert_one({"_id": "E1", "subject": "C1"}, session=session)
            # Not visible outside the transaction before the commit.
            assert await customers.find_one({"_id": "C1"}) is None
        assert await customers.find_one({"_id": "C1"}) == {"_id": "C1", "name": "Ann"}
        assert await outbox.find_one({"_id": "E1"}) == {"_id": "E1", "subject": "C1"}

        # Abort by an exception: nothing of it remains.
        class Boom(Exception):
            pass

        with pytest.raises(Boom):
            async with client.start_session() as session, await session.start_transaction():
                await customers.insert_one({"_id": "C2", "name": "Bob"}, session=session)
                await outbox.insert_one({"_id": "E2", "subject": "C2"}, session=session)
                await customers.update_one({"_id": "C1"}, {"$set": {"name": "changed"}}, session=session)
                raise Boom

        # Explicit abort, too.
        async with client.start_session() as session:
            await session.start_transaction()
            await customers.insert_one({"_id": "C3"}, session=session)
            await outbox.delete_one({"_id": "E1"}, session=session)
            await session.abort_transaction()

        assert await customers.find_one({"_id": {"$in": ["C2", "C3"]}}) is None
        assert await outbox.find_one({"_id": "E2"}) is None
        assert await outbox.find_one({"_id": "E1"}) is not None
        assert (await customers.find_one({"_id": "C1"}))["name"] == "Ann"
        assert await customers.count_documents({}) == 2
        assert await outbox.count_documents({}) == 2

        # with_transaction (the driver's retrying helper) commits as well.
        async def work(s: Any) -> None:
            await customers.insert_one({"_id": "C4"}, session=s)

        async with client.start_session() as session:
            await session.with_transaction(work)
        assert await customers.count_documents({"_id": "C4"}) == 1
    finally:
        await client.close()


def test_harness_fixtures(
    stack: Any, service_env: dict[str, str], make_service_env: Any, secrets: dict[str, str], token_for: Any
) -> None:
    assert stack.kind in ("env", "testcontainers", "embedded")
    assert service_env["KAFKA_BOOTSTRAP_SERVERS"] == stack.kafka_bootstrap
    assert service_env["MONGODB_URI"] == stack.mongodb_uri
    assert service_env["KAFKA_IDEMPOTENT_PRODUCER"] == ("true" if stack.idempotent_producer else "false")
    assert service_env["KAFKA_TOPIC_PREFIX"].startswith("t") and service_env["KAFKA_TOPIC_PREFIX"].endswith(".")
    other = make_service_env(log_level="DEBUG", outbox_poll_seconds=None)
    assert other["KAFKA_TOPIC_PREFIX"] != service_env["KAFKA_TOPIC_PREFIX"]
    assert other["MONGODB_DATABASE"] != service_env["MONGODB_DATABASE"]
    assert other["LOG_LEVEL"] == "DEBUG" and "OUTBOX_POLL_SECONDS" not in other
    for key in ("CRM_JWT_SECRET", "CRM_DATA_KEY", "CRM_LOOKUP_KEY"):
        assert service_env[key] == secrets[key]

    header = token_for("relationship_manager", "S0003", "BR001")
    scheme, _, token = header.partition(" ")
    assert scheme == "Bearer"
    claims = jwt.decode(token, secrets["CRM_JWT_SECRET"], algorithms=["HS256"])
    assert (claims["sub"], claims["role"], claims["branch"]) == ("S0003", "relationship_manager", "BR001")


async def test_a_transaction_its_client_abandoned_stops_blocking_writes(
    stack: Any, service_env: dict[str, str]
) -> None:
    """A service killed mid-transaction leaves it open on the server; a plain write to the same document (a leased
    job taking over the lease) must go through once the transaction's 60 s lifetime is over, as on mongod. On the
    embedded database that needs the stack's transaction reaper (SecantusDB checks lifetimes only when a client
    touches a transaction, and nothing else runs one while this test waits)."""
    if stack.kind != "embedded":
        pytest.skip("the reaper belongs to the embedded stack; mongod aborts abandoned transactions itself")
    dead = AsyncMongoClient(stack.mongodb_uri)
    alive = AsyncMongoClient(stack.mongodb_uri, socketTimeoutMS=150_000)
    leases = alive[service_env["MONGODB_DATABASE"]]["leases"]
    try:
        await leases.insert_one({"_id": "engagement:scheduler", "epoch": 1})
        abandoned = dead.start_session()
        await abandoned.start_transaction()
        await dead[service_env["MONGODB_DATABASE"]]["leases"].update_one(
            {"_id": "engagement:scheduler"}, {"$set": {"epoch": 2}}, session=abandoned
        )
        # The "dead" client never commits, aborts or ends its session: the server sees what a SIGKILL leaves.
        started = time.monotonic()
        await leases.update_one({"_id": "engagement:scheduler"}, {"$set": {"epoch": 3}})
        waited = time.monotonic() - started
        assert (await leases.find_one({"_id": "engagement:scheduler"}))["epoch"] == 3
        assert 30 < waited < 100, f"the plain write waited {waited:.0f} s (the transaction lives 60 s)"
    finally:
        await alive.close()
        await dead.close()
