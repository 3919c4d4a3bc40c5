"""Complaints and the working-day calendar, against the real broker and database: intake never refused when a
target falls in a year no official schedule covers (provisional targets, flagged in the API and the events)."""

from __future__ import annotations

from support import of_type, read_topic

OPENED = "crm.complaints.complaint.opened.v1"


async def _open(client, headers, **over):
    body = {"customer_id": "C1", "channel": "hotline", "category": "fees", "description": "charged twice for a transfer",
            "branch": "BR001", **over}
    r = await client.post("/v1/complaints", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_complaint_received_on_2026_12_30_gets_provisional_january_2027_targets(start_complaints, complaints_env,
                                                                                      roles):
    async with start_complaints(clock_date="2026-12-31") as complaints:
        # Wed 12-30: acknowledge Thu 12-31 (official 2026), first contact on the provisional 2027 calendar: Fri
        # 2027-01-01 is 元旦 by the statute, then the weekend: Monday 01-04.
        c = await _open(complaints, roles["teller"], received_at="2026-12-30T15:00:00+08:00")
        assert (c["acknowledge_due"], c["first_contact_due"]) == ("2026-12-31", "2027-01-04")
        assert c["provisional_targets"] == ["first_contact"] and c["provisional"] is True
        assert c["decision_due"] == "2027-01-14"  # 15 calendar days: no calendar involved
        # Thu 12-31, not a priority case: both targets in 2027.
        later = await _open(complaints, roles["teller"], received_at="2026-12-31T09:00:00+08:00", category="cards")
        assert (later["acknowledge_due"], later["first_contact_due"]) == ("2027-01-04", "2027-01-05")
        assert later["provisional_targets"] == ["acknowledge", "first_contact"]
        # Earlier in December nothing rests on 2027.
        early = await _open(complaints, roles["teller"], received_at="2026-12-01T09:00:00+08:00", category="loans")
        assert early["provisional_targets"] == [] and early["provisional"] is False
        got = (await complaints.get(f"/v1/complaints/{c['id']}", headers=roles["manager"])).json()
        assert got["provisional_targets"] == ["first_contact"]
        topic = complaints_env["KAFKA_TOPIC_PREFIX"] + "crm.complaints.cases"
        records = await read_topic(complaints_env["KAFKA_BOOTSTRAP_SERVERS"], topic,
                                   until=lambda rs: len(of_type(rs, OPENED)) >= 3)
    opened = {e["data"]["complaint_id"]: e["data"] for e in of_type(records, OPENED)}
    assert opened[c["id"]]["provisional_targets"] == ["first_contact"]
    assert opened[c["id"]]["first_contact_due"] == "2027-01-04"
    assert opened[later["id"]]["provisional_targets"] == ["acknowledge", "first_contact"]
    assert opened[early["id"]]["provisional_targets"] is None
