"""The kit's reliability promises, against the real broker and database: outbox survives a crash,
a redelivered message has no second effect, poison messages go to dead letters and the partition
moves on."""

import asyncio
import json

import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import BaseModel

from crm_contracts.envelope import CloudEvent
from crm_contracts.profile import CustomerUpdated
from crm_kit.messaging import Rejection
from crm_kit.outbox import event_message
from crm_kit.runtime import Runtime
from crm_kit.settings import ServiceSettings
from support import eventually, produce, read_topic, settings_kwargs

pytestmark = pytest.mark.integration


class Deposit(BaseModel):
    account: str
    amount: int


def make_runtime(env, **over):
    settings = ServiceSettings(**{"service_name": "kit-test", "port": 1, **settings_kwargs(env), **over})
    return Runtime(settings, topics=["deposits"])


def deposits_consumer(rt, fail_on=frozenset()):
    """A deliberately non-idempotent effect ($inc) so a second application would show."""
    accounts = rt.mongo.db["accounts"]

    async def handle(session, items):
        rejections = []
        for item in items:
            if item.payload.account in fail_on:
                raise RuntimeError(f"cannot post to {item.payload.account}")
            if item.payload.amount < 0:
                rejections.append(Rejection(item, "amount: must not be negative"))
                continue
            await accounts.update_one(
                {"_id": item.payload.account}, {"$inc": {"total": item.payload.amount}}, upsert=True, session=session
            )
        return rejections

    rt.consume(topic="deposits", group="deposits", parse=Deposit.model_validate_json, handle=handle)
    return accounts


async def total(accounts, account):
    doc = await accounts.find_one({"_id": account})
    return doc and doc["total"]


