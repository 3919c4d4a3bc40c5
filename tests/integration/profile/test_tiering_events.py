"""Tiering's decisions kept in the archive, and the bands the archive tells others instead of values."""

from datetime import UTC, date, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from crm_contracts.envelope import CloudEvent
from crm_contracts.tiering import LifecycleChanged, OwnerAssigned, TierChanged
from crm_profile.domain.bands import age_band, bank_day
from support import events, eventually, of_type, produce, read_topic

pytestmark = pytest.mark.integration

ASSIGNED_AT = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)


def tiering_event(data):
    return CloudEvent.wrap(data, source="crm/tiering", subject=data.customer_id)


def assignment(cid, new_owner, assigned_at, previous_owner="S-RM1"):
    return tiering_event(
        OwnerAssigned(
            customer_id=cid,
            branch="BR001",
            previous_owner=previous_owner,
            new_owner=new_owner,
            reason="tier_responsibility",
            tier="vip",
            assigned_by="tiering",
            assigned_at=assigned_at,
        )
    )


async def send(stack, profile, cid, *numbered):
    """Tiering's events as tiering's outbox sends them: keyed by the customer, each with the number tiering gave it
    in the customer's stream (CloudEvents `sequence`, header ce_sequence)."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for event, sequence in numbered:
            await producer.send_and_wait(
                profile.settings.topic("crm.tiering.customers"),
                event.model_dump_json().encode(),
                key=cid.encode(),
                headers=[("ce_sequence", str(sequence).encode())],
            )
    finally:
        await producer.stop()


async def status_for(profile, cid, headers):
    return (await profile.get(f"/v1/customers/{cid}", headers=headers)).status_code


async def test_owner_assignment_moves_the_customer_and_older_or_repeated_ones_change_nothing(
    profile, people, rm, token_for, stack
):
    cid = (await profile.post("/v1/customers", json=people(), headers=rm)).json()["id"]
    new_rm = {"Authorization": token_for("relationship_manager", "S-RM2", "BR001")}
    late_rm = {"Authorization": token_for("relationship_manager", "S-RM3", "BR001")}
    assigned = assignment(cid, "S-RM2", ASSIGNED_AT)

    # Tiering took an earlier assignment (its event 1) before this one (2): the earlier one is delivered late below.
    await send(stack, profile, cid, (assigned, 2))
    await eventually(lambda: _visible(profile, cid, new_rm))
    assert await status_for(profile, cid, rm) == 404  # the previous owner no longer sees the customer
    got = (await profile.get(f"/v1/customers/{cid}", headers=new_rm)).json()
    assert got["owner"] == "S-RM2" and got["version"] == 1  # tiering's decision is not a staff edit

    # The same event again, an older assignment delivered late, then a tier: applied in this order.
    older = assignment(cid, "S-RM3", ASSIGNED_AT - timedelta(hours=1))
    tier = tiering_event(
        TierChanged(
            customer_id=cid,
            branch="BR001",
            from_tier=None,
            to_tier="vip",
            reason="first_tier",
            policy_version=1,
            as_of=date(2026, 11, 20),
            basis_amount="650000.00",
            basis="average_daily",
        )
    )
    await send(stack, profile, cid, (assigned, 2), (older, 1), (tier, 3))
    got = await eventually(lambda: _tiered(profile, cid, new_rm))
    assert got["owner"] == "S-RM2" and got["tier"] == "vip"
    assert got["tier_since"] == "2026-11-20" and got["tier_policy_version"] == 1
    assert await status_for(profile, cid, late_rm) == 404

    history = (await profile.get(f"/v1/customers/{cid}/history", headers=new_rm)).json()
    assert [h["action"] for h in history] == ["registered", "owner_assigned", "tier_changed"]
    owner_row, tier_row = history[1], history[2]
    assert owner_row["event_id"] == str(assigned.id)  # one row for the event delivered twice
    assert owner_row["by"] == "tiering" and owner_row["channel"] == "service_process"
    assert owner_row["changes"] == {"owner": {"from": "S-RM1", "to": "S-RM2"}}
    assert tier_row["changes"] == {"tier": {"from": None, "to": "vip"}} and tier_row["by"] == "tiering"

    # Tiering is the source of these changes: the archive publishes nothing and keeps its numbering.
    records = await read_topic(
        stack.kafka_bootstrap,
        profile.settings.topic("crm.profile.customers"),
        until=lambda rs: len(rs) >= 1,
        settle=1.0,
    )
    assert [e["type"] for e in events(records)] == ["crm.profile.customer.registered.v1"]
    customer = await profile.app.state.profile.uow.reading().customers.load(cid)
    assert customer.event_seq == 1
    assert customer.record["tiering_seq"] == 3  # the last of tiering's events applied


async def test_unknown_customers_go_to_dead_letters_and_other_tiering_events_are_ignored(profile, people, rm, stack):
    cid = (await profile.post("/v1/customers", json=people(), headers=rm)).json()["id"]
    lifecycle = tiering_event(
        LifecycleChanged(customer_id=cid, to_stage="growing", as_of=date(2026, 11, 20), policy_version=1)
    )
    nobody = assignment("CNOBODY", "S-RM2", ASSIGNED_AT)
    tier = tiering_event(
        TierChanged(
            customer_id=cid,
            from_tier=None,
            to_tier="potential",
            reason="first_tier",
            policy_version=1,
            as_of=date(2026, 11, 20),
            basis_amount="250000.00",
        )
    )
    await send(stack, profile, cid, (lifecycle, 1), (nobody, 1), (tier, 2))
    await produce(
        stack.kafka_bootstrap, profile.settings.topic("crm.tiering.customers"), [b"{not json"], key=cid.encode()
    )
    await eventually(lambda: _tiered(profile, cid, rm))

    dead = await read_topic(
        stack.kafka_bootstrap,
        profile.settings.topic("crm.tiering.customers") + ".dlt",
        until=lambda rs: len(rs) >= 2,
        settle=1.0,
    )
    reasons = {d.value: dict(d.headers)["dlt-error"].decode() for d in dead}
    assert len(reasons) == 2  # the lifecycle event is not the archive's business, not an error
    assert reasons[nobody.model_dump_json().encode()] == "customer_id: unknown customer CNOBODY"
    assert reasons[b"{not json"].startswith("body: Invalid JSON")


async def test_registered_and_updated_events_carry_bands_not_birthday_or_income(profile, people, rm, stack):
    person = people(income={"annual": "345678.90", "currency": "CNY"})
    cid = (await profile.post("/v1/customers", json=person, headers=rm)).json()["id"]
    ok = await profile.patch(
        f"/v1/customers/{cid}",
        json={"channel": "service_process", "income": {"annual": "1000000.00", "currency": "CNY"}},
        headers={**rm, "If-Match": '"v1"'},
    )
    assert ok.status_code == 200, ok.text

    records = await read_topic(
        stack.kafka_bootstrap,
        profile.settings.topic("crm.profile.customers"),
        until=lambda rs: len(of_type(rs, "crm.profile.customer.updated.v1", cid)) >= 1,
        settle=1.0,
    )
    [registered] = of_type(records, "crm.profile.customer.registered.v1", cid)
    expected_age = age_band(date.fromisoformat(person["birthday"]), on=bank_day(datetime.now(UTC)))
    assert registered["data"]["age_band"] == expected_age
    assert registered["data"]["income_band"] == "300k_1m"
    [updated] = of_type(records, "crm.profile.customer.updated.v1", cid)
    assert updated["data"]["changed_fields"] == ["income"]
    assert updated["data"]["income_band"] == "1m_plus" and updated["data"]["age_band"] is None

    raw = b"".join(r.value for r in records).decode()
    birthday = person["birthday"]
    for value in (birthday, birthday.replace("-", ""), "345678.9", "1000000.0"):
        assert value not in raw
    for event in events(records):
        assert not {"birthday", "income"} & event["data"].keys()


async def test_a_corporate_customer_has_no_age_band(profile, people, rm, stack):
    cid = (await profile.post("/v1/customers", json=people.corporate(), headers=rm)).json()["id"]
    records = await read_topic(
        stack.kafka_bootstrap,
        profile.settings.topic("crm.profile.customers"),
        until=lambda rs: len(of_type(rs, "crm.profile.customer.registered.v1", cid)) >= 1,
    )
    [registered] = of_type(records, "crm.profile.customer.registered.v1", cid)
    assert registered["data"]["age_band"] is None and registered["data"]["income_band"] is None


async def _visible(profile, cid, headers):
    return await status_for(profile, cid, headers) == 200


async def _tiered(profile, cid, headers):
    got = (await profile.get(f"/v1/customers/{cid}", headers=headers)).json()
    return got if got.get("tier") else None
