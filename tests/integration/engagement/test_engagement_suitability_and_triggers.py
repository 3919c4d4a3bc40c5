"""Suitability, triggers and surveys against the real broker and database: C2 × R3 blocked and recorded,
C4 × R3 allowed, an expired assessment blocked; churn risk → retention call within 1 working day; idle funds →
product recommendation; complaint closed → follow-up call and a survey whose answer is published and earns
points once."""

from __future__ import annotations

from datetime import date

from engagement_support import (
    RECOMMENDATION,
    SURVEY_ANSWERED,
    assets,
    auth,
    churn,
    complaint_closed,
    consent,
    register,
    registered,
    tier_changed,
    wait_customer,
    wait_tasks,
)


async def _products(engagement, admin):
    for code, name, risk in (("P-FND-02", "混合基金", "R3"), ("P-DEP-01", "活期存款", "R1")):
        r = await engagement.put(
            f"/v1/products/{code}",
            headers=auth(admin),
            json={"name": name, "type": "fund", "risk_level": risk, "active": True},
        )
        assert r.status_code == 200, r.text


async def _recommend(engagement, rm, cid, code="P-FND-02"):
    return await engagement.post(
        "/v1/recommendations", headers=rm, json={"customer_id": cid, "product_code": code, "channel": "visit"}
    )


async def test_suitability_blocks_c2_for_r3_and_an_expired_assessment(engagement, feed, rm, admin, head_office):
    await _products(engagement, admin)
    await feed.profile(
        registered("C500", risk_tolerance="C2", risk_assessed_on=date(2026, 6, 1), professional_investor=False),
        registered("C501", risk_tolerance="C4", risk_assessed_on=date(2026, 6, 1), professional_investor=False),
        registered("C502", risk_tolerance="C5", risk_assessed_on=date(2025, 11, 30), professional_investor=False),
        registered("C503"),
    )
    await wait_customer(engagement, "C500", lambda d: d.get("risk_tolerance") == "C2")
    await wait_customer(engagement, "C501", lambda d: d.get("risk_tolerance") == "C4")
    await wait_customer(engagement, "C502", lambda d: d.get("risk_tolerance") == "C5")
    await wait_customer(engagement, "C503")

    r = await _recommend(engagement, rm, "C500")
    assert r.status_code == 409 and r.json()["rule"] == "suitability", r.text
    assert "R3 exceeds the customer's tolerance C2" in r.json()["detail"]
    assert (await _recommend(engagement, rm, "C500", "P-DEP-01")).status_code == 201  # C2 takes R1
    r = await _recommend(engagement, rm, "C501")
    assert r.status_code == 201 and r.json()["allowed"] is True
    r = await _recommend(engagement, rm, "C502")  # assessed 2025-11-30: expired on 2026-11-30
    assert r.status_code == 409 and "expired on 2026-11-30" in r.json()["detail"]
    r = await _recommend(engagement, rm, "C503")
    assert r.status_code == 409 and "no risk assessment" in r.json()["detail"]
    assert (await _recommend(engagement, rm, "C500", "P-NOPE")).status_code == 404

    # Every attempt is kept (可回溯) with what was known then, and published.
    kept = (await engagement.get("/v1/customers/C500/recommendations", headers=rm)).json()
    assert sorted((k["product_code"], k["allowed"], k["customer_tolerance"]) for k in kept) == [
        ("P-DEP-01", True, "C2"),
        ("P-FND-02", False, "C2"),
    ]
    events = await feed.published(RECOMMENDATION, count=5)
    assert sorted((e["subject"], e["data"]["product_risk"], e["data"]["allowed"]) for e in events) == [
        ("C500", "R1", True),
        ("C500", "R3", False),
        ("C501", "R3", True),
        ("C502", "R3", False),
        ("C503", "R3", False),
    ]
    # An allowed recommendation is a marketing contact in the history; a blocked one is not.
    history = (await engagement.get("/v1/customers/C501/interactions", headers=rm)).json()
    assert [(h["purpose"], h["outcome"]) for h in history] == [("marketing", "recommended P-FND-02")]
    # A new assessment arriving from the profile unblocks the customer.
    await feed.profile(_risk_update("C500", "C3"))
    await wait_customer(engagement, "C500", lambda d: d.get("risk_tolerance") == "C3")
    assert (await _recommend(engagement, rm, "C500")).status_code == 201
    # Only head office and admins edit the catalogue.
    r = await engagement.put("/v1/products/P-X", headers=rm, json={"name": "x", "type": "fund", "risk_level": "R1"})
    assert r.status_code == 403


