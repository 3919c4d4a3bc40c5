"""Complaints and the working-day calendar, against the real broker and database: intake never refused when a
target falls in a year no official schedule covers (provisional targets, flagged in the API and the events)."""

from __future__ import annotations

from calendar_support import notice_2027
from support import eventually, of_type, read_topic

OPENED = "crm.complaints.complaint.opened.v1"


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


async def test_a_complaint_received_on_2026_12_30_gets_provisional_january_2027_targets(
    start_complaints, complaints_env, roles
):
    async with start_complaints(clock_date="2026-12-31") as complaints:
        # Wed 12-30: acknowledge Thu 12-31 (official 2026), first contact on the provisional 2027 calendar: Fri
        # 2027-01-01 is 元旦 by the statute, then the weekend: Monday 01-04.
        c = await _open(complaints, roles["teller"], received_at="2026-12-30T15:00:00+08:00")
        assert (c["acknowledge_due"], c["first_contact_due"]) == ("2026-12-31", "2027-01-04")
        assert c["provisional_targets"] == ["first_contact"] and c["provisional"] is True
        assert c["decision_due"] == "2027-01-14"  # 15 calendar days: no calendar involved
        # Thu 12-31, not a priority case: both targets in 2027.
        later = await _open(complaints, roles["teller"], received_at="2026-12-31T00:00:00+08:00", category="cards")
        assert (later["acknowledge_due"], later["first_contact_due"]) == ("2027-01-04", "2027-01-05")
        assert later["provisional_targets"] == ["acknowledge", "first_contact"]
        # Earlier in December nothing rests on 2027.
        early = await _open(complaints, roles["teller"], received_at="2026-12-01T09:00:00+08:00", category="loans")
        assert early["provisional_targets"] == [] and early["provisional"] is False
        got = (await complaints.get(f"/v1/complaints/{c['id']}", headers=roles["manager"])).json()
        assert got["provisional_targets"] == ["first_contact"]
        topic = complaints_env["KAFKA_TOPIC_PREFIX"] + "crm.complaints.cases"
        records = await read_topic(
            complaints_env["KAFKA_BOOTSTRAP_SERVERS"], topic, until=lambda rs: len(of_type(rs, OPENED)) >= 3
        )
    opened = {e["data"]["complaint_id"]: e["data"] for e in of_type(records, OPENED)}
    assert opened[c["id"]]["provisional_targets"] == ["first_contact"]
    assert opened[c["id"]]["first_contact_due"] == "2027-01-04"
    assert opened[later["id"]]["provisional_targets"] == ["acknowledge", "first_contact"]
    assert opened[early["id"]]["provisional_targets"] is None


TARGETS_CHANGED = "crm.complaints.complaint.targets-changed.v1"
CALENDAR_CHANGED = "crm.complaints.calendar.changed.v1"


