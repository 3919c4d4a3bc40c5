"""Other data that reaches complaints late, against the real broker and database: the handler roster filled after
cases came in (they get a handler; a leaving handler's cases go to another), and a merge of customer records (the
merged-away record's open case follows the survivor's owner and tier; a new complaint under the old id is filed
under the survivor and linked as a repeat)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from crm_contracts.profile import CustomerMerged
from crm_contracts.tiering import TierChanged
from crm_contracts.topics import COMPLAINTS_CASES, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from support import eventually, of_type, read_topic
from tiering_support import Feed, registered

ROUTED = "crm.complaints.complaint.routed.v1"


async def _case(client, roles, cid):
    return (await client.get(f"/v1/complaints/{cid}", headers=roles["head_office"])).json()


async def _until(client, roles, cid, check, timeout=30):
    async def probe():
        got = await _case(client, roles, cid)
        return got if check(got) else None

    return await eventually(probe, timeout=timeout)


async def test_cases_without_a_handler_get_one_when_the_roster_is_filled(complaints, complaints_env, roles):
    r = await complaints.post(
        "/v1/complaints",
        headers=roles["head_office"],
        json={
            "complainant": {"name": "李雷", "phone": "13900001111"},
            "channel": "letter",
            "category": "queueing",
            "description": "waited an hour",
            "branch": "BR003",
        },
    )
    assert r.status_code == 201 and r.json()["handler"] is None  # branch BR003 has no handler yet
    case = r.json()

    def put(staff_id, **over):
        return complaints.put(
            f"/v1/handlers/{staff_id}", headers=roles["head_office"], json={"branch": "BR003", **over}
        )

    assert (await put("S-CH3")).status_code == 200
    got = await _case(complaints, roles, case["id"])
    assert got["handler"] == "S-CH3" and got["state"] == "received"
    assert (await put("S-CH4")).status_code == 200
    assert (await _case(complaints, roles, case["id"]))["handler"] == "S-CH3"  # a handled case stays
    assert (await put("S-CH3", active=False)).status_code == 200  # S-CH3 leaves: the case goes to S-CH4
    assert (await _case(complaints, roles, case["id"]))["handler"] == "S-CH4"
    topic = complaints_env["KAFKA_TOPIC_PREFIX"] + COMPLAINTS_CASES
    records = await read_topic(
        complaints_env["KAFKA_BOOTSTRAP_SERVERS"], topic, until=lambda rs: len(of_type(rs, ROUTED)) >= 2
    )
    assert [(e["data"]["reason"], e["data"]["handler"], e["subject"]) for e in of_type(records, ROUTED)] == [
        ("roster", "S-CH3", case["id"]),
        ("roster", "S-CH4", case["id"]),
    ]
    # Every complaint event carries its customer's (here: the case's) number, consecutive from 1 in topic order.
    numbers: dict[bytes, list[int]] = {}
    for record in records:
        numbers.setdefault(record.key, []).append(int(dict(record.headers)["ce_sequence"].decode()))
    assert numbers and all(seqs == list(range(1, len(seqs) + 1)) for seqs in numbers.values()), numbers


async def test_a_merged_away_records_complaints_follow_the_survivor(complaints, complaints_env, roles):
    await complaints.put("/v1/handlers/S-CH1", headers=roles["head_office"], json={"branch": "BR001"})
    feed = Feed(complaints_env)
    await feed.send(PROFILE_CUSTOMERS, registered("M1", owner="S-RM1"), registered("M2", owner="S-RM2"))

    async def known():
        return await complaints.store.customers.count_documents({"_id": {"$in": ["M1", "M2"]}}) == 2

    await eventually(known)
    r = await complaints.post(
        "/v1/complaints",
        headers=roles["teller"],
        json={"customer_id": "M2", "channel": "hotline", "category": "deposits", "description": "interest wrong"},
    )
    assert r.status_code == 201, r.text
    old = r.json()
    assert (old["routing"], old["owner"], old["priority"]) == ("routed", "S-RM2", False)

    merged = CustomerMerged(
        survivor_id="M1", merged_id="M2", merged_by="S-HO1", merged_at=datetime(2026, 12, 1, 2, tzinfo=UTC)
    )
    await feed.send(PROFILE_CUSTOMERS, (merged, "M1"))
    got = await _until(complaints, roles, old["id"], lambda c: c["owner"] == "S-RM1")
    assert got["customer_id"] == "M2"  # the case keeps the id it was taken in under
    await feed.send(
        TIERING_CUSTOMERS,
        (
            TierChanged(
                customer_id="M1",
                branch="BR001",
                from_tier=None,
                to_tier="vip",
                reason="first_tier",
                policy_version=1,
                as_of=date(2026, 11, 30),
                basis_amount=Decimal("800000.00"),
            ),
            "M1",
        ),
    )
    got = await _until(complaints, roles, old["id"], lambda c: c["priority"] is True)
    assert got["tier"] == "vip"

    r = await complaints.post(
        "/v1/complaints",
        headers=roles["teller"],
        json={"customer_id": "M2", "channel": "counter", "category": "deposits", "description": "still wrong"},
    )
    assert r.status_code == 201, r.text
    again = r.json()
    assert (again["customer_id"], again["named_customer_id"], again["repeat_of"]) == ("M1", "M2", old["id"])
    assert (again["owner"], again["priority"], again["routing"]) == ("S-RM1", True, "routed")
