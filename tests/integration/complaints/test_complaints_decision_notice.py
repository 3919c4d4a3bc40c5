"""The decision notice (告知) against the real broker and database: a case closes only after the complainant was told
the decision (when, how, by whom); the customer's silence is counted from the notice; the report counts decisions
notified on time; an untold decision stays due; intake takes letters and counter visits."""

from __future__ import annotations

from support import eventually, of_type, read_topic

NOTIFIED = "crm.complaints.complaint.decision-notified.v1"
CLOSED = "crm.complaints.complaint.closed.v1"


async def _open(client, headers, **over):
    body = {
        "customer_id": "N1",
        "channel": "letter",
        "category": "fees",
        "description": "charged twice",
        "branch": "BR001",
        **over,
    }
    r = await client.post("/v1/complaints", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def _do(client, headers, cid, action, **body):
    return await client.post(f"/v1/complaints/{cid}/{action}", headers=headers, json=body)


async def _decide(client, headers, cid, compensation="0.00"):
    for action in ("acknowledge", "assign", "investigate"):
        assert (await _do(client, headers, cid, action)).status_code == 200, action
    r = await _do(
        client,
        headers,
        cid,
        "resolve",
        explanation="the second charge was refunded",
        apology=True,
        compensation=compensation,
        root_cause="fees",
    )
    assert r.status_code == 200, r.text


async def test_a_case_closes_only_after_the_decision_was_communicated(complaints, complaints_env, roles):
    await complaints.put("/v1/handlers/S-CH1", headers=roles["manager"], json={"branch": "BR001"})
    c = await _open(complaints, roles["teller"], channel="counter", received_at="2026-11-20T10:00:00+08:00")
    assert c["channel"] == "counter"
    r = await _do(complaints, roles["handler"], c["id"], "notify", channel="phone")
    assert r.status_code == 409 and r.json()["state"] == "received"  # nothing decided yet
    await _decide(complaints, roles["handler"], c["id"])
    r = await _do(complaints, roles["handler"], c["id"], "confirm")
    assert r.status_code == 409 and "告知" in r.json()["detail"] and r.json()["state"] == "resolved"
    for bad, field in (
        ({"channel": "pigeon"}, "channel"),
        ({"channel": "letter", "notified_at": "2027-01-01T00:00:00+08:00"}, "notified_at"),
        ({"channel": "letter", "notified_at": "2026-11-30T10:00:00"}, "notified_at"),
        ({}, "channel"),
    ):
        r = await _do(complaints, roles["handler"], c["id"], "notify", **bad)
        assert r.status_code == 422 and field in r.text, (bad, r.text)
    assert (await _do(complaints, roles["teller"], c["id"], "notify", channel="phone")).status_code == 403
    r = await _do(
        complaints, roles["handler"], c["id"], "notify", channel="letter", notified_at="2026-11-30T20:30:00+08:00"
    )  # the evening before the pinned day: past at any hour
    assert r.status_code == 200, r.text
    notice = r.json()["decision_notice"]
    assert (notice["channel"], notice["by"], notice["due"], notice["on_time"]) == (
        "letter",
        "S-CH1",
        "2026-12-05",
        True,
    )
    assert (await _do(complaints, roles["handler"], c["id"], "notify", channel="sms")).status_code == 409  # once
    r = await _do(complaints, roles["handler"], c["id"], "confirm")
    assert r.status_code == 200 and r.json()["state"] == "closed"
    audit = (await complaints.get("/v1/audit", params={"target": c["id"]}, headers=roles["head_office"])).json()
    assert "complaint.notify" in [a["action"] for a in audit]

    topic = complaints_env["KAFKA_TOPIC_PREFIX"] + "crm.complaints.cases"
    records = await read_topic(
        complaints_env["KAFKA_BOOTSTRAP_SERVERS"], topic, until=lambda rs: len(of_type(rs, CLOSED)) >= 1
    )
    [told] = of_type(records, NOTIFIED, "N1")
    assert (told["data"]["channel"], told["data"]["by"], told["data"]["on_time"]) == ("letter", "S-CH1", True)
    [closed] = of_type(records, CLOSED, "N1")
    assert closed["data"]["notified_at"].startswith("2026-11-30T12:30:00")


async def test_silence_counts_from_the_notice_and_an_untold_decision_waits(complaints, roles):
    await complaints.put("/v1/handlers/S-CH1", headers=roles["manager"], json={"branch": "BR001"})
    told = await _open(complaints, roles["teller"], customer_id="N2", received_at="2026-11-10T10:00:00+08:00")
    untold = await _open(complaints, roles["teller"], customer_id="N3", received_at="2026-11-10T10:00:00+08:00")
    for c in (told, untold):
        await _decide(complaints, roles["handler"], c["id"])
    # Told on 11-24 by phone (recorded today): seven days of silence have passed; the other was never told.
    r = await _do(
        complaints, roles["handler"], told["id"], "notify", channel="phone", notified_at="2026-11-24T15:00:00+08:00"
    )
    assert r.status_code == 200 and r.json()["decision_notice"]["on_time"] is True  # due 11-25
    complaints.service.scheduler_job.wake()

    async def closed():
        got = (await complaints.get(f"/v1/complaints/{told['id']}", headers=roles["manager"])).json()
        return got if got["state"] == "closed" else None

    assert (await eventually(closed, timeout=30))["closed_by"] == "no_answer"

    # Untold, the decision is still due (处理决定并告知): past its day it is overdue and breached, and stays resolved.
    async def breached():
        got = (await complaints.get(f"/v1/complaints/{untold['id']}", headers=roles["manager"])).json()
        return got if "decision" in got["breached"] else None

    got = await eventually(breached, timeout=30)
    assert got["state"] == "resolved" and got["decision_notice"] is None and got["overdue"] == ["decision"]


async def test_the_report_counts_decisions_notified_on_time(complaints, roles):
    await complaints.put("/v1/handlers/S-CH1", headers=roles["manager"], json={"branch": "BR001"})
    cases = {}
    for customer, received in (
        ("T1", "2026-11-20T10:00:00+08:00"),
        ("T2", "2026-11-05T10:00:00+08:00"),
        ("T3", "2026-11-02T10:00:00+08:00"),
        ("T4", "2026-11-25T10:00:00+08:00"),
    ):
        cases[customer] = await _open(complaints, roles["teller"], customer_id=customer, received_at=received)
        await _decide(complaints, roles["handler"], cases[customer]["id"])
    # T1 told in time (due 12-05); T2 told late (due 11-20); T3 never told and past its day (due 11-17): late;
    # T4 not told yet but still within its day (due 12-10): not counted yet.
    for customer in ("T1", "T2"):
        r = await _do(complaints, roles["handler"], cases[customer]["id"], "notify", channel="email")
        assert r.status_code == 200, r.text
    report = (
        await complaints.get(
            "/v1/reports/complaints", params={"from": "2026-11-01", "to": "2026-11-30"}, headers=roles["manager"]
        )
    ).json()
    assert (report["decided"], report["notified"], report["notified_on_time"], report["awaiting_notice"]) == (
        4,
        2,
        1,
        2,
    )
    assert report["notified_on_time_rate"] == round(1 / 3, 4)