async def test_loading_the_official_2027_schedule_recomputes_the_provisional_targets_on_every_replica(
    start_complaints, complaints_env, roles
):
    fast = {"clock_date": "2027-02-04", "calendar_refresh_seconds": 0.3}
    async with start_complaints(**fast) as first, start_complaints(**fast) as second:
        # Received Wed 2026-12-30: first contact Monday 2027-01-04 on the provisional calendar.
        year_end = await _open(first, roles["teller"], received_at="2026-12-30T15:00:00+08:00")
        assert year_end["provisional_targets"] == ["first_contact"]
        # Received Thu 2027-02-04, before 春节: provisionally Feb 5-10 off (除夕 … 初三, the weekend given back).
        spring = await _open(first, roles["teller"], received_at="2027-02-04T00:00:00+08:00", category="cards")
        assert (spring["acknowledge_due"], spring["first_contact_due"]) == ("2027-02-11", "2027-02-12")
        assert spring["provisional_targets"] == ["acknowledge", "first_contact"]

        # The days as channels see them.
        r = await second.get("/v1/calendar", params={"from": "2026-12-30", "to": "2027-01-05"}, headers=roles["teller"])
        assert r.status_code == 200, r.text
        cal = r.json()
        assert [(d["date"], d["working"], d["source"]) for d in cal["days"]] == [
            ("2026-12-30", True, "official"),
            ("2026-12-31", True, "official"),
            ("2027-01-01", False, "provisional"),
            ("2027-01-02", False, "provisional"),
            ("2027-01-03", False, "provisional"),
            ("2027-01-04", True, "provisional"),
            ("2027-01-05", True, "provisional"),
        ]
        assert cal["days"][2]["kind"] == "public_holiday" and cal["days"][2]["holiday"] == "New Year's Day"
        assert cal["working_days"] == 4 and cal["provisional"] is True and cal["official_through"] == 2026
        r = await first.get("/v1/calendar", params={"from": "2027-01-05", "to": "2026-12-30"}, headers=roles["teller"])
        assert r.status_code == 422 and "to" in r.text
        metrics = (await first.get("/metrics")).text
        assert 'crm_calendar_official_last_year{service="complaints"} 2026.0' in metrics

        # Loading: head office or admin only; the notice's shape and the statute are checked.
        notice = notice_2027()
        r = await first.put("/v1/calendar/years/2027", headers=roles["manager"], json=notice)
        assert r.status_code == 403
        bad = notice_2027()
        bad["holidays"][1]["rest"] = {"from": "2027-02-13", "to": "2027-02-05"}
        r = await first.put("/v1/calendar/years/2027", headers=roles["head_office"], json=bad)
        assert r.status_code == 422 and "holidays[1].rest" in r.text, r.text
        no_spring = notice_2027()
        del no_spring["holidays"][1]
        r = await first.put("/v1/calendar/years/2027", headers=roles["head_office"], json=no_spring)
        assert r.status_code == 422 and "2027-02-05 (春节" in r.text, r.text
        r = await first.put("/v1/calendar/years/2028", headers=roles["head_office"], json=notice)
        assert r.status_code == 422 and "year" in r.text

        r = await first.put("/v1/calendar/years/2027", headers=roles["head_office"], json=notice)
        assert r.status_code == 200, r.text
        assert (r.json()["change"], r.json()["was"], r.json()["official_through"]) == ("loaded", "provisional", 2027)

        # The other replica applies it without a restart.
        async def official_on_second():
            days = (
                await second.get(
                    "/v1/calendar", params={"from": "2027-02-13", "to": "2027-02-15"}, headers=roles["teller"]
                )
            ).json()["days"]
            return days if days[0]["source"] == "official" else None

        days = await eventually(official_on_second, timeout=15)
        assert [(d["date"], d["working"]) for d in days] == [
            ("2027-02-13", False),
            ("2027-02-14", False),
            ("2027-02-15", True),
        ]

        # The open cases' provisional targets are recomputed.
        async def recomputed():
            got = (await second.get(f"/v1/complaints/{spring['id']}", headers=roles["manager"])).json()
            return got if not got["provisional_targets"] else None

        got = await eventually(recomputed, timeout=20)
        assert (got["acknowledge_due"], got["first_contact_due"]) == ("2027-02-15", "2027-02-16")  # after 春节's 9 days
        got = (await first.get(f"/v1/complaints/{year_end['id']}", headers=roles["manager"])).json()
        assert got["first_contact_due"] == "2027-01-04" and got["provisional"] is False  # the same day, now official
        audit = (await first.get("/v1/audit", params={"target": spring["id"]}, headers=roles["head_office"])).json()
        assert [a["action"] for a in audit].count("complaint.targets_recomputed") == 1
        audit = (await first.get("/v1/audit", params={"target": "calendar-2027"}, headers=roles["head_office"])).json()
        assert [(a["action"], a["staff_id"], a["detail"]["was"]) for a in audit] == [
            ("calendar.loaded", "S-HO1", "provisional")
        ]
        assert 'crm_calendar_official_last_year{service="complaints"} 2027.0' in (await first.get("/metrics")).text

        topic = complaints_env["KAFKA_TOPIC_PREFIX"] + "crm.complaints.cases"
        records = await read_topic(
            complaints_env["KAFKA_BOOTSTRAP_SERVERS"],
            topic,
            settle=1.0,
            until=lambda rs: len(of_type(rs, TARGETS_CHANGED)) >= 2,
        )
    [changed_calendar] = of_type(records, CALENDAR_CHANGED)
    assert changed_calendar["subject"] == "calendar-2027"
    assert (changed_calendar["data"]["change"], changed_calendar["data"]["was"]) == ("loaded", "provisional")
    assert (
        "2027-02-05" in changed_calendar["data"]["rest_days"]
        and "2027-01-31" in changed_calendar["data"]["make_up_workdays"]
    )
    changes = {e["data"]["complaint_id"]: e["data"] for e in of_type(records, TARGETS_CHANGED)}
    assert len(of_type(records, TARGETS_CHANGED)) == 2  # once per case
    assert changes[spring["id"]]["previous"] == {"acknowledge": "2027-02-11", "first_contact": "2027-02-12"}
    assert (changes[spring["id"]]["acknowledge_due"], changes[spring["id"]]["first_contact_due"]) == (
        "2027-02-15",
        "2027-02-16",
    )
    assert changes[spring["id"]]["provisional_targets"] == []
    assert changes[year_end["id"]]["previous"] == {} and changes[year_end["id"]]["provisional_targets"] == []


