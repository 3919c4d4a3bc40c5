"""Bounded database calls seen from a consumer: a call that outlasts its deadline (the client's, or the server's
maxTimeMS) is the database being down — the poll is redelivered and applied once, never dead-lettered."""

import time

import pytest
from test_reliability import deposits_consumer, make_runtime, total

from crm_kit.db import database_unavailable
from support import eventually, produce, read_topic

pytestmark = pytest.mark.integration


async def fail_point(admin, **data):
    try:
        await admin.command({"configureFailPoint": "failCommand", "mode": {"times": data.pop("times")}, "data": data})
    except Exception as exc:  # noqa: BLE001 - a server without test commands
        pytest.skip(f"server has no test commands: {exc}")


async def test_a_database_that_answers_too_late_is_retried_not_dead_lettered(service_env, stack):
    rt = make_runtime(service_env, consumer_max_attempts=2, consumer_retry_backoff_seconds=0.05)
    accounts = deposits_consumer(rt)
    await rt.start()
    admin = rt.mongo.client.admin
    try:
        # The deposit's write exceeds its time limit four times: more than one poll's attempts, so the poll
        # itself must be redelivered (a timeout is not the message's fault).
        await fail_point(admin, times=4, failCommands=["update"], errorCode=50)  # MaxTimeMSExpired
        await produce(stack.kafka_bootstrap, rt.topic("deposits"), [{"account": "T", "amount": 7}])
        assert await eventually(lambda: total(accounts, "T"), timeout=40) == 7
        assert await read_topic(stack.kafka_bootstrap, f"{rt.topic('deposits')}.dlt", timeout=2) == []
    finally:
        await admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        await rt.stop()


async def test_a_stalled_round_trip_ends_at_its_deadline_as_database_unavailable(service_env):
    rt = make_runtime(service_env, mongodb_socket_timeout_ms=1000)
    admin = rt.mongo.client.admin
    try:
        # The read and its automatic retry both stall 2 s at the server; each round trip may take 1 s.
        await fail_point(admin, times=2, failCommands=["find"], blockConnection=True, blockTimeMS=2000)
        started = time.monotonic()
        with pytest.raises(Exception) as raised:
            await rt.mongo.db["accounts"].find_one({"_id": "T"})
        assert time.monotonic() - started < 4
        assert database_unavailable(raised.value), repr(raised.value)
    finally:
        await admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        await rt.mongo.close()
