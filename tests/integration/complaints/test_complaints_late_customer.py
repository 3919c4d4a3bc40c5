"""Events that arrive late, against the real broker and database: a complaint taken in before complaints heard of
the customer is accepted and routed when the registration arrives (branch, handler, owner; priority by a tier that
comes later still); a customer id still unknown after the policy's wait is flagged `customer_unverified`, listed for
manual routing and routed by hand; a registration arriving even later still routes a flagged case; a redelivered
event changes nothing twice."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from crm_contracts.tiering import TierChanged
from crm_contracts.topics import COMPLAINTS_CASES, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from support import eventually, of_type, read_topic
from tiering_support import Feed, registered

ROUTED = "crm.complaints.complaint.routed.v1"
UNVERIFIED = "crm.complaints.complaint.customer-unverified.v1"


def tier(customer_id: str, to_tier: str, *, branch: str | None = None):
    return TierChanged(
        customer_id=customer_id,
        branch=branch,
        from_tier=None,
        to_tier=to_tier,
        reason="first_tier",
        policy_version=1,
        as_of=date(2026, 11, 30),
        basis_amount=Decimal("4000000.00"),
    ), customer_id


async def _roster(client, roles):
    for staff_id, branch in (("S-CH1", "BR001"), ("S-CH2", "BR002")):
        r = await client.put(f"/v1/handlers/{staff_id}", headers=roles["head_office"], json={"branch": branch})
        assert r.status_code == 200, r.text


async def _take_in(client, headers, customer_id, **over):
    body = {
        "customer_id": customer_id,
        "channel": "counter",
        "category": "cards",
        "description": "card swallowed",
        **over,
    }
    r = await client.post("/v1/complaints", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def _case(client, roles, cid):
    return (await client.get(f"/v1/complaints/{cid}", headers=roles["head_office"])).json()


async def _until(client, roles, cid, check, timeout=30):
    async def probe():
        got = await _case(client, roles, cid)
        return got if check(got) else None

    return await eventually(probe, timeout=timeout)


async def _published(env, event_type, count, settle=0.0):
    topic = env["KAFKA_TOPIC_PREFIX"] + COMPLAINTS_CASES
    records = await read_topic(
        env["KAFKA_BOOTSTRAP_SERVERS"], topic, settle=settle, until=lambda rs: len(of_type(rs, event_type)) >= count
    )
    return of_type(records, event_type)


async def test_a_complaint_before_the_registration_is_routed_when_it_arrives(
    complaints, complaints_env, roles, token_for
):
    await _roster(complaints, roles)
    feed = Feed(complaints_env)
    case = await _take_in(
        complaints, roles["teller"], "L1", received_at="2026-12-01T00:00:00+08:00"
    )  # never after the pinned day's now
    # Accepted at once: waiting for the customer, provisionally in the receiver's branch, nobody routed yet.
    assert (case["routing"], case["branch"], case["branch_source"], case["handler"]) == (
        "pending_customer",
        "BR001",
        "receiver",
        None,
    )
    assert case["customer_unverified"] is False and case["priority"] is False
    assert case["decision_due"] == "2026-12-16"  # the regulator's clock runs from receipt regardless
    assert (case["acknowledge_due"], case["first_contact_due"]) == ("2026-12-02", "2026-12-03")

    [sent] = await feed.send(PROFILE_CUSTOMERS, registered("L1", branch="BR002", owner="S-RM2"))
    got = await _until(complaints, roles, case["id"], lambda c: c["routing"] == "routed")
    assert (got["branch"], got["branch_source"], got["handler"], got["owner"]) == (
        "BR002",
        "customer",
        "S-CH2",
        "S-RM2",
    )
    assert got["state"] == "received" and any(h["action"] == "routed" for h in got["history"])
    # The handler of the customer's branch now sees and works it.
    handler2 = {"Authorization": token_for("complaint_handler", "S-CH2", "BR002")}
    r = await complaints.post(f"/v1/complaints/{case['id']}/acknowledge", headers=handler2, json={})
    assert r.status_code == 200, r.text

    # The tier arrives after the registration: a key customer's open case gets priority and the faster targets.
    await feed.send(TIERING_CUSTOMERS, tier("L1", "key", branch="BR002"))
    got = await _until(complaints, roles, case["id"], lambda c: c["priority"] is True)
    assert got["tier"] == "key" and (got["acknowledge_due"], got["first_contact_due"]) == ("2026-12-01", "2026-12-02")

    # Delivered again: nothing changes twice.
    await feed.send_raw(PROFILE_CUSTOMERS, [(sent, "L1")])
    await feed.send(TIERING_CUSTOMERS, tier("L1", "key", branch="BR002"))
    routed = await _published(complaints_env, ROUTED, 2, settle=2.0)
    assert [
        (e["data"]["reason"], e["data"]["branch"], e["data"]["handler"], e["data"]["priority"]) for e in routed
    ] == [("customer_known", "BR002", "S-CH2", False), ("tier", "BR002", "S-CH2", True)]
    assert all(e["subject"] == "L1" for e in routed)


async def test_a_named_branch_is_kept_and_a_head_office_intake_without_one_waits(complaints, complaints_env, roles):
    await _roster(complaints, roles)
    feed = Feed(complaints_env)
    named = await _take_in(complaints, roles["teller"], "L2", branch="BR001")
    assert (named["routing"], named["branch_source"], named["handler"]) == ("pending_customer", "intake", "S-CH1")
    unplaced = await _take_in(complaints, roles["head_office"], "L3", channel="letter")
    assert (unplaced["routing"], unplaced["branch"], unplaced["handler"]) == ("pending_customer", None, None)
    await feed.send(PROFILE_CUSTOMERS, registered("L2", branch="BR002"), registered("L3", branch="BR002"))
    got = await _until(complaints, roles, named["id"], lambda c: c["routing"] == "routed")
    assert (got["branch"], got["handler"]) == ("BR001", "S-CH1")  # the intake's branch stands
    got = await _until(complaints, roles, unplaced["id"], lambda c: c["routing"] == "routed")
    assert (got["branch"], got["handler"], got["branch_source"]) == ("BR002", "S-CH2", "customer")
    # Someone who is not a customer has nobody to wait for: the receiver's branch handles it at once.
    r = await complaints.post(
        "/v1/complaints",
        headers=roles["teller"],
        json={
            "complainant": {"name": "韩梅梅", "email": "hmm@example.com"},
            "channel": "counter",
            "category": "queueing",
            "description": "no queue numbers",
        },
    )
    assert r.status_code == 201, r.text
    assert (r.json()["routing"], r.json()["branch"], r.json()["branch_source"], r.json()["handler"]) == (
        "routed",
        "BR001",
        "intake",
        "S-CH1",
    )


async def test_a_customer_still_unknown_is_flagged_listed_and_routed_by_hand(complaints, complaints_env, roles):
    await _roster(complaints, roles)
    feed = Feed(complaints_env)
    typo = await _take_in(complaints, roles["teller"], "L404")
    late = await _take_in(complaints, roles["teller"], "L5")
    fresh = await _take_in(complaints, roles["teller"], "L6")
    # Taken in a quarter of an hour ago (the policy waits 10 minutes); the third one just now.
    ago = complaints.service.now() - timedelta(minutes=15)  # the service's clock (the business date is pinned)
    await complaints.store.complaints.update_many(
        {"_id": {"$in": [typo["id"], late["id"]]}}, {"$set": {"pending_since": ago}}
    )
    complaints.service.unverified_job.wake()
    await _until(complaints, roles, late["id"], lambda c: c["customer_unverified"] is True)
    queue = (
        await complaints.get("/v1/complaints", params={"customer_unverified": "true"}, headers=roles["manager"])
    ).json()["items"]
    assert sorted(c["id"] for c in queue) == sorted([typo["id"], late["id"]])
    assert (await _case(complaints, roles, fresh["id"]))["customer_unverified"] is False
    waiting = (
        await complaints.get("/v1/complaints", params={"routing": "pending_customer"}, headers=roles["manager"])
    ).json()["items"]
    assert {c["id"] for c in waiting} == {typo["id"], late["id"], fresh["id"]}
    flagged = await _published(complaints_env, UNVERIFIED, 2)
    assert sorted(e["data"]["customer_id"] for e in flagged) == ["L404", "L5"]

    # The branch manager routes the typo by hand; another branch's staff may not route into their branch.
    r = await complaints.post(f"/v1/complaints/{typo['id']}/route", headers=roles["other_branch"], json={})
    assert r.status_code == 404
    r = await complaints.post(f"/v1/complaints/{typo['id']}/route", headers=roles["manager"], json={"branch": "BR002"})
    assert r.status_code == 403
    r = await complaints.post(
        f"/v1/complaints/{typo['id']}/route",
        headers=roles["manager"],
        json={"handler": "S-CH1", "note": "customer id mistyped: called the complainant"},
    )
    assert r.status_code == 200, r.text
    routed = r.json()
    assert (routed["routing"], routed["customer_unverified"], routed["handler"], routed["state"]) == (
        "manual",
        False,
        "S-CH1",
        "received",
    )
    # The registration arrives long after: the flagged case nobody routed is routed now, flag cleared.
    await feed.send(PROFILE_CUSTOMERS, registered("L5", branch="BR002"))
    got = await _until(complaints, roles, late["id"], lambda c: c["routing"] == "routed")
    assert (got["customer_unverified"], got["branch"], got["handler"]) == (False, "BR002", "S-CH2")
    queue = (
        await complaints.get("/v1/complaints", params={"customer_unverified": "true"}, headers=roles["head_office"])
    ).json()["items"]
    assert queue == []
    # Flagged once only, across passes.
    complaints.service.unverified_job.wake()
    assert len(await _published(complaints_env, UNVERIFIED, 3, settle=1.0)) == 2


async def test_an_intake_racing_the_registration_is_routed_all_the_same(complaints, roles):
    await _roster(complaints, roles)
    case = await _take_in(complaints, roles["teller"], "L7")
    assert case["routing"] == "pending_customer"
    # The consumer's transaction committed the registration without seeing the intake's (concurrent) case: the
    # customer is known, no event will come again.
    await complaints.store.customers.insert_one({"_id": "L7", "branch": "BR002", "owner": "S-RM2"})
    complaints.service.unverified_job.wake()
    got = await _until(complaints, roles, case["id"], lambda c: c["routing"] == "routed")
    assert (got["branch"], got["handler"], got["owner"], got["customer_unverified"]) == (
        "BR002",
        "S-CH2",
        "S-RM2",
        False,
    )


async def test_an_older_tiering_decision_arriving_late_changes_nothing(complaints, complaints_env, roles):
    """Tiering numbers its decisions per customer; one replayed late (a dead letter) or redelivered loses to the
    newer one complaints already holds, as in profile and engagement."""
    from crm_contracts.envelope import CloudEvent
    from engagement_support import Feed as NumberedFeed

    def wrapped(to_tier: str, customer_id: str = "O1") -> bytes:
        data, _ = tier(customer_id, to_tier, branch="BR001")
        return CloudEvent.wrap(data, source="crm/tiering", subject=customer_id).model_dump_json().encode()

    feed = NumberedFeed(complaints_env)
    await feed.send_records(TIERING_CUSTOMERS, [(wrapped("small"), "O1", 1), (wrapped("vip"), "O1", 3)])

    async def held():
        doc = await complaints.store.customers.find_one({"_id": "O1"})
        return doc if doc and doc.get("tiering_seq") == 3 else None

    assert (await eventually(held))["tier"] == "vip"
    # Decision 2 (older than 3) and decision 3 again: neither changes the tier.
    await feed.send_records(TIERING_CUSTOMERS, [(wrapped("key"), "O1", 2), (wrapped("small"), "O1", 3)])
    await feed.send_records(TIERING_CUSTOMERS, [(wrapped("key", "O2"), "O2", 1)])  # a marker: the batch above is done

    async def marker():
        return await complaints.store.customers.find_one({"_id": "O2", "tier": "key"})

    await eventually(marker)
    doc = await complaints.store.customers.find_one({"_id": "O1"})
    assert (doc["tier"], doc["tiering_seq"]) == ("vip", 3)
