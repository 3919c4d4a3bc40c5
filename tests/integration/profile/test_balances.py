"""Balances from core banking: the Kafka feed and the batch endpoint, against the real stack."""

import json

import pytest

from support import eventually, of_type, produce, read_topic

pytestmark = pytest.mark.integration


async def register(profile, people, rm, **over):
    person = people(**over)
    r = await profile.post("/v1/customers", json=person, headers=rm)
    assert r.status_code == 201, r.text
    return r.json()["id"], person["core_customer_no"]


async def aum_of(profile, cid, rm):
    return (await profile.get(f"/v1/customers/{cid}", headers=rm)).json()["aum"]


async def test_feed_keeps_newest_snapshot_and_daily_history(profile, people, rm, stack):
    cid, core = await register(profile, people, rm)
    topic = profile.settings.topic("corebank.balances")
    await produce(
        stack.kafka_bootstrap,
        topic,
        [
            {
                "core_customer_no": core,
                "as_of": "2026-11-20",
                "aum": "250000.00",
                "breakdown": {"deposit": "50000.00", "wealth": "200000.00"},
            },
        ],
        key=core.encode(),
    )
    await eventually(lambda: aum_of(profile, cid, rm))
    # A late, older snapshot arrives after the newer one.
    await produce(
        stack.kafka_bootstrap,
        topic,
        [{"core_customer_no": core, "as_of": "2026-11-19", "aum": "1000.00"}],
        key=core.encode(),
    )
    history = await eventually(lambda: _history_days(profile, cid, rm, 2))
    assert [h["as_of"] for h in history] == ["2026-11-20", "2026-11-19"]
    aum = await aum_of(profile, cid, rm)
    assert aum == {
        "amount": "250000.00",
        "as_of": "2026-11-20",
        "breakdown": {"deposit": "50000.00", "wealth": "200000.00"},
    }

    records = await read_topic(
        stack.kafka_bootstrap,
        profile.settings.topic("crm.profile.customers"),
        until=lambda rs: len(of_type(rs, "crm.profile.customer.assets-changed.v1", cid)) >= 1,
        settle=1.5,
    )
    changed = of_type(records, "crm.profile.customer.assets-changed.v1", cid)
    assert len(changed) == 1  # the older snapshot changed nothing
    assert changed[0]["data"]["aum"] == "250000.00" and changed[0]["data"]["previous_aum"] is None


async def _history_days(profile, cid, rm, n):
    rows = (await profile.get(f"/v1/customers/{cid}/balances", headers=rm)).json()
    return rows if len(rows) >= n else None


async def test_unknown_customer_and_bad_snapshots_go_to_dead_letters_with_the_reason(profile, people, rm, stack):
    cid, core = await register(profile, people, rm)
    topic = profile.settings.topic("corebank.balances")
    await produce(
        stack.kafka_bootstrap,
        topic,
        [
            {"core_customer_no": "CB-NOBODY", "as_of": "2026-11-20", "aum": "5.00"},
            {"core_customer_no": core, "as_of": "2026-11-20", "aum": "-5.00"},
            {"core_customer_no": core, "as_of": "2026-11-20", "aum": "5.001"},
            {"core_customer_no": core, "as_of": "2026-11-20", "aum": "9.00", "breakdown": {"deposit": "1.00"}},
            {"core_customer_no": core, "as_of": "2026-11-20", "aum": 1234567890123456.78},
            # A product type outside the contract's vocabulary is never valued at a default margin.
            {
                "core_customer_no": core,
                "as_of": "2026-11-20",
                "aum": "11.00",
                "breakdown": {"deposit": "1.00", "crypto": "10.00"},
            },
            {"core_customer_no": core, "as_of": "2026-11-21", "aum": "7.00"},
        ],
        key=b"one-partition",
    )
    assert (await eventually(lambda: aum_of(profile, cid, rm)))["amount"] == "7.00"
    dead = await read_topic(stack.kafka_bootstrap, f"{topic}.dlt", until=lambda rs: len(rs) >= 6)
    reasons = {str(json.loads(d.value)["aum"]): dict(d.headers)["dlt-error"].decode() for d in dead}
    assert "as strings" in reasons["1234567890123456.8"]  # a JSON number may have lost the cents: refused
    assert "unknown core banking customer CB-NOBODY" in reasons["5.00"]
    assert reasons["-5.00"].startswith("aum:")
    assert reasons["5.001"].startswith("aum:")
    assert reasons["9.00"].startswith("breakdown:")
    assert reasons["11.00"].startswith("breakdown:") and "unknown product type 'crypto'" in reasons["11.00"]
    history = (await profile.get(f"/v1/customers/{cid}/balances", headers=rm)).json()
    assert "11.00" not in {h["aum"] for h in history}  # nothing of the refused snapshot was kept


