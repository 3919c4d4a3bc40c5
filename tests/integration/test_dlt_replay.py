"""`crm dlt list|show|replay` against the real broker and database: a deposit refused for an unknown
account is listed with its reason, shown with personal data masked, replayed after the account is opened
and applied once — a second replay is refused, and a replay sent twice anyway has no second effect. The
other group on the topic, which applied the deposit the first time, does not apply the replay."""

import asyncio

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from crm_cli import dlt
from crm_cli.main import app
from crm_kit.messaging import Rejection
from crm_kit.runtime import Runtime
from crm_kit.settings import ServiceSettings
from support import eventually, produce, settings_kwargs

pytestmark = pytest.mark.integration


class Deposit(BaseModel):
    account: str
    amount: int
    note: str = ""


def make_runtime(env):
    settings = ServiceSettings(**{"service_name": "dlt-test", "port": 1, **settings_kwargs(env)})
    rt = Runtime(settings, topics=["deposits"])
    db = rt.mongo.db

    async def post(session, items):
        """A deliberately non-idempotent effect ($inc): a second application would show."""
        rejections = []
        for item in items:
            if not await db["open_accounts"].find_one({"_id": item.payload.account}, session=session):
                rejections.append(Rejection(item, f"account: unknown account {item.payload.account}"))
                continue
            if item.payload.amount < 0:
                rejections.append(Rejection(item, "amount: must not be negative"))
                continue
            await db["accounts"].update_one(
                {"_id": item.payload.account}, {"$inc": {"total": item.payload.amount}}, upsert=True, session=session
            )
        return rejections

    async def count(session, items):
        """Another group on the same topic: counts every deposit it sees."""
        for item in items:
            await db["seen"].update_one({"_id": item.payload.account}, {"$inc": {"n": 1}}, upsert=True, session=session)
        return []

    rt.consume(topic="deposits", group="deposits", parse=Deposit.model_validate_json, handle=post)
    rt.consume(topic="deposits", group="statistics", parse=Deposit.model_validate_json, handle=count)
    return rt


async def field(collection, _id, name):
    doc = await collection.find_one({"_id": _id})
    return doc and doc.get(name)


def crm(env, *args):
    """Run `crm` as ops would, in a thread (it runs its own event loop)."""
    environ = {
        "KAFKA_BOOTSTRAP_SERVERS": env["KAFKA_BOOTSTRAP_SERVERS"],
        "KAFKA_TOPIC_PREFIX": env["KAFKA_TOPIC_PREFIX"],
        "MONGODB_URI": env["MONGODB_URI"],
        "CRM_OPS_DATABASE": env["MONGODB_DATABASE"],
        "COLUMNS": "300",
    }
    return asyncio.to_thread(CliRunner().invoke, app, ["dlt", *args], env=environ)


async def letters_of(env):
    topic = env["KAFKA_TOPIC_PREFIX"] + "deposits.dlt"
    return (await dlt.read_dead_letters(env["KAFKA_BOOTSTRAP_SERVERS"], [topic]))[topic]


