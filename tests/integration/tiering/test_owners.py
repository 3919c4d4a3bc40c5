"""Who is responsible: an upgrade hands the customer to the responsible staff member of the branch of the
highest stable rank for the customer (rendezvous hashing: the same events give the same owners), manual
reassignment, redistribution when a staff member leaves, and the data scope of each role."""

from datetime import date

import pytest

from tiering_support import OWNER_ASSIGNED, assets, auth, registered, tier_of, wait_tier

pytestmark = pytest.mark.integration

D0 = date(2026, 5, 4)
D1 = date(2026, 5, 5)


async def test_upgrades_go_to_the_responsible_staff_member_of_the_highest_stable_rank(
    tiering, feed, staff_directory, head_office
):
    await staff_directory(
        tiering,
        [
            ("RM-A", "BR001", ["relationship_manager"]),
            ("RM-B", "BR001", ["relationship_manager"]),
            ("T-1", "BR001", ["high_counter_teller"]),
            ("RM-D", "BR002", ["relationship_manager"]),
        ],
    )
    # Inactive: never chosen.
    await staff_directory(tiering, [("RM-C", "BR001", ["relationship_manager"])], active=False)
    # RM-A owns 2 customers, RM-B 1 (registered, no balance yet): loads do not count. U and V are small
    # customers of a teller.
    await feed.profile(
        registered("CO-PA1", owner="RM-A"),
        registered("CO-PA2", owner="RM-A"),
        registered("CO-PB1", owner="RM-B"),
        registered("CO-U", owner="T-1"),
        registered("CO-V", owner="T-1"),
        assets("CO-U", D0, "20000.00"),
        assets("CO-V", D0, "30000.00"),
    )
    for cid in ("CO-U", "CO-V"):
        small = await wait_tier(tiering, cid, head_office, lambda b: b["tier"] == "small")
        assert small["owner"] == "T-1"  # a teller is responsible for small customers: nobody else gets them

    await feed.profile(assets("CO-U", D1, "250000.00"))
    u = await wait_tier(tiering, "CO-U", head_office, lambda b: b["tier"] == "potential")
    # Ranked by the core banking number: rank(CCO-U, RM-B) > rank(CCO-U, RM-A); RM-C is inactive; RM-D works
    # in another branch.
    assert u["owner"] == "RM-B"
    [assigned] = await feed.published(OWNER_ASSIGNED, "CO-U")
    data = assigned["data"]
    assert {
        k: data[k] for k in ("customer_id", "branch", "previous_owner", "new_owner", "reason", "tier", "assigned_by")
    } == {
        "customer_id": "CO-U",
        "branch": "BR001",
        "previous_owner": "T-1",
        "new_owner": "RM-B",
        "reason": "tier_responsibility",
        "tier": "potential",
        "assigned_by": "tiering",
    }
    # What the choice was based on, for the audit: the roster it was chosen from.
    assert data["note"] == (
        "potential customers are owned by relationship_manager, lobby_manager; "
        "chosen by stable rank of CCO-U among 2 eligible: RM-A, RM-B"
    )

    # RM-B owns more now: that does not count. rank(CCO-V, RM-B) > rank(CCO-V, RM-A).
    await feed.profile(assets("CO-V", D1, "600000.00"))
    v = await wait_tier(tiering, "CO-V", head_office, lambda b: b["tier"] == "vip")
    assert v["owner"] == "RM-B"
    [assigned] = await feed.published(OWNER_ASSIGNED, "CO-V")
    assert (assigned["data"]["previous_owner"], assigned["data"]["new_owner"], assigned["data"]["tier"]) == (
        "T-1",
        "RM-B",
        "vip",
    )

    # An upgrade whose owner already holds a responsible role keeps the owner.
    await feed.profile(assets("CO-PB1", D1, "300000.00"))
    pb1 = await wait_tier(tiering, "CO-PB1", head_office, lambda b: b["tier"] == "potential")
    assert pb1["owner"] == "RM-B"
    assigned = await feed.published(OWNER_ASSIGNED, count=2, settle=1.0)
    assert sorted(e["subject"] for e in assigned) == ["CO-U", "CO-V"]

    staff = (await tiering.get("/v1/staff", params={"branch": "BR001"}, headers=auth(head_office))).json()
    assert {s["staff_id"]: (s["customers"], s["active"]) for s in staff} == {
        "RM-A": (2, True),
        "RM-B": (3, True),
        "RM-C": (0, False),
        "T-1": (0, True),
    }