async def test_batch_endpoint_reports_rejections_and_needs_head_office(profile, people, rm, token_for):
    cid, core = await register(profile, people, rm)
    admin = {"Authorization": token_for("admin", "S-ADMIN", None)}
    body = {
        "snapshots": [
            {"core_customer_no": core, "as_of": "2026-11-21", "aum": "3000000.00"},
            {"core_customer_no": core, "as_of": "2026-11-20", "aum": "1.00"},
            {"core_customer_no": "CB-NOBODY", "as_of": "2026-11-20", "aum": "1.00"},
        ]
    }
    assert (await profile.post("/v1/balances", json=body, headers=rm)).status_code == 403
    r = await profile.post("/v1/balances", json=body, headers=admin)
    assert r.status_code == 200
    assert r.json() == {
        "accepted": 2,
        "rejected": [
            {
                "index": 2,
                "core_customer_no": "CB-NOBODY",
                "reason": "core_customer_no: unknown core banking customer CB-NOBODY",
            }
        ],
    }
    assert (await aum_of(profile, cid, rm))["amount"] == "3000000.00"
    bad = await profile.post(
        "/v1/balances",
        json={"snapshots": [{"core_customer_no": core, "as_of": "yesterday", "aum": "1"}]},
        headers=admin,
    )
    assert bad.status_code == 422 and "as_of" in bad.text
    unknown = await profile.post(
        "/v1/balances",
        json={
            "snapshots": [
                {"core_customer_no": core, "as_of": "2026-11-22", "aum": "5.00", "breakdown": {"funds": "5.00"}}
            ]
        },
        headers=admin,
    )
    assert unknown.status_code == 422 and "breakdown" in unknown.text and "unknown product type 'funds'" in unknown.text


async def test_a_week_in_one_batch_publishes_every_changed_day_in_order(profile, people, rm, token_for, stack):
    """A catch-up feed (a week at once after an outage) publishes what the same week sent one day a night
    would have: one assets-changed per day whose AUM changed, each with the day before, numbered in order."""
    cid, core = await register(profile, people, rm)
    admin = {"Authorization": token_for("admin", "S-ADMIN", None)}
    week = [
        ("2026-11-16", "100000.00"),
        ("2026-11-17", "250000.00"),
        ("2026-11-18", "250000.00"),
        ("2026-11-19", "90000.00"),
        ("2026-11-20", "100000.00"),
    ]
    shuffled = [week[i] for i in (3, 0, 4, 1, 2)]  # arrival order does not matter, as_of does
    r = await profile.post(
        "/v1/balances",
        headers=admin,
        json={
            "snapshots": [
                {"core_customer_no": core, "as_of": d, "aum": a, "breakdown": {"deposit": a}} for d, a in shuffled
            ]
        },
    )
    assert r.status_code == 200 and r.json() == {"accepted": 5, "rejected": []}

    records = await read_topic(
        stack.kafka_bootstrap,
        profile.settings.topic("crm.profile.customers"),
        until=lambda rs: len(of_type(rs, "crm.profile.customer.assets-changed.v1", cid)) >= 4,
        settle=1.5,
    )
    mine = [r for r in records if json.loads(r.value)["subject"] == cid]
    changed = of_type(records, "crm.profile.customer.assets-changed.v1", cid)
    assert [
        (e["data"]["previous_as_of"], e["data"]["previous_aum"], e["data"]["as_of"], e["data"]["aum"]) for e in changed
    ] == [
        (None, None, "2026-11-16", "100000.00"),
        ("2026-11-16", "100000.00", "2026-11-17", "250000.00"),
        ("2026-11-18", "250000.00", "2026-11-19", "90000.00"),  # the unchanged 18th published nothing
        ("2026-11-19", "90000.00", "2026-11-20", "100000.00"),
    ]
    # Numbered after the registration, with no gaps: tiering applies them in this order, once each.
    sequences = [int(dict(r.headers)["ce_sequence"]) for r in mine]
    assert sequences == list(range(1, len(mine) + 1)) and len(mine) == 5
    history = (await profile.get(f"/v1/customers/{cid}/balances", headers=rm)).json()
    assert sorted(h["as_of"] for h in history) == [d for d, _ in week]
    assert (await aum_of(profile, cid, rm))["as_of"] == "2026-11-20"
