"""The complaints service against the real broker and database: intake, the standard process with 409 for an
illegal step, working-day targets around 国庆 and a 调休 Saturday, extensions by role, the appraisal pause, a
breach escalated once across a restart, and a report whose figures add up to its cases."""

from __future__ import annotations

from support import eventually, of_type, read_topic

STATUS = "crm.complaints.complaint.status-changed.v1"
BREACHED = "crm.complaints.complaint.sla-breached.v1"
APPROACHING = "crm.complaints.complaint.deadline-approaching.v1"


async def _open(client, headers, **over):
    body = {
        "customer_id": "C1",
        "channel": "hotline",
        "category": "fees",
        "description": "charged twice for a transfer",
        "branch": "BR001",
        **over,
    }
    r = await client.post("/v1/complaints", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def _do(client, headers, cid, action, **body):
    return await client.post(f"/v1/complaints/{cid}/{action}", headers=headers, json=body)


async def _handlers(client, roles):
    r = await client.put("/v1/handlers/S-CH1", headers=roles["manager"], json={"branch": "BR001", "categories": []})
    assert r.status_code == 200, r.text


async def test_received_before_national_day_is_acknowledged_after_it(complaints, roles):
    # 2026-09-30 is the last working day before 国庆 (10-01..10-07 off).
    c = await _open(complaints, roles["teller"], received_at="2026-09-30T16:00:00+08:00", channel="suggestion_box")
    assert (c["received_on"], c["acknowledge_due"], c["first_contact_due"]) == (
        "2026-09-30",
        "2026-10-08",
        "2026-10-09",
    )
    assert c["decision_due"] == "2026-10-15"  # 15 calendar days: the regulator's clock does not skip holidays
    # Received on Friday 10-09: the 调休 Saturday 10-10 is a working day.
    c = await _open(complaints, roles["teller"], received_at="2026-10-09T11:00:00+08:00", category="cards")
    assert c["acknowledge_due"] == "2026-10-10" and c["first_contact_due"] == "2026-10-12"
    # Regulator-forwarded: the same working day, and first contact the next.
    c = await _open(
        complaints,
        roles["teller"],
        received_at="2026-10-09T11:00:00+08:00",
        channel="regulator_forwarded",
        category="loans",
    )
    assert c["priority"] is True and (c["acknowledge_due"], c["first_contact_due"]) == ("2026-10-09", "2026-10-10")


async def test_the_standard_process_and_illegal_steps(complaints, roles):
    await _handlers(complaints, roles)
    c = await _open(complaints, roles["teller"])
    assert c["state"] == "received" and c["handler"] == "S-CH1"
    r = await _do(
        complaints,
        roles["handler"],
        c["id"],
        "resolve",
        explanation="x",
        apology=True,
        compensation="0.00",
        root_cause="fees",
    )
    assert r.status_code == 409 and r.json()["state"] == "received" and "received" in r.json()["detail"]
    for action in ("acknowledge", "assign", "investigate", "contact"):
        r = await _do(complaints, roles["handler"], c["id"], action)
        assert r.status_code == 200, (action, r.text)
    r = await _do(
        complaints,
        roles["handler"],
        c["id"],
        "resolve",
        explanation="a duplicate charge, refunded",
        apology=True,
        compensation="1500.00",
        root_cause="fees",
    )
    assert r.status_code == 200 and r.json()["resolution"]["needs_approval"] is True
    r = await _do(complaints, roles["handler"], c["id"], "confirm")
    assert r.status_code == 409 and "not approved" in r.json()["detail"]
    assert (await _do(complaints, roles["handler"], c["id"], "approve-compensation")).status_code == 403
    assert (await _do(complaints, roles["manager"], c["id"], "approve-compensation")).status_code == 200
    r = await _do(complaints, roles["handler"], c["id"], "confirm", note="customer satisfied")
    assert r.status_code == 409 and "告知" in r.json()["detail"]  # the decision has not been communicated yet
    r = await _do(complaints, roles["handler"], c["id"], "notify", channel="phone")
    assert r.status_code == 200 and r.json()["decision_notice"]["by"] == "S-CH1"
    r = await _do(complaints, roles["handler"], c["id"], "confirm", note="customer satisfied")
    assert r.status_code == 200 and r.json()["state"] == "closed" and r.json()["closed_by"] == "customer_confirmed"
    r = await _do(complaints, roles["handler"], c["id"], "investigate")
    assert r.status_code == 409 and r.json()["state"] == "closed"
    r = await _do(complaints, roles["handler"], c["id"], "reopen", reason="the refund did not arrive")
    assert r.status_code == 200 and r.json()["state"] == "reopened"
    steps = [(h.get("from"), h.get("to"), h["by"]) for h in r.json()["history"] if h["action"] == "state"]
    assert steps == [
        (None, "received", "S-T1"),
        ("received", "acknowledged", "S-CH1"),
        ("acknowledged", "assigned", "S-CH1"),
        ("assigned", "investigating", "S-CH1"),
        ("investigating", "resolved", "S-CH1"),
        ("resolved", "closed", "S-CH1"),
        ("closed", "reopened", "S-CH1"),
    ]
    # Another handler of the branch may not act on S-CH1's case; a handler outside the roster cannot be named.
    r = await _do(complaints, roles["handler2"], c["id"], "investigate")
    assert r.status_code == 403 and "handled by S-CH1" in r.json()["detail"]
    r = await _do(complaints, roles["manager"], c["id"], "assign", handler="S-NOBODY")
    assert r.status_code == 422 and "S-NOBODY" in r.json()["detail"]
    # Out of scope: another branch's handler sees nothing; a teller cannot handle.
    assert (await complaints.get(f"/v1/complaints/{c['id']}", headers=roles["other_branch"])).status_code == 404
    assert (await _do(complaints, roles["teller"], c["id"], "investigate")).status_code == 403


async def test_extensions_need_the_right_role_and_an_appraisal_moves_the_deadline(complaints, roles):
    c = await _open(complaints, roles["teller"], received_at="2026-11-20T10:00:00+08:00")
    assert c["decision_due"] == "2026-12-05"
    r = await _do(
        complaints, roles["handler"], c["id"], "extend", to_days=30, reason="complex: needs card network records"
    )
    assert r.status_code == 200 and r.json()["decision_due"] == "2026-12-20"
    r = await _do(complaints, roles["handler"], c["id"], "extend", to_days=60, reason="still waiting")
    assert r.status_code == 403 and "branch manager or head office" in r.json()["detail"]
    r = await _do(complaints, roles["manager"], c["id"], "extend", to_days=61, reason="x")
    assert r.status_code == 409 and "at most 60" in r.json()["detail"]
    r = await _do(complaints, roles["manager"], c["id"], "extend", to_days=60, reason="approved: awaiting the network")
    assert r.status_code == 200 and r.json()["decision_due"] == "2027-01-19"
    r = await _do(
        complaints, roles["handler"], c["id"], "appraisal-start", on="2026-11-20", reason="too late to record"
    )
    assert r.status_code == 409 and "within 3 days" in r.json()["detail"]
    r = await _do(
        complaints, roles["handler"], c["id"], "appraisal-start", on="2026-11-28", reason="forensic appraisal"
    )
    assert r.status_code == 200
    r = await _do(complaints, roles["handler"], c["id"], "appraisal-end", on="2026-12-01", reason="report received")
    assert r.status_code == 200 and r.json()["paused_days"] == 3 and r.json()["decision_due"] == "2027-01-22"
    r = await _do(complaints, roles["handler"], c["id"], "appraisal-end")
    assert r.status_code == 409
    audit = (await complaints.get("/v1/audit", params={"target": c["id"]}, headers=roles["head_office"])).json()
    assert [a["action"] for a in audit].count("complaint.extend") == 2
    assert {"complaint.appraisal_start", "complaint.appraisal_end"} <= {a["action"] for a in audit}


async def test_a_breached_case_is_escalated_once_even_across_a_restart(start_complaints, complaints_env, roles):
    async with start_complaints() as complaints:
        late = await _open(complaints, roles["teller"], received_at="2026-11-10T10:00:00+08:00")
        await _do(complaints, roles["handler"], late["id"], "acknowledge")
        assert late["decision_due"] == "2026-11-25"

        async def escalated():
            got = (await complaints.get(f"/v1/complaints/{late['id']}", headers=roles["manager"])).json()
            return got if got["state"] == "escalated" else None

        got = await eventually(escalated, timeout=30)
        assert got["escalated_for_breach"] is True and sorted(got["breached"]) == ["decision", "first_contact"]
        before = (await complaints.store.scheduler.find_one({"_id": "deadlines"}))["passes"]
    async with start_complaints(clock_date="2026-12-02") as complaints:

        async def checked():  # two whole passes of the restarted scheduler on the next day
            doc = await complaints.store.scheduler.find_one({"_id": "deadlines"})
            return doc and doc.get("last_pass_day") == "2026-12-02" and doc.get("passes", 0) >= 2 + before

        await eventually(checked, timeout=30)
        topic = complaints_env["KAFKA_TOPIC_PREFIX"] + "crm.complaints.cases"
        records = await read_topic(
            complaints_env["KAFKA_BOOTSTRAP_SERVERS"],
            topic,
            settle=1.0,
            until=lambda rs: len(of_type(rs, BREACHED)) >= 2,
        )
    breaches = of_type(records, BREACHED)
    assert sorted(b["data"]["target"] for b in breaches) == ["decision", "first_contact"]
    assert [b["data"]["escalated_to"] for b in breaches if b["data"]["escalated_to"]] == ["branch_manager"]
    escalations = [e for e in of_type(records, STATUS) if e["data"]["to_state"] == "escalated"]
    assert len(escalations) == 1 and escalations[0]["data"]["by"] == "complaints"


async def test_deadline_approaching_is_raised_three_days_before(complaints, complaints_env, roles):
    c = await _open(complaints, roles["teller"], received_at="2026-11-18T10:00:00+08:00")  # decision due 12-03
    await _do(complaints, roles["handler"], c["id"], "acknowledge")
    await _do(complaints, roles["handler"], c["id"], "contact")
    complaints.service.scheduler_job.wake()
    topic = complaints_env["KAFKA_TOPIC_PREFIX"] + "crm.complaints.cases"
    records = await read_topic(
        complaints_env["KAFKA_BOOTSTRAP_SERVERS"], topic, until=lambda rs: len(of_type(rs, APPROACHING)) >= 1
    )
    [warning] = of_type(records, APPROACHING)
    assert (warning["data"]["target"], warning["data"]["due"], warning["data"]["days_left"]) == (
        "decision",
        "2026-12-03",
        2,
    )


async def test_intake_rules(complaints, roles):
    r = await complaints.post(
        "/v1/complaints",
        headers=roles["teller"],
        json={
            "channel": "online",
            "category": "app",
            "description": "app crashes",
            "branch": "BR001",
            "complainant": {"name": "王小明", "phone": "13812345678"},
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["customer_id"] is None and body["complainant"]["phone"] == "138****5678"
    assert "13812345678" not in r.text and body["description"] is None
    # The full details for the case's handling roles, for a purpose, audited; not for the teller who took it in.
    url = f"/v1/complaints/{body['id']}"
    assert (
        await complaints.get(url, params={"reveal": "true", "purpose": "call back"}, headers=roles["teller"])
    ).status_code == 403
    assert (await complaints.get(url, params={"reveal": "true"}, headers=roles["manager"])).status_code == 422
    full = (
        await complaints.get(url, params={"reveal": "true", "purpose": "call back"}, headers=roles["manager"])
    ).json()
    assert full["complainant"]["phone"] == "13812345678" and full["description"] == "app crashes"
    audit = (await complaints.get("/v1/audit", params={"target": body["id"]}, headers=roles["head_office"])).json()
    assert [(a["action"], a["staff_id"], a["detail"]["purpose"]) for a in audit] == [
        ("complaint.revealed", "S-BM1", "call back")
    ]
    bad = [
        ({"category": "weather"}, "category"),
        ({"received_at": "2027-01-01T00:00:00+08:00"}, "received_at"),
        ({"received_at": "2026-11-01T00:00:00"}, "received_at"),
        ({"channel": "fax"}, "channel"),
    ]
    for over, field in bad:
        r = await complaints.post(
            "/v1/complaints",
            headers=roles["teller"],
            json={
                "customer_id": "C2",
                "channel": "hotline",
                "category": "fees",
                "description": "x",
                "branch": "BR001",
                **over,
            },
        )
        assert r.status_code == 422 and field in r.text, (over, r.text)
    r = await complaints.post(
        "/v1/complaints",
        headers=roles["teller"],
        json={"channel": "hotline", "category": "fees", "description": "x", "branch": "BR001"},
    )
    assert r.status_code == 422
    r = await complaints.post(
        "/v1/complaints",
        headers=roles["teller"],
        json={"customer_id": "C2", "channel": "hotline", "category": "fees", "description": "x", "branch": "BR009"},
    )
    assert r.status_code == 403
    # A repeat within 90 days in the same category is linked to the earlier case.
    first = await _open(complaints, roles["teller"], customer_id="C3", received_at="2026-09-10T10:00:00+08:00")
    second = await _open(complaints, roles["teller"], customer_id="C3")
    other = await _open(complaints, roles["teller"], customer_id="C3", category="cards")
    assert second["repeat_of"] == first["id"] and other["repeat_of"] is None and first["repeat_of"] is None


async def test_the_report_adds_up_to_its_cases(complaints, roles):
    await _handlers(complaints, roles)
    for customer, channel, category, received, comp in [
        ("R0", "hotline", "fees", "2026-11-02T10:00:00+08:00", "100.00"),
        ("R1", "branch", "fees", "2026-11-03T10:00:00+08:00", None),
        ("R0", "online", "cards", "2026-11-05T10:00:00+08:00", "50.50"),
        ("R1", "email", "fees", "2026-11-20T10:00:00+08:00", "0.00"),  # a repeat of R1's fees complaint
    ]:
        c = await _open(
            complaints, roles["teller"], customer_id=customer, channel=channel, category=category, received_at=received
        )
        if comp is not None:
            for action in ("acknowledge", "assign", "investigate"):
                assert (await _do(complaints, roles["handler"], c["id"], action)).status_code == 200
            r = await _do(
                complaints,
                roles["handler"],
                c["id"],
                "resolve",
                explanation="explained",
                apology=True,
                compensation=comp,
                root_cause=category,
            )
            assert r.status_code == 200, r.text
    await _open(complaints, roles["teller"], received_at="2026-10-15T10:00:00+08:00")  # outside the period
    report = (
        await complaints.get(
            "/v1/reports/complaints", params={"from": "2026-11-01", "to": "2026-11-30"}, headers=roles["manager"]
        )
    ).json()
    assert report["total"] == 4
    for part in ("by_category", "by_channel", "by_branch", "by_state"):
        assert sum(report[part].values()) == 4, part
    assert report["by_category"] == {"cards": 1, "fees": 3}
    assert report["by_channel"] == {"branch": 1, "email": 1, "hotline": 1, "online": 1}
    # Decided today (2026-12-01): the 11-02 and 11-05 cases after their 15 days, the 11-20 one in time.
    # … and the 11-03 case is still open past its due date: it counts against the rate too.
    assert report["decided"] == 3 and report["decided_on_time"] == 1 and report["open_past_due"] == 1
    assert report["on_time_rate"] == 0.25
    assert report["compensation_total"] == "150.50"
    assert report["repeats"] == 1 and report["repeat_rate"] == 0.25
    assert (
        report["days_to_resolve"]["median"] is not None
        and report["days_to_resolve"]["p90"] >= report["days_to_resolve"]["median"]
    )
    r = await complaints.get(
        "/v1/reports/complaints", params={"from": "2026-11-30", "to": "2026-11-01"}, headers=roles["manager"]
    )
    assert r.status_code == 422