async def test_a_refused_deposit_is_replayed_after_the_fix_and_applied_once(service_env, stack):
    rt = make_runtime(service_env)
    db = rt.mongo.db
    await db["open_accounts"].insert_many([{"_id": "A"}])
    await rt.start()
    try:
        await produce(
            stack.kafka_bootstrap,
            rt.topic("deposits"),
            [
                {"account": "A", "amount": 5},
                {"account": "B", "amount": 7, "note": "customer 110101199003074578 called from 13812345678"},
                {"account": "A", "amount": -1},
            ],
        )
        letters = await eventually(lambda: _when(letters_of(service_env), 2))
        assert await field(db["accounts"], "A", "total") == 5
        assert await eventually(lambda: field(db["seen"], "B", "n")) == 1

        listed = await crm(service_env, "list")
        assert listed.exit_code == 0, listed.output
        assert f"{rt.topic('deposits.dlt')}: 2 dead letters" in listed.output
        unknown = next(x for x in letters if "unknown account" in x.reason)
        assert unknown.coordinates in listed.output and "unknown account B" in listed.output
        assert "must not be negative" in listed.output and rt.topic("deposits") in listed.output

        shown = await crm(service_env, "show", unknown.coordinates)
        assert shown.exit_code == 0, shown.output
        assert "138****5678" in shown.output and "110*" in shown.output
        assert "13812345678" not in shown.output and "110101199003074578" not in shown.output
        raw = await crm(service_env, "show", unknown.coordinates, "--raw")
        assert "13812345678" in raw.output

        # The fix, then the replay of every letter whose reason says the account was unknown.
        await db["open_accounts"].insert_one({"_id": "B"})
        replayed = await crm(
            service_env,
            "replay",
            "--topic",
            "deposits",
            "--reason",
            "unknown account",
            "--by",
            "S-OPS1",
            "--why",
            "account B opened (ticket OPS-17)",
        )
        assert replayed.exit_code == 0, replayed.output
        assert "1 replayed, 0 refused" in replayed.output
        assert await eventually(lambda: field(db["accounts"], "B", "total")) == 7

        row = await db[dlt.AUDIT_COLLECTION].find_one({"_id": unknown.replay_id})
        assert row["by"] == "S-OPS1" and row["why"] == "account B opened (ticket OPS-17)" and row["state"] == "sent"
        assert row["letter"] == {"topic": unknown.topic, "partition": unknown.partition, "offset": unknown.offset}
        assert row["group"] == rt.topic("deposits") and row["at"] is not None

        # Replayed again: refused, and the record says by whom it was replayed.
        again = await crm(service_env, "replay", unknown.coordinates, "--by", "S-OPS2", "--why", "once more")
        assert again.exit_code == 3, again.output
        assert "already replayed by S-OPS1" in again.output

        # Sent again anyway (two operators at once, a run that died after sending): a duplicate. A later deposit
        # on the same partition shows the consumer has passed it.
        topic, key, value, headers = dlt.replay_message(unknown, by="S-OPS2")
        await produce_with_headers(stack.kafka_bootstrap, topic, key, value, headers)
        await db["open_accounts"].insert_one({"_id": "MARK"})
        await produce(stack.kafka_bootstrap, rt.topic("deposits"), [{"account": "MARK", "amount": 1}])
        await eventually(lambda: field(db["accounts"], "MARK", "total"))
        assert await field(db["accounts"], "B", "total") == 7
        # The other group applied B's deposit the first time and skips its replays.
        await eventually(lambda: field(db["seen"], "MARK", "n"))
        assert await field(db["seen"], "B", "n") == 1
        assert len(await letters_of(service_env)) == 2  # the replays were not dead-lettered again
    finally:
        await rt.stop()


async def _when(awaitable, n):
    found = await awaitable
    return found if len(found) >= n else None


async def produce_with_headers(bootstrap, topic, key, value, headers):
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def test_a_replay_before_the_fix_is_dead_lettered_again_and_can_be_replayed_after_it(service_env, stack):
    rt = make_runtime(service_env)
    db = rt.mongo.db
    await rt.start()
    try:
        await produce(stack.kafka_bootstrap, rt.topic("deposits"), [{"account": "C", "amount": 3}])
        [first] = await eventually(lambda: _when(letters_of(service_env), 1))
        early = await crm(service_env, "replay", first.coordinates, "--by", "S-OPS1", "--why", "too early")
        assert early.exit_code == 0, early.output
        letters = await eventually(lambda: _when(letters_of(service_env), 2))
        second = (
            letters[-1]
            if letters[-1].offset != first.offset or letters[-1].partition != first.partition
            else letters[0]
        )
        assert second.source_topic == rt.topic("deposits") and "unknown account C" in second.reason

        await db["open_accounts"].insert_one({"_id": "C"})
        late = await crm(service_env, "replay", second.coordinates, "--by", "S-OPS1", "--why", "account C opened")
        assert late.exit_code == 0, late.output
        assert await eventually(lambda: field(db["accounts"], "C", "total")) == 3
    finally:
        await rt.stop()


async def test_unknown_coordinates_are_refused_and_nothing_is_recorded(service_env, stack):
    rt = make_runtime(service_env)
    await rt.start()
    try:
        result = await crm(service_env, "replay", "deposits.dlt:0:99", "--by", "S-OPS1", "--why", "typo")
        assert result.exit_code == 1 and "no dead letter at deposits.dlt:0:99" in result.output
        assert await rt.mongo.db[dlt.AUDIT_COLLECTION].count_documents({}) == 0
        missing_by = await crm(service_env, "replay", "deposits.dlt:0:0", "--why", "no operator")
        assert missing_by.exit_code != 0 and "--by" in missing_by.output
    finally:
        await rt.stop()
