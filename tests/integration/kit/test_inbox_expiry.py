"""The inbox's applied ids expire by TTL, against the real database: the index carries the configured
window, a changed window reaches the existing index, and the database deletes the expired ids."""

import asyncio

import pytest
from pydantic import BaseModel

from crm_kit.runtime import Runtime
from crm_kit.settings import ServiceSettings
from support import eventually, produce, settings_kwargs

pytestmark = pytest.mark.integration


class Deposit(BaseModel):
    account: str
    amount: int


def make_runtime(env, **over):
    settings = ServiceSettings(**{"service_name": "inbox-test", "port": 1, **settings_kwargs(env), **over})
    rt = Runtime(settings, topics=["deposits"])

    async def handle(session, items):
        return []

    rt.consume(topic="deposits", group="deposits", parse=Deposit.model_validate_json, handle=handle)
    return rt


async def expiry_window(rt):
    indexes = await rt.inbox.collection.index_information()
    return next((i["expireAfterSeconds"] for i in indexes.values() if i.get("key") == [("at", 1)]), None)


async def sweep_expired(rt, stack):
    """SecantusDB sweeps every 60 s like mongod; its admin command runs the same pass now."""
    if stack.kind == "embedded":
        await rt.mongo.client.admin.command({"secantusAdmin.pruneTtl": 1})


async def test_applied_ids_expire_after_the_window(service_env, stack):
    rt = make_runtime(service_env, inbox_retention_seconds=1)
    await rt.start()
    try:
        assert await expiry_window(rt) == 1
        await produce(stack.kafka_bootstrap, rt.topic("deposits"), [{"account": "A", "amount": 5}])
        applied = await eventually(lambda: rt.inbox.collection.find({}).to_list())
        assert [d["group"] for d in applied] == [rt.topic("deposits")]

        await asyncio.sleep(1.5)

        async def expired():
            await sweep_expired(rt, stack)
            return await rt.inbox.collection.count_documents({}) == 0

        await eventually(expired, timeout=90 if stack.kind != "embedded" else 10, interval=1)
    finally:
        await rt.stop()


async def test_a_changed_window_reaches_the_existing_index(service_env, stack):
    rt = make_runtime(service_env)
    await rt.start()
    try:
        assert await expiry_window(rt) == 14 * 24 * 3600
    finally:
        await rt.stop()

    longer = make_runtime(service_env, inbox_retention_seconds=30 * 24 * 3600)
    await longer.start()
    try:
        assert await expiry_window(longer) == 30 * 24 * 3600
    finally:
        await longer.stop()
