"""The profile service as ops run it: a uvicorn process against the real broker and database."""

import asyncio
import json
import os
import signal

import pytest

from crm_cli.demo_data import make_balance
from crm_cli.seed import seed
from crm_cli.stack import ServiceProcess, free_port
from crm_contracts.envelope import CloudEvent
from crm_contracts.registry import EVENTS
from support import fuzz_without_server_errors, of_type, produce, read_topic

pytestmark = pytest.mark.e2e


def start(service_env, tmp_path, name="profile", **extra):
    env = {**service_env, "LOG_FORMAT": "json", **extra}
    log = tmp_path / f"{name}.log"
    proc = ServiceProcess(name, "crm_profile.main:create_app", "PROFILE_PORT", free_port(), env, log_path=log)
    return proc.start(), log


async def test_seeded_id_numbers_and_phones_reach_no_log_line_and_no_event(service_env, stack, tmp_path):
    proc, log = await asyncio.to_thread(start, service_env, tmp_path)
    try:
        result = await seed(api=proc.base_url, secrets=service_env, count=24, staff_file=tmp_path / "staff.json")
        assert result["created"] == 24
        customers = result["customers"]
        # A day's feed from core banking through Kafka too, with one poison message in it.
        prefix = service_env["KAFKA_TOPIC_PREFIX"]
        import random

        rng = random.Random(5)
        feed = [make_balance(rng, c["core_customer_no"], "2030-01-01") for c in customers]
        await produce(stack.kafka_bootstrap, f"{prefix}corebank.balances", [*feed[:5], b"garbage", *feed[5:]])
        records = await read_topic(
            stack.kafka_bootstrap,
            f"{prefix}crm.profile.customers",
            until=lambda rs: (
                len(
                    [
                        e
                        for e in of_type(rs, "crm.profile.customer.assets-changed.v1")
                        if e["data"]["as_of"] == "2030-01-01"
                    ]
                )
                == 24
            ),
            timeout=60,
        )
        changed = [
            e for e in of_type(records, "crm.profile.customer.assets-changed.v1") if e["data"]["as_of"] == "2030-01-01"
        ]
        assert len(changed) == 24
        dead = await read_topic(stack.kafka_bootstrap, f"{prefix}corebank.balances.dlt", until=lambda rs: len(rs) >= 1)
        assert [d.value for d in dead] == [b"garbage"]
    finally:
        code = await asyncio.to_thread(proc.stop)
    assert code in (0, -signal.SIGTERM)

    last_sequence: dict[bytes, int] = {}
    for record in records:  # one customer's events arrive numbered 1, 2, 3 … with no gap
        sequence = int(dict(record.headers)["ce_sequence"])
        assert sequence == last_sequence.get(record.key, 0) + 1
        last_sequence[record.key] = sequence
    for record in records:  # everything published validates against its contract
        event_type = json.loads(record.value)["type"]
        CloudEvent[EVENTS[event_type]].model_validate_json(record.value)
        assert record.key.decode() == json.loads(record.value)["subject"]
    logged = log.read_text(encoding="utf-8")
    published = b"".join(r.value for r in records).decode()
    secrets_seen = []
    for c in customers:
        for value in [c["id_document"]["number"], *c["phones"], c.get("email")]:
            if value and (value in logged or value in published):
                secrets_seen.append(value[:3] + "…")
    assert secrets_seen == []
    lines = [line for line in logged.splitlines() if line.startswith("{")]
    assert len(lines) > 20 and all(json.loads(line)["service"] == "profile" for line in lines)
    assert any("correlation_id" in json.loads(line) for line in lines)


async def test_killed_before_publishing_the_event_is_sent_after_restart(
    service_env, stack, tmp_path, people, token_for
):
    # The first process commits but never relays (as if it died right after the commit) and is then killed.
    proc, _ = await asyncio.to_thread(start, service_env, tmp_path, "profile-crashing", OUTBOX_RELAY_ENABLED="false")
    import httpx

    rm = {"Authorization": token_for("relationship_manager", "S-RM1", "BR001")}
    async with httpx.AsyncClient(base_url=proc.base_url) as client:
        created = await client.post("/v1/customers", json=people(), headers=rm)
    assert created.status_code == 201
    os.kill(proc.pid, signal.SIGKILL)
    await asyncio.to_thread(proc.stop, 5)
    topic = f"{service_env['KAFKA_TOPIC_PREFIX']}crm.profile.customers"
    assert (
        of_type(await read_topic(stack.kafka_bootstrap, topic, timeout=2), "crm.profile.customer.registered.v1") == []
    )

    proc2, _ = await asyncio.to_thread(start, service_env, tmp_path, "profile-restarted")
    try:
        records = await read_topic(stack.kafka_bootstrap, topic, until=lambda rs: len(rs) >= 1)
        assert [e["subject"] for e in of_type(records, "crm.profile.customer.registered.v1")] == [created.json()["id"]]
    finally:
        await asyncio.to_thread(proc2.stop)


async def test_fuzzed_requests_never_get_a_server_error(service_env, tmp_path, token_for):
    """schemathesis generates requests from the OpenAPI document: bad input must be a 4xx, never a 5xx."""
    proc, log = await asyncio.to_thread(start, service_env, tmp_path)
    await fuzz_without_server_errors(proc, log, token_for("branch_manager", "S-BM1", "BR001"), max_examples=25)
