"""A service killed (or stopped) mid-feed is back at work within seconds of its restart, on every consumer
group, and nothing it had been fed is lost or applied twice. bench/recovery.py prints the real figures."""

import asyncio
import os
import random
import signal
import time
from datetime import date
from decimal import Decimal

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from crm_cli.demo_data import make_balance
from crm_cli.stack import ServiceProcess, free_port
from crm_contracts.envelope import CloudEvent
from crm_contracts.tiering import TierChanged
from support import eventually, of_type, read_topic

pytestmark = pytest.mark.e2e

ASSETS_CHANGED = "crm.profile.customer.assets-changed.v1"
BACK_WITHIN = 20.0  # seconds from the restart; the benchmark's figures are a few seconds


def profile_process(env, tmp_path, n):
    return ServiceProcess(
        "profile",
        "crm_profile.main:create_app",
        "PROFILE_PORT",
        free_port(),
        {**env, "LOG_FORMAT": "json"},
        log_path=tmp_path / f"profile-{n}.log",
    )


async def send(bootstrap, topic, records):
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


def balances(customers, as_of, rng):
    import json

    return [
        (c["core_customer_no"].encode(), json.dumps(make_balance(rng, c["core_customer_no"], as_of)).encode(), None)
        for c in customers
    ]


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "stopped"])
async def test_profile_consumes_again_on_both_groups_soon_after_a_restart(
    service_env, stack, tmp_path, stop, people, rm
):
    prefix = service_env["KAFKA_TOPIC_PREFIX"]
    balances_topic, decisions_topic = f"{prefix}corebank.balances", f"{prefix}crm.tiering.customers"
    rng = random.Random(11)
    first = await asyncio.to_thread(profile_process(service_env, tmp_path, 1).start)
    try:
        async with httpx.AsyncClient(base_url=first.base_url) as client:
            customers = []
            for _ in range(6):
                body = people()
                created = await client.post("/v1/customers", json=body, headers=rm)
                assert created.status_code == 201, created.text
                customers.append({**body, "customer_id": created.json()["id"]})
        await send(stack.kafka_bootstrap, balances_topic, balances(customers, "2030-01-01", rng))
        await read_topic(
            stack.kafka_bootstrap,
            f"{prefix}crm.profile.customers",
            timeout=60,
            until=lambda rs: len([e for e in of_type(rs, ASSETS_CHANGED) if e["data"]["as_of"] == "2030-01-01"]) == 6,
        )
    finally:
        if stop == signal.SIGKILL:
            os.killpg(first.pid, signal.SIGKILL)
        await asyncio.to_thread(first.stop)

    # While it is down: the next day's feed, and a tier decision (the other consumer group).
    await send(stack.kafka_bootstrap, balances_topic, balances(customers, "2030-01-02", rng))
    decided = customers[0]["customer_id"]
    decision = CloudEvent.wrap(
        TierChanged(
            customer_id=decided,
            branch="BR001",
            from_tier=None,
            to_tier="vip",
            reason="upgrade",
            policy_version=1,
            as_of=date(2030, 1, 2),
            basis_amount=Decimal("600000.00"),
        ),
        source="crm/tiering",
        subject=decided,
    )
    await send(
        stack.kafka_bootstrap,
        decisions_topic,
        [(decided.encode(), decision.model_dump_json().encode(), [("ce_sequence", b"1")])],
    )

    restarted = profile_process(service_env, tmp_path, 2)
    started = time.monotonic()
    await asyncio.to_thread(restarted.start)
    try:
        records = await read_topic(
            stack.kafka_bootstrap,
            f"{prefix}crm.profile.customers",
            timeout=BACK_WITHIN,
            until=lambda rs: len([e for e in of_type(rs, ASSETS_CHANGED) if e["data"]["as_of"] == "2030-01-02"]) == 6,
        )
        async with httpx.AsyncClient(base_url=restarted.base_url) as client:

            async def tiered():
                got = (await client.get(f"/v1/customers/{decided}", headers=rm)).json()
                return got.get("tier")

            tier = await eventually(tiered, timeout=max(0.5, BACK_WITHIN - (time.monotonic() - started)))
        back_after = time.monotonic() - started
    finally:
        await asyncio.to_thread(restarted.stop)

    assert tier == "vip"
    assert back_after < BACK_WITHIN, f"consuming again {back_after:.1f}s after the restart"
    # Nothing lost, nothing twice: one assets-changed per customer per day.
    changed = sorted((e["subject"], e["data"]["as_of"]) for e in of_type(records, ASSETS_CHANGED))
    assert changed == sorted((c["customer_id"], day) for c in customers for day in ("2030-01-01", "2030-01-02"))
