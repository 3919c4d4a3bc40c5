"""Contact rules at the moment of contact, against the real broker and database: a cap, quiet hours, a public
holiday and an opt-out each block with the rule named (409), and every blocked attempt is recorded and
published; service contacts are not capped."""

from __future__ import annotations

from engagement_support import (
    CONTACT_BLOCKED,
    auth,
    consent,
    registered,
    tier_changed,
    wait_customer,
    wait_tasks,
)


async def _customer(engagement, feed, cid, *consents):
    await feed.profile(registered(cid, owner="S-RM1"), *[consent(cid, ch, g) for ch, g in consents])
    await wait_customer(engagement, cid, lambda d: len(d.get("consents") or {}) == len(consents))


async def _contact(engagement, rm, cid, channel, purpose, at):
    return await engagement.post(
        "/v1/interactions",
        headers=rm,
        json={
            "customer_id": cid,
            "channel": channel,
            "purpose": purpose,
            "occurred_at": at,
            "notes": "called about a fund",
        },
    )


async def test_marketing_caps_block_the_third_in_a_week_and_the_fifth_in_a_month(engagement, feed, rm, head_office):
    await _customer(engagement, feed, "C300", ("sms", True), ("phone", True))
    for day in ("2026-11-28", "2026-11-29"):
        r = await _contact(engagement, rm, "C300", "sms", "marketing", f"{day}T10:00:00+08:00")
        assert r.status_code == 201, r.text
    r = await _contact(engagement, rm, "C300", "sms", "marketing", "2026-11-30T10:00:00+08:00")
    assert r.status_code == 409, r.text
    assert r.json()["rule"] == "cap.short" and "2 other marketing contact(s) within 7 days" in r.json()["detail"]
    # A service contact is never capped.
    r = await _contact(engagement, rm, "C300", "call", "service", "2026-11-30T10:05:00+08:00")
    assert r.status_code == 201, r.text

    await _customer(engagement, feed, "C301", ("sms", True))
    for day in ("2026-11-05", "2026-11-12", "2026-11-19", "2026-11-26"):
        assert (await _contact(engagement, rm, "C301", "sms", "marketing", f"{day}T10:00:00+08:00")).status_code == 201
    r = await _contact(engagement, rm, "C301", "sms", "marketing", "2026-11-30T10:00:00+08:00")
    assert r.status_code == 409 and r.json()["rule"] == "cap.long", r.text

    # Both blocked attempts are kept and published with their rule; the history shows only the contacts made.
    attempts = (await engagement.get("/v1/contact-attempts", headers=auth(head_office))).json()
    assert sorted((a["customer_id"], a["rule"]) for a in attempts) == [("C300", "cap.short"), ("C301", "cap.long")]
    published = await feed.published(CONTACT_BLOCKED, count=2)
    assert sorted(e["data"]["rule"] for e in published) == ["cap.long", "cap.short"]
    history = (await engagement.get("/v1/customers/C300/interactions", headers=rm)).json()
    assert [(h["channel"], h["purpose"]) for h in history] == [
        ("call", "service"),
        ("sms", "marketing"),
        ("sms", "marketing"),
    ]


async def test_quiet_hours_block_marketing_calls_but_not_email_or_service(engagement, feed, rm):
    await _customer(engagement, feed, "C310", ("phone", True), ("email", True))
    r = await _contact(engagement, rm, "C310", "call", "marketing", "2026-11-30T21:30:00+08:00")
    assert r.status_code == 409, r.text
    assert r.json()["rule"] == "quiet_hours" and "21:30" in r.json()["detail"]
    assert (await _contact(engagement, rm, "C310", "call", "marketing", "2026-11-30T07:59:00+08:00")).json()[
        "rule"
    ] == "quiet_hours"
    assert (await _contact(engagement, rm, "C310", "call", "marketing", "2026-11-30T08:00:00+08:00")).status_code == 201
    assert (
        await _contact(engagement, rm, "C310", "email", "marketing", "2026-11-30T22:00:00+08:00")
    ).status_code == 201
    assert (await _contact(engagement, rm, "C310", "call", "service", "2026-11-30T22:00:00+08:00")).status_code == 201
    # The same instant given in UTC is judged in the bank's time zone: 13:30Z is 21:30 in Shanghai.
    r = await _contact(engagement, rm, "C310", "call", "marketing", "2026-11-29T13:30:00Z")
    assert r.status_code == 409 and r.json()["rule"] == "quiet_hours"


async def test_no_marketing_calls_on_a_public_holiday(start_engagement, feed, rm):
    async with start_engagement(clock_date="2026-10-02") as engagement:
        await _customer(engagement, feed, "C320", ("phone", True))
        r = await _contact(engagement, rm, "C320", "call", "marketing", "2026-10-01T10:00:00+08:00")  # 国庆
        assert r.status_code == 409 and r.json()["rule"] == "public_holiday", r.text
        assert (
            await _contact(engagement, rm, "C320", "call", "service", "2026-10-01T10:00:00+08:00")
        ).status_code == 201
        assert (
            await _contact(engagement, rm, "C320", "call", "marketing", "2026-09-30T10:00:00+08:00")
        ).status_code == 201


