"""A stalled database (its process stopped, as in a long GC pause, a frozen VM or a storage hang): the profile answers
503 with Retry-After within seconds instead of hanging, /readyz too while /healthz stays up, and once the
database runs again every request is served and every customer the profile accepted is there, event and all.

The test runs its own database so that stopping it stops nobody else."""

import asyncio
import os
import signal
import time

import httpx
import pytest

from crm_cli.stack import EmbeddedMongo, ServiceProcess, free_port
from support import eventually, of_type, read_topic

pytestmark = pytest.mark.e2e

REGISTERED = "crm.profile.customer.registered.v1"
QUICK = 8.0  # the request deadline is 5 s (HTTP_DATABASE_TIMEOUT_SECONDS); a hang would be far longer


async def timed(request):
    started = time.monotonic()
    answer = await request
    return answer, time.monotonic() - started


async def test_a_stalled_database_is_a_quick_503_with_retry_after_and_nothing_is_lost(
    service_env, stack, tmp_path, people, rm
):
    database = await asyncio.to_thread(
        EmbeddedMongo("127.0.0.1", free_port(), tmp_path / "mongo-data", log_path=tmp_path / "mongodb.log").start
    )
    env = {**service_env, "MONGODB_URI": database.uri}
    profile = ServiceProcess(
        "profile", "crm_profile.main:create_app", "PROFILE_PORT", free_port(), env, log_path=tmp_path / "profile.log"
    )
    stopped = False
    try:
        await asyncio.to_thread(profile.start)
        async with httpx.AsyncClient(base_url=profile.base_url, timeout=60) as client:
            first = await client.post("/v1/customers", json=people(), headers=rm)
            assert first.status_code == 201, first.text

            os.killpg(database.pid, signal.SIGSTOP)
            stopped = True
            stalled_at = time.monotonic()
            for request in (
                client.post("/v1/customers", json=people(), headers=rm),
                client.get(f"/v1/customers/{first.json()['id']}", headers=rm),
                client.get("/readyz"),
            ):
                answer, took = await timed(request)
                assert answer.status_code == 503, answer.text
                assert int(answer.headers["Retry-After"]) > 0
                assert took < QUICK, f"{answer.request.url.path} took {took:.1f}s"
            assert "database" in answer.json()["reason"]
            assert (await client.get("/healthz")).status_code == 200  # alive: no restart for a stalled database

            await asyncio.sleep(max(0.0, 12 - (time.monotonic() - stalled_at)))  # a stall longer than any one deadline
            answer, took = await timed(client.post("/v1/customers", json=people(), headers=rm))
            assert answer.status_code == 503 and took < QUICK, (answer.status_code, took)

            os.killpg(database.pid, signal.SIGCONT)
            stopped = False

            async def ready():
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready, timeout=30, interval=0.5)
            after = await client.post("/v1/customers", json=people(), headers=rm)
            assert after.status_code == 201, after.text
            accepted = [first.json()["id"], after.json()["id"]]
            for customer_id in accepted:
                assert (await client.get(f"/v1/customers/{customer_id}", headers=rm)).status_code == 200
        topic = f"{env['KAFKA_TOPIC_PREFIX']}crm.profile.customers"
        records = await read_topic(
            stack.kafka_bootstrap,
            topic,
            until=lambda rs: {e["subject"] for e in of_type(rs, REGISTERED)} >= set(accepted),
        )
        assert {e["subject"] for e in of_type(records, REGISTERED)} >= set(accepted)
    finally:
        if stopped:
            os.killpg(database.pid, signal.SIGCONT)
        await asyncio.to_thread(profile.stop)
        await asyncio.to_thread(database.stop)
