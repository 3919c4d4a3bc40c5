"""The tier policy: version 1 holds the defaults of BRIEF §3.1; head office publishes a new version, every
customer is re-tiered by the background rollout; others may not, and an invalid policy is refused."""

import copy
from datetime import date

import pytest

from support import eventually
from tiering_support import TIER_CHANGED, assets, auth, registered, tier_of, wait_known, wait_tier

pytestmark = pytest.mark.integration

D0 = date(2026, 6, 1)
D1 = date(2026, 6, 2)

DEFAULT_TIERS = [
    {"name": "small", "lower_bound": "1000.00", "responsible_roles": ["high_counter_teller"]},
    {"name": "ordinary", "lower_bound": "50000.00", "responsible_roles": ["low_counter_staff"]},
    {"name": "potential", "lower_bound": "200000.00", "responsible_roles": ["relationship_manager", "lobby_manager"]},
    {"name": "vip", "lower_bound": "500000.00", "responsible_roles": ["relationship_manager", "rm_supervisor"]},
    {"name": "key", "lower_bound": "3000000.00", "responsible_roles": ["branch_manager", "rm_supervisor"]},
]

# AUM of the customers on D0 and their tier under version 1, then under version 2 (vip from 400,000).
CUSTOMERS = {
    "CP-01": ("450000.00", "potential", "vip"),
    "CP-02": ("450000.00", "potential", "vip"),
    "CP-03": ("400000.00", "potential", "vip"),
    "CP-04": ("399999.99", "potential", "potential"),
    "CP-05": ("600000.00", "vip", "vip"),
    "CP-06": ("250000.00", "potential", "potential"),
    "CP-07": ("3500000.00", "key", "key"),
    "CP-08": ("500.00", None, None),
}


async def test_a_new_policy_version_re_tiers_every_customer(tiering, feed, token_for, head_office):
    rm = token_for("relationship_manager", "S-RM1", "BR001")
    r = await tiering.get("/v1/policy", headers=auth(rm))
    assert r.status_code == 200, r.text
    current = r.json()
    assert current["version"] == 1 and current["created_by"] == "default"
    policy = current["policy"]
    assert policy["tiers"] == DEFAULT_TIERS
    assert (policy["downgrade_grace_days"], policy["basis"]) == (30, "balance")
    assert policy["churn"]["outflow_pct"] == "30" and policy["churn"]["outflow_window_days"] == 30

    await feed.profile(
        *[registered(cid) for cid in CUSTOMERS],
        registered("CP-09"),  # CP-09: no balance yet
        *[assets(cid, D0, aum) for cid, (aum, _, _) in CUSTOMERS.items()],
    )
    views = await wait_known(tiering, CUSTOMERS, head_office)
    assert {cid: v["tier"] for cid, v in views.items()} == {cid: t[1] for cid, t in CUSTOMERS.items()}
    first = len([c for c in CUSTOMERS.values() if c[1]])
    await feed.published(TIER_CHANGED, count=first)

    # Not by a relationship manager; not an invalid policy.
    new = copy.deepcopy(policy)
    new["tiers"][3]["lower_bound"] = "400000.00"
    r = await tiering.put("/v1/policy", headers=auth(rm), json={"policy": new})
    assert r.status_code == 403, r.text
    broken = copy.deepcopy(policy)
    broken["tiers"][1]["lower_bound"] = "250000.00"  # ordinary above potential
    r = await tiering.put("/v1/policy", headers=auth(head_office), json={"policy": broken})
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["body", "policy"] and "tier lower bounds must strictly increase" in problem["msg"]
    unordered = copy.deepcopy(policy)
    unordered["tiers"][0], unordered["tiers"][1] = unordered["tiers"][1], unordered["tiers"][0]
    r = await tiering.put("/v1/policy", headers=auth(head_office), json={"policy": unordered})
    assert r.status_code == 422 and "tiers must be in the order" in r.text, r.text
    assert (await tiering.get("/v1/policy", headers=auth(rm))).json()["version"] == 1

    # Head office lowers the vip bound to 400,000.
    r = await tiering.put("/v1/policy", headers=auth(head_office), json={"policy": new, "note": "vip from 40万"})
    assert r.status_code == 202, r.text
    rollout = r.json()
    assert rollout["policy_version"] == 2 and rollout["total"] == len(CUSTOMERS) + 1
    assert rollout["status"] in ("running", "done")

    async def finished():
        got = (await tiering.get(f"/v1/policy/rollouts/{rollout['id']}", headers=auth(rm))).json()
        return got if got["status"] == "done" else None

    done = await eventually(finished)
    assert (done["total"], done["done"], done["changed"], done["percent"]) == (9, 9, 3, 100.0)
    assert done["finished_at"] is not None

    current = (await tiering.get("/v1/policy", headers=auth(rm))).json()
    assert (current["version"], current["created_by"], current["note"]) == (2, "S-HO1", "vip from 40万")
    assert current["policy"]["tiers"][3]["lower_bound"] == "400000.00"

    changed = {cid for cid, (_, before, after) in CUSTOMERS.items() if before != after}
    events = await feed.published(TIER_CHANGED, count=first + len(changed), settle=1.5)
    v2 = [e for e in events if e["data"]["policy_version"] == 2]
    assert sorted(e["subject"] for e in v2) == sorted(changed)  # one event each, none for the unchanged
    for e in v2:
        assert {k: e["data"][k] for k in ("from_tier", "to_tier", "reason", "policy_version", "as_of")} == {
            "from_tier": "potential",
            "to_tier": "vip",
            "reason": "policy_change",
            "policy_version": 2,
            "as_of": D0.isoformat(),
        }
    for cid, (_, _, after) in CUSTOMERS.items():
        view = await tier_of(tiering, cid, head_office)
        assert (view["tier"], view["policy_version"]) == (after, 2), cid
    assert (await tier_of(tiering, "CP-01", head_office))["history"][0]["reason"] == "policy_change"

    # Balances after the change are tiered under version 2; the customer without a balance gets one now.
    await feed.profile(assets("CP-09", D1, "420000.00"), assets("CP-04", D1, "400000.00"))
    for cid in ("CP-09", "CP-04"):
        view = await wait_tier(tiering, cid, head_office, lambda b: b["as_of"] == D1.isoformat())
        assert (view["tier"], view["policy_version"]) == ("vip", 2)
    later = await feed.published(TIER_CHANGED, count=first + len(changed) + 2)
    assert {
        e["subject"]: (e["data"]["reason"], e["data"]["policy_version"])
        for e in later
        if e["data"]["as_of"] == D1.isoformat()
    } == {"CP-09": ("first_tier", 2), "CP-04": ("upgrade", 2)}

    r = await tiering.get("/v1/policy/rollouts/rollout-99", headers=auth(rm))
    assert r.status_code == 404