async def test_redelivered_message_has_no_second_effect(service_env, stack):
    rt = make_runtime(service_env)
    accounts = deposits_consumer(rt)
    await rt.start()
    try:
        await produce(
            stack.kafka_bootstrap, rt.topic("deposits"), [{"account": "A", "amount": 5}, {"account": "A", "amount": 7}]
        )
        assert await eventually(lambda: total(accounts, "A")) == 12
    finally:
        await rt.stop()

    # Rewind the group's committed offsets, as a crash before the commit would leave them.
    group = rt.settings.topic("deposits")
    rewind = AIOKafkaConsumer(
        rt.topic("deposits"), bootstrap_servers=stack.kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await rewind.start()
    try:
        while not rewind.assignment():
            await rewind.getmany(timeout_ms=200)
        await rewind.commit({tp: 0 for tp in rewind.assignment()})
    finally:
        await rewind.stop()

    rt2 = make_runtime(service_env)
    accounts2 = deposits_consumer(rt2)
    await rt2.start()
    try:
        await produce(stack.kafka_bootstrap, rt2.topic("deposits"), [{"account": "B", "amount": 1}])
        assert await eventually(lambda: total(accounts2, "B")) == 1  # the redelivered ones came before this one
        assert await total(accounts2, "A") == 12
    finally:
        await rt2.stop()


async def test_poison_messages_go_to_dead_letters_and_the_partition_moves_on(service_env, stack):
    rt = make_runtime(service_env, consumer_max_attempts=2, consumer_retry_backoff_seconds=0.01)
    accounts = deposits_consumer(rt, fail_on={"BROKEN"})
    await rt.start()
    try:
        topic = rt.topic("deposits")
        await produce(
            stack.kafka_bootstrap,
            topic,
            [
                b"{not json",
                {"account": "C", "amount": "lots"},
                {"account": "C", "amount": -1},
                {"account": "BROKEN", "amount": 3},
                {"account": "C", "amount": 2},
            ],
            key=b"same-partition",
        )
        assert await eventually(lambda: total(accounts, "C")) == 2
        dead = await read_topic(stack.kafka_bootstrap, f"{topic}.dlt", until=lambda rs: len(rs) >= 4)
        errors = {r.value: dict(r.headers) for r in dead}
        assert set(errors) == {
            b"{not json",
            json.dumps({"account": "C", "amount": "lots"}).encode(),
            json.dumps({"account": "C", "amount": -1}).encode(),
            json.dumps({"account": "BROKEN", "amount": 3}).encode(),
        }
        lots = errors[json.dumps({"account": "C", "amount": "lots"}).encode()]
        assert b"amount" in lots["dlt-error"] and lots["dlt-source-topic"] == topic.encode()
        assert lots["dlt-source-offset"] == b"1"
        assert b"cannot post to BROKEN" in errors[json.dumps({"account": "BROKEN", "amount": 3}).encode()]["dlt-error"]
        assert errors[json.dumps({"account": "BROKEN", "amount": 3}).encode()]["dlt-attempts"] == b"2"
        assert await total(accounts, "BROKEN") is None
    finally:
        await rt.stop()


async def test_crash_between_commit_and_publish_loses_no_event(service_env, stack):
    event = CloudEvent.wrap(
        CustomerUpdated(
            customer_id="C1",
            version=2,
            changed_fields=["tags"],
            channel="terminal",
            changed_by="S1",
            changed_at="2026-11-24T00:00:00Z",
        ),
        source="crm/test",
        subject="C1",
    )
    crashed = make_runtime(service_env, outbox_relay_enabled=False)  # the process dies before its relay runs
    await crashed.start()
    topic = crashed.topic("deposits")

    async def commit(session):
        await crashed.mongo.db["accounts"].insert_one({"_id": "C1", "total": 0}, session=session)
        await crashed.outbox.add(session, [event_message(topic, event)])

    await crashed.mongo.transaction(commit)
    for sub in crashed.broker.subscribers:
        await sub.stop()
    await crashed.broker.stop()  # no flush: this is the crash
    assert await read_topic(stack.kafka_bootstrap, topic, timeout=2) == []

    restarted = make_runtime(service_env)
    await restarted.start()
    try:
        recs = await read_topic(stack.kafka_bootstrap, topic, until=lambda rs: len(rs) >= 1)
        assert len(recs) == 1 and recs[0].key == b"C1"
        assert json.loads(recs[0].value)["id"] == str(event.id)
        # Marked sent once the broker acknowledged it (a fenced write just after the send).
        await eventually(lambda: _none_pending(restarted))
    finally:
        await restarted.stop()
    assert len(await read_topic(stack.kafka_bootstrap, topic, timeout=2)) == 1  # and only once


async def _none_pending(runtime) -> bool:
    return await runtime.outbox.collection.count_documents({"sent_at": None}) == 0


async def test_database_faults_are_retried_not_dead_lettered(service_env, stack):
    rt = make_runtime(service_env, consumer_max_attempts=2, consumer_retry_backoff_seconds=0.05)
    accounts = deposits_consumer(rt)
    await rt.start()
    admin = rt.mongo.client.admin
    try:
        try:
            # Network errors on the next writes, as in a failover: the effect must still land exactly once.
            await admin.command(
                {
                    "configureFailPoint": "failCommand",
                    "mode": {"times": 3},
                    "data": {"failCommands": ["update", "insert"], "closeConnection": True},
                }
            )
        except Exception as exc:  # noqa: BLE001 - a server without test commands
            pytest.skip(f"server has no test commands: {exc}")
        await produce(stack.kafka_bootstrap, rt.topic("deposits"), [{"account": "D", "amount": 4}])
        assert await eventually(lambda: total(accounts, "D")) == 4
        assert await read_topic(stack.kafka_bootstrap, f"{rt.topic('deposits')}.dlt", timeout=2) == []
    finally:
        await admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        await rt.stop()


async def test_published_but_not_marked_sent_is_sent_again_and_applied_once(service_env, stack):
    """The other crash window: the broker has the event but the outbox row was not marked sent. The
    relay sends it again (at least once); the consumer's inbox makes the second copy a no-op."""
    producer = make_runtime(service_env)
    await producer.start()
    admin = producer.mongo.client.admin
    topic = producer.topic("deposits")
    event = CloudEvent.wrap(
        CustomerUpdated(
            customer_id="C9",
            version=2,
            changed_fields=["tags"],
            channel="terminal",
            changed_by="S1",
            changed_at="2026-11-24T00:00:00Z",
        ),
        source="crm/test",
        subject="C9",
    )
    try:
        try:
            await admin.command(
                {
                    "configureFailPoint": "failCommand",
                    "mode": {"times": 1},
                    "data": {"failCommands": ["update"], "errorCode": 2},
                }
            )
        except Exception as exc:  # noqa: BLE001 - a server without test commands
            pytest.skip(f"server has no test commands: {exc}")

        async def commit(session):
            await producer.outbox.add(session, [event_message(topic, event)])

        await producer.mongo.transaction(commit)
        producer.outbox.notify()
        copies = await read_topic(stack.kafka_bootstrap, topic, until=lambda rs: len(rs) >= 2, timeout=20)
        assert [json.loads(r.value)["id"] for r in copies] == [str(event.id)] * 2
        assert await eventually(lambda: _all_sent(producer))
    finally:
        await admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        await producer.stop()

    consumer = make_runtime(service_env, service_name="kit-test-consumer")
    applied = consumer.mongo.db["applied"]

    async def handle(session, items):
        for item in items:
            await applied.update_one(
                {"_id": item.payload["subject"]}, {"$inc": {"times": 1}}, upsert=True, session=session
            )
        return []

    consumer.consume(topic="deposits", group="event-readers", parse=json.loads, handle=handle)
    await consumer.start()
    try:
        doc = await eventually(lambda: applied.find_one({"_id": "C9"}))
        await asyncio.sleep(1.0)  # give a second copy every chance to be applied
        assert (await applied.find_one({"_id": "C9"}))["times"] == doc["times"] == 1
    finally:
        await consumer.stop()


async def _all_sent(rt):
    return await rt.outbox.collection.count_documents({"sent_at": None}) == 0


async def test_one_customers_events_go_out_in_their_own_order_even_across_a_batch_cut(service_env, stack):
    """Transactions of two replicas can carry inverted `seq` (their clocks); the relay follows each customer's
    key_seq, also when the batch limit cuts between them (within the allowed clock skew)."""
    from datetime import UTC, datetime, timedelta

    from bson import ObjectId

    rt = make_runtime(service_env, outbox_batch_size=1)
    topic = rt.topic("deposits")
    early = datetime.now(UTC) - timedelta(seconds=5)

    def doc(key_seq, when):
        # What Outbox.add writes: one document per transaction with its messages.
        return {
            "_id": f"C7-{key_seq}",
            "seq": ObjectId.from_datetime(when),
            "created_at": when,
            "sent_at": None,
            "messages": [
                {
                    "id": f"C7-{key_seq}",
                    "topic": topic,
                    "key": "C7",
                    "value": json.dumps({"n": key_seq}).encode(),
                    "headers": {},
                    "key_seq": key_seq,
                }
            ],
        }

    await rt.outbox.collection.insert_many([doc(2, early), doc(1, early + timedelta(seconds=1))])
    await rt.start()
    try:
        records = await read_topic(stack.kafka_bootstrap, topic, until=lambda rs: len(rs) >= 2)
        assert [json.loads(r.value)["n"] for r in records] == [1, 2]
    finally:
        await rt.stop()