def _risk_update(cid, tolerance):
    from datetime import UTC, datetime

    from crm_contracts.profile import CustomerUpdated

    return CustomerUpdated(
        customer_id=cid,
        version=2,
        changed_fields=["risk"],
        channel="service_process",
        changed_by="S-RM1",
        changed_at=datetime.now(UTC),
        risk_tolerance=tolerance,
        risk_assessed_on=date(2026, 11, 20),
        professional_investor=False,
    )


async def test_churn_risk_brings_a_retention_call_within_one_working_day(engagement, feed, head_office):
    await register(engagement, feed, "C510")
    await feed.tiering(
        tier_changed("C510", "vip", reason="first_tier"),
        churn("C510", "outflow"),
        churn("C510", "outflow", "complaint"),
    )
    [task] = await wait_tasks(engagement, head_office, customer_id="C510", kind="retention")
    assert task["due_on"] == "2026-12-02" and task["assignee"] == "S-RM1" and task["purpose"] == "service"
    assert "outflow" in task["note"]


async def test_a_retention_call_before_a_holiday_is_due_after_it(start_engagement, feed, head_office):
    # 2026-09-30 is the last working day before 国庆 (10-01..10-07 off): one working day later is 10-08.
    async with start_engagement(clock_date="2026-09-30") as engagement:
        await register(engagement, feed, "C511")
        await feed.tiering(tier_changed("C511", "vip", reason="first_tier"), churn("C511", "dormancy"))
        [task] = await wait_tasks(engagement, head_office, customer_id="C511", kind="retention")
        assert task["due_on"] == "2026-10-08"


async def test_idle_funds_bring_a_product_recommendation_task_on_a_consented_channel(engagement, feed, head_office):
    await feed.profile(registered("C520"), consent("C520", "phone", True))
    await feed.tiering(tier_changed("C520", "ordinary", reason="first_tier"))
    await wait_customer(engagement, "C520", lambda d: d.get("tier") == "ordinary" and d["consents"].get("phone"))
    await feed.profile(
        assets("C520", "80000.00", "60000.00"),
        assets("C520", "120000.00", "80000.00", date(2026, 12, 2)),
        assets("C520", "130000.00", "120000.00", date(2026, 12, 3)),
    )
    [task] = await wait_tasks(engagement, head_office, customer_id="C520", kind="product_recommendation")
    assert (task["channel"], task["purpose"], task["due_on"]) == ("call", "marketing", "2026-12-04")
    assert "120000.00" in task["note"]


async def test_complaint_closed_brings_a_follow_up_and_a_survey_answered_once(
    engagement, feed, rm, head_office, token_for
):
    await register(engagement, feed, "C530")
    await feed.tiering(tier_changed("C530", "potential", reason="first_tier"))
    await wait_customer(engagement, "C530", lambda d: d.get("owner") == "S-RM1")
    sent = await feed.complaints(complaint_closed("C530", "CMP-1"))
    await feed.send_records("crm.complaints.cases", sent)  # redelivered
    [task] = await wait_tasks(engagement, head_office, customer_id="C530", kind="complaint_follow_up")
    assert (task["id"], task["due_on"], task["purpose"]) == ("C530:complaint_follow_up:CMP-1", "2026-12-03", "service")
    surveys = (await engagement.get("/v1/customers/C530/surveys", headers=rm)).json()
    assert [(s["id"], s["status"]) for s in surveys] == [("complaint:CMP-1", "open")]

    r = await engagement.post("/v1/surveys/complaint:CMP-1/responses", headers=rm, json={"csat": 5, "nps": 10})
    assert r.status_code == 403  # the owner does not score their own service
    branch = auth(token_for("branch_manager", "S-BM1", "BR001"))
    r = await engagement.post("/v1/surveys/complaint:CMP-1/responses", headers=branch, json={"csat": 2, "nps": 3})
    assert r.status_code == 200 and r.json()["status"] == "answered", r.text
    r = await engagement.post("/v1/surveys/complaint:CMP-1/responses", headers=branch, json={"csat": 5})
    assert r.status_code == 409 and "already answered" in r.json()["detail"]
    r = await engagement.post("/v1/surveys/complaint:CMP-1/responses", headers=branch, json={"csat": 9})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "csat"]
    [answered] = await feed.published(SURVEY_ANSWERED, "C530", settle=1.0)
    assert (answered["data"]["csat"], answered["data"]["nps"], answered["data"]["complaint_id"]) == (2, 3, "CMP-1")
    points = (await engagement.get("/v1/customers/C530/points", headers=rm)).json()
    assert [(e["reason"], e["change"]) for e in points["entries"]] == [("survey", 20)]
    tasks = (
        await engagement.get(
            "/v1/tasks", params={"customer_id": "C530", "kind": "complaint_follow_up"}, headers=auth(head_office)
        )
    ).json()["items"]
    assert len(tasks) == 1