async def test_an_opt_out_stops_the_channel_at_once(engagement, feed, rm, head_office):
    await _customer(engagement, feed, "C330", ("phone", True), ("sms", True))
    await feed.tiering(tier_changed("C330", "vip", from_tier="potential"))
    [welcome] = await wait_tasks(engagement, head_office, customer_id="C330", kind="welcome")
    assert welcome["channel"] == "call"
    assert (await _contact(engagement, rm, "C330", "call", "service", "2026-11-30T10:00:00+08:00")).status_code == 201

    await feed.profile(consent("C330", "phone", False))
    await wait_customer(engagement, "C330", lambda d: d["consents"].get("phone") is False)
    # Nothing more on the phone, service or marketing; SMS is still allowed.
    for purpose in ("service", "marketing"):
        r = await _contact(engagement, rm, "C330", "call", purpose, "2026-11-30T11:00:00+08:00")
        assert r.status_code == 409 and r.json()["rule"] == "consent.opt_out", r.text
    assert (await _contact(engagement, rm, "C330", "sms", "service", "2026-11-30T11:00:00+08:00")).status_code == 201
    # The open welcome call moved to a visit; completing it by phone is blocked and recorded.
    task = (await engagement.get(f"/v1/tasks/{welcome['id']}", headers=auth(head_office))).json()
    assert task["channel"] == "visit"
    r = await engagement.post(
        f"/v1/tasks/{welcome['id']}/complete",
        headers=rm,
        json={"outcome": "reached", "channel": "call", "occurred_at": "2026-11-30T12:00:00+08:00"},
    )
    assert r.status_code == 409 and r.json()["rule"] == "consent.opt_out"
    r = await engagement.post(
        f"/v1/tasks/{welcome['id']}/complete",
        headers=rm,
        json={"outcome": "reached", "occurred_at": "2026-11-30T12:00:00+08:00", "notes": "met at branch"},
    )
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    attempts = (await engagement.get("/v1/contact-attempts", params={"customer_id": "C330"}, headers=rm)).json()
    assert [(a["rule"], a["context"]) for a in attempts] == [
        ("consent.opt_out", "task"),
        ("consent.opt_out", "interaction"),
        ("consent.opt_out", "interaction"),
    ]


async def test_marketing_needs_consent_on_the_channel(engagement, feed, rm):
    await _customer(engagement, feed, "C340", ("email", True))
    r = await _contact(engagement, rm, "C340", "sms", "marketing", "2026-11-30T10:00:00+08:00")
    assert r.status_code == 409 and r.json()["rule"] == "consent.missing"
    assert (await _contact(engagement, rm, "C340", "sms", "service", "2026-11-30T10:00:00+08:00")).status_code == 201
    assert (
        await _contact(engagement, rm, "C340", "email", "marketing", "2026-11-30T10:00:00+08:00")
    ).status_code == 201


async def test_out_of_scope_and_bad_input(engagement, feed, rm, token_for):
    await _customer(engagement, feed, "C350")
    other = auth(token_for("relationship_manager", "S-RM9"))
    r = await _contact(engagement, other, "C350", "call", "service", "2026-11-30T10:00:00+08:00")
    assert r.status_code == 404
    r = await engagement.post(
        "/v1/interactions", headers=rm, json={"customer_id": "C350", "channel": "fax", "purpose": "service"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "channel"]
    r = await _contact(engagement, rm, "C350", "call", "service", "2026-11-30T10:00:00")
    assert r.status_code == 422 and "time zone" in r.json()["detail"]
    auditor = auth(token_for("auditor", "S-AUD1", None))
    r = await _contact(engagement, auditor, "C350", "call", "service", "2026-11-30T10:00:00+08:00")
    assert r.status_code == 403
    assert (await engagement.get("/v1/tasks")).status_code == 401


async def test_two_marketing_contacts_at_once_cannot_both_take_the_last_place(engagement, feed, rm, token_for):
    import asyncio

    await _customer(engagement, feed, "C360", ("sms", True), ("phone", True))
    assert (await _contact(engagement, rm, "C360", "sms", "marketing", "2026-11-29T10:00:00+08:00")).status_code == 201
    sup = auth(token_for("rm_supervisor", "S-SUP1", "BR001"))
    results = await asyncio.gather(
        *(
            _contact(engagement, who, "C360", ch, "marketing", "2026-11-30T10:00:00+08:00")
            for who, ch in ((rm, "sms"), (sup, "call"), (rm, "call"))
        )
    )
    assert sorted(r.status_code for r in results) == [201, 409, 409], [r.text for r in results]
    assert {r.json()["rule"] for r in results if r.status_code == 409} == {"cap.short"}