async def test_the_policy_option_moves_a_decision_due_on_a_public_holiday(start_complaints, roles):
    async with start_complaints(clock_date="2026-12-31") as complaints:
        await _policy_option(complaints, roles)


async def _policy_option(complaints, roles):
    # Default: received 2026-09-16, due 15 calendar days later on 国庆 10-01, the stricter date.
    c = await _open(complaints, roles["teller"], received_at="2026-09-16T10:00:00+08:00")
    assert c["decision_due"] == "2026-10-01" and c["decision_rolls"] is False
    r = await complaints.put(
        "/v1/policy",
        headers=roles["head_office"],
        json={
            "policy": {"regulator": {"holiday_rolls_to_next_workday": True}},
            "note": "compliance: a deadline on a public holiday ends on the next working day",
        },
    )
    assert r.status_code == 200, r.text
    rolled = await _open(complaints, roles["teller"], received_at="2026-09-16T10:00:00+08:00", category="cards")
    assert rolled["decision_due"] == "2026-10-08" and rolled["decision_rolls"] is True
    # The case received before the change keeps the rule it was received under.
    got = (await complaints.get(f"/v1/complaints/{c['id']}", headers=roles["manager"])).json()
    assert got["decision_due"] == "2026-10-01"
    # Over a provisional holiday: received 2026-12-17, due on 元旦 2027: the next working day, flagged.
    late = await _open(complaints, roles["teller"], received_at="2026-12-17T10:00:00+08:00", category="loans")
    assert late["decision_due"] == "2027-01-04" and "decision" in late["provisional_targets"]


async def test_calendar_ranges_outside_what_it_covers_are_refused(complaints, roles):
    for params, field in (
        ({"from": "1900-12-30", "to": "1901-01-02"}, "from"),
        ({"from": "2099-12-30", "to": "2100-01-02"}, "to"),
        ({"from": "2027-01-01", "to": "2028-12-31"}, "to"),
    ):
        r = await complaints.get("/v1/calendar", params=params, headers=roles["teller"])
        assert r.status_code == 422 and r.json()["field"] == field, r.text
    r = await complaints.put("/v1/calendar/years/2027", headers=roles["head_office"], json=["not", "a", "notice"])
    assert r.status_code == 422, r.text
    r = await complaints.put("/v1/calendar/years/2027", headers=roles["head_office"], json={"2027": {"holidays": 3}})
    assert r.status_code == 422 and r.json()["field"] == "2027.holidays", r.text