async def test_reassignment_by_hand_and_on_deactivation_and_the_data_scope(
    tiering, feed, staff_directory, token_for, head_office
):
    await staff_directory(
        tiering,
        [
            ("RM-A", "BR001", ["relationship_manager"]),
            ("RM-B", "BR001", ["relationship_manager"]),
            ("SUP-1", "BR001", ["rm_supervisor"]),
            ("RM-D", "BR002", ["relationship_manager"]),
        ],
    )
    await staff_directory(tiering, [("RM-C", "BR001", ["relationship_manager"])], active=False)
    await feed.profile(
        registered("CR-1", owner="RM-A"),
        registered("CR-2", owner="RM-A"),
        registered("CR-3", owner="RM-A"),
        registered("CR-4", owner="RM-A"),
        registered("CR-5", owner="RM-B"),
        registered("CR-X", branch="BR002", owner="RM-D"),
        assets("CR-1", D0, "250000.00"),
        assets("CR-2", D0, "600000.00"),
        assets("CR-X", D0, "250000.00"),
    )
    for cid in ("CR-1", "CR-2", "CR-3", "CR-4", "CR-5", "CR-X"):
        await wait_tier(tiering, cid, head_office, lambda _b: True)
    await wait_tier(tiering, "CR-2", head_office, lambda b: b["tier"] == "vip")
    supervisor = token_for("rm_supervisor", "SUP-1", "BR001")

    # Manual reassignment by the branch's RM supervisor.
    r = await tiering.post(
        "/v1/customers/CR-1/owner",
        headers=auth(supervisor),
        json={"owner": "RM-B", "reason": "customer asked for RM-B"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"customer_id": "CR-1", "previous_owner": "RM-A", "owner": "RM-B"}
    [manual] = await feed.published(OWNER_ASSIGNED, "CR-1")
    assert {k: manual["data"][k] for k in ("previous_owner", "new_owner", "reason", "assigned_by", "note")} == {
        "previous_owner": "RM-A",
        "new_owner": "RM-B",
        "reason": "manual",
        "assigned_by": "SUP-1",
        "note": "customer asked for RM-B",
    }

    # Not by a relationship manager; not to another branch's or an inactive staff member; not out of scope.
    rm_b = token_for("relationship_manager", "RM-B", "BR001")
    r = await tiering.post("/v1/customers/CR-1/owner", headers=auth(rm_b), json={"owner": "RM-A", "reason": "mine"})
    assert r.status_code == 403, r.text
    r = await tiering.post("/v1/customers/CR-2/owner", headers=auth(supervisor), json={"owner": "RM-D", "reason": "x"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == "owner: RM-D works in branch BR002, the customer in BR001"
    r = await tiering.post("/v1/customers/CR-2/owner", headers=auth(supervisor), json={"owner": "RM-C", "reason": "x"})
    assert r.status_code == 422 and "RM-C is not an active staff member" in r.json()["detail"], r.text
    r = await tiering.post(
        "/v1/customers/CR-2/owner", headers=auth(supervisor), json={"owner": "NOBODY", "reason": "x"}
    )
    assert r.status_code == 422, r.text
    other_supervisor = token_for("rm_supervisor", "SUP-2", "BR002")
    r = await tiering.post(
        "/v1/customers/CR-2/owner", headers=auth(other_supervisor), json={"owner": "RM-D", "reason": "x"}
    )
    assert r.status_code == 404, r.text
    assert (await tier_of(tiering, "CR-2", head_office))["owner"] == "RM-A"

    # RM-A leaves (owning CR-2 vip, CR-3 and CR-4 untiered); a new RM joins with no customers. Each customer goes
    # to the active colleague with a responsible role of the highest stable rank for it: CR-2 (vip: RM or RM
    # supervisor; ranked by its core number) among RM-B, RM-E, SUP-1 to RM-B; CR-3 and CR-4 (untiered: the
    # leaver's role; no balance, so no core number: ranked by the customer id) among RM-B, RM-E to RM-E.
    await staff_directory(tiering, [("RM-E", "BR001", ["relationship_manager"])])
    manager = token_for("branch_manager", "BM-1", "BR001")
    r = await tiering.put(
        "/v1/staff/RM-A",
        headers=auth(manager),
        json={"name": "RM-A", "branch": "BR001", "roles": ["relationship_manager"], "active": False},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["active"], body["customers"], body["reassigned"], body["unassigned"]) == (False, 0, 3, 0)
    moved = await feed.published(OWNER_ASSIGNED, count=3 + 1)
    moved = {e["subject"]: e["data"] for e in moved if e["data"]["reason"] == "staff_deactivated"}
    assert {cid: (d["previous_owner"], d["new_owner"]) for cid, d in moved.items()} == {
        "CR-2": ("RM-A", "RM-B"),
        "CR-3": ("RM-A", "RM-E"),
        "CR-4": ("RM-A", "RM-E"),
    }
    assert all(d["assigned_by"] == "BM-1" for d in moved.values())
    assert (
        moved["CR-2"]["note"] == "RM-A no longer serves branch BR001; chosen by stable rank of CCR-2 among 3 "
        "eligible: RM-B, RM-E, SUP-1"
    )
    assert (await tier_of(tiering, "CR-2", head_office))["owner"] == "RM-B"

    # Data scope: an RM sees their own customers only, a branch manager the branch, head office everything.
    rm_e = token_for("relationship_manager", "RM-E", "BR001")
    assert await _ids(tiering, rm_e) == ["CR-3", "CR-4"]
    assert await _ids(tiering, rm_b) == ["CR-1", "CR-2", "CR-5"]
    assert await tier_of(tiering, "CR-3", rm_e) is not None
    assert (await tiering.get("/v1/customers/CR-3/tier", headers=auth(rm_b))).status_code == 404
    assert (await tiering.get("/v1/customers/CR-3/value", headers=auth(rm_b))).status_code == 404
    assert await _ids(tiering, token_for("relationship_manager", "RM-A", "BR001")) == []
    assert await _ids(tiering, manager) == ["CR-1", "CR-2", "CR-3", "CR-4", "CR-5"]
    assert (await tiering.get("/v1/customers/CR-X/tier", headers=auth(manager))).status_code == 404
    assert await tier_of(tiering, "CR-X", token_for("branch_manager", "BM-2", "BR002")) is not None
    assert await _ids(tiering, head_office) == ["CR-1", "CR-2", "CR-3", "CR-4", "CR-5", "CR-X"]
    # Nor may a branch manager manage another branch's staff.
    r = await tiering.put(
        "/v1/staff/RM-D",
        headers=auth(manager),
        json={"name": "RM-D", "branch": "BR002", "roles": ["relationship_manager"], "active": False},
    )
    assert r.status_code == 403, r.text


async def _ids(client, token: str) -> list[str]:
    r = await client.get("/v1/customers", headers=auth(token))
    assert r.status_code == 200, r.text
    return [c["customer_id"] for c in r.json()["items"]]
