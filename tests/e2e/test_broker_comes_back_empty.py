"""A broker that comes back empty (the embedded broker is memory-only; a new or restored cluster can be too):
every customer registered before, during and after the outage reaches `crm.profile.customers` and the
downstream consumer (tiering), and the profile keeps taking HTTP traffic meanwhile.

The test runs its own broker on its own port: the session's broker is shared with other tests."""

import asyncio
import os
import signal

import httpx
import pytest
from pymongo import MongoClient

from crm_cli.stack import EmbeddedKafka, ServiceProcess, free_port
from support import eventually, of_type, read_topic

pytestmark = pytest.mark.e2e

REGISTERED = "crm.profile.customer.registered.v1"


def start_service(name, factory, port_var, env, tmp_path):
    proc = ServiceProcess(name, factory, port_var, free_port(), env, log_path=tmp_path / f"{name}.log")
    return proc.start()


async def test_every_customer_registered_around_a_broker_that_came_back_empty_is_delivered(
    service_env, tmp_path, people, rm
):
    port = free_port()
    broker = await asyncio.to_thread(EmbeddedKafka("127.0.0.1", port, log_path=tmp_path / "kafka-1.log").start)
    env = {**service_env, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "KAFKA_TOPIC_CHECK_SECONDS": "1"}
    tiering_env = {**env, "MONGODB_DATABASE": env["MONGODB_DATABASE"] + "_tiering"}
    topic = f"{env['KAFKA_TOPIC_PREFIX']}crm.profile.customers"
    mongo = MongoClient(env["MONGODB_URI"], serverSelectionTimeoutMS=5000)
    tiered = mongo[tiering_env["MONGODB_DATABASE"]]["customers"]
    procs = []
    try:
        profile = await asyncio.to_thread(
            start_service, "profile", "crm_profile.main:create_app", "PROFILE_PORT", env, tmp_path
        )
        procs.append(profile)
        tiering = await asyncio.to_thread(
            start_service, "tiering", "crm_tiering.main:create_app", "TIERING_PORT", tiering_env, tmp_path
        )
        procs.append(tiering)
        async with httpx.AsyncClient(base_url=profile.base_url, timeout=10) as client:

            async def register(n):
                ids = []
                for _ in range(n):
                    answer = await client.post("/v1/customers", json=people(), headers=rm)
                    assert answer.status_code == 201, answer.text
                    ids.append(answer.json()["id"])
                return ids

            before = await register(3)
            records = await read_topic(broker.bootstrap, topic, until=lambda rs: len(of_type(rs, REGISTERED)) >= 3)
            assert sorted(e["subject"] for e in of_type(records, REGISTERED)) == sorted(before)

            async def tiering_has(ids):
                return tiered.count_documents({"_id": {"$in": ids}}) == len(ids)

            await eventually(lambda: tiering_has(before), timeout=30)

            # The broker dies; the profile still takes registrations (the outbox keeps them) and stays ready.
            os.kill(broker.pid, signal.SIGKILL)
            await asyncio.to_thread(broker.stop, 5)
            during = await register(3)

            async def ready_without_broker():
                ready = await client.get("/readyz")
                assert ready.status_code == 200, ready.text
                return ready.json()["broker"]["reachable"] is False

            await eventually(ready_without_broker, timeout=15)

            # A new, empty broker on the same address.
            broker = await asyncio.to_thread(EmbeddedKafka("127.0.0.1", port, log_path=tmp_path / "kafka-2.log").start)
            after = await register(3)

            wanted = sorted(during + after)
            records = await read_topic(
                broker.bootstrap,
                topic,
                timeout=60,
                until=lambda rs: {e["subject"] for e in of_type(rs, REGISTERED)} >= set(wanted),
            )
            assert sorted({e["subject"] for e in of_type(records, REGISTERED)}) == wanted
            await eventually(lambda: tiering_has(before + during + after), timeout=60, interval=0.5)

            unsent = mongo[env["MONGODB_DATABASE"]]["outbox"].count_documents({"sent_at": None})
            assert unsent == 0
            ready = (await client.get("/readyz")).json()
            assert ready["broker"] == {"reachable": True, "missing_topics": []}, ready
    finally:
        for proc in procs:
            await asyncio.to_thread(proc.stop)
        await asyncio.to_thread(broker.stop)
        mongo.drop_database(tiering_env["MONGODB_DATABASE"])
        mongo.close()
