"""Tiers through the consumer: exact bounds, the tier-changed event, the downgrade grace period (by a
snapshot and by the business-date sweep), duplicates and out-of-order snapshots."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from support import eventually
from tiering_support import TIER_CHANGED, assets, registered, stored, sweep_caught_up, tier_of, wait_known, wait_tier

pytestmark = pytest.mark.integration

D0 = date(2026, 3, 2)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


# (AUM, tier): lower bounds are inclusive (BRIEF §3.1; crm_tiering.domain.tiers).
BOUNDS = [
    ("0.00", None),
    ("999.99", None),
    ("1000.00", "small"),
    ("49999.99", "small"),
    ("50000.00", "ordinary"),
    ("199999.99", "ordinary"),
    ("200000.00", "potential"),
    ("499999.99", "potential"),
    ("500000.00", "vip"),
    ("2999999.99", "vip"),
    ("3000000.00", "key"),
    ("123456789.01", "key"),
]


async def test_every_bound_tiers_exactly_and_each_change_is_an_event(tiering, feed, head_office):
    ids = {amount: f"CB{i:02d}" for i, (amount, _) in enumerate(BOUNDS)}
    await feed.profile(
        *[registered(cid) for cid in ids.values()], *[assets(cid, D0, amount) for amount, cid in ids.items()]
    )

    views = await wait_known(tiering, ids.values(), head_office)
    assert {amount: views[ids[amount]]["tier"] for amount, _ in BOUNDS} == dict(BOUNDS)
    for amount, cid in ids.items():
        view = views[cid]
        assert Decimal(view["aum"]) == Decimal(amount) and view["as_of"] == D0.isoformat()
        assert view["policy_version"] == 1 and view["pending_downgrade"] is None

    tiered = {cid: tier for (amount, tier), cid in zip(BOUNDS, ids.values(), strict=True) if tier}
    changes = await feed.published(TIER_CHANGED, count=len(tiered))
    assert sorted(e["subject"] for e in changes) == sorted(tiered)  # untiered customers cause no event
    for e in changes:
        cid = e["subject"]
        amount = next(a for a, c in ids.items() if c == cid)
        assert e["source"] == "crm/tiering"
        assert e["data"] == {
            "customer_id": cid,
            "branch": "BR001",
            "from_tier": None,
            "to_tier": tiered[cid],
            "reason": "first_tier",
            "policy_version": 1,
            "as_of": D0.isoformat(),
            "basis_amount": amount,
            "basis": "balance",
        }

    # Upgrades across a bound by one cent, and a customer reaching the lowest tier.
    await feed.profile(
        assets(ids["49999.99"], day(1), "50000.00"),
        assets(ids["2999999.99"], day(1), "3000000.00"),
        assets(ids["999.99"], day(1), "1000.00"),
    )
    upgraded = await feed.published(TIER_CHANGED, count=len(tiered) + 3, settle=1.0)
    assert len(upgraded) == len(tiered) + 3  # one event per change, nothing else
    later = {e["subject"]: e["data"] for e in upgraded if e["data"]["as_of"] == day(1).isoformat()}
    assert {cid: (d["from_tier"], d["to_tier"], d["reason"]) for cid, d in later.items()} == {
        ids["49999.99"]: ("small", "ordinary", "upgrade"),
        ids["2999999.99"]: ("vip", "key", "upgrade"),
        ids["999.99"]: (None, "small", "first_tier"),
    }
    key = await tier_of(tiering, ids["2999999.99"], head_office)
    assert key["tier"] == "key" and key["since"] == day(1).isoformat()
    assert [(h["from_tier"], h["to_tier"], h["reason"], h["as_of"]) for h in key["history"]] == [
        ("vip", "key", "upgrade", day(1).isoformat()),
        (None, "vip", "first_tier", D0.isoformat()),
    ]


async def test_a_downgrade_waits_out_the_grace_period_then_a_snapshot_or_the_sweep_applies_it(
    tiering, feed, head_office
):
    by_snapshot, by_sweep, clock, back, out = "CG-SNAP", "CG-SWEEP", "CG-CLOCK", "CG-BACK", "CG-OUT"
    await feed.profile(
        registered(by_snapshot),
        registered(by_sweep),
        registered(clock),
        registered(back),
        registered(out),
        # Below the lowest bound (1,000) from day 1: untiered once the grace ends on day 31.
        assets(out, day(0), "5000.00"),
        assets(out, day(1), "999.99"),
        assets(by_snapshot, day(-1), "600000.00"),
        assets(by_sweep, day(1), "600000.00"),
        assets(clock, day(-1), "80000.00"),
        # Day 0 of the stretch below the vip bound (500,000) for one, day 2 for the other.
        assets(by_snapshot, day(0), "450000.00"),
        assets(by_sweep, day(2), "499999.99"),
        # Below the potential bound (200,000) on day 1, back at it on day 10, below again from day 20.
        assets(back, day(0), "250000.00"),
        assets(back, day(1), "150000.00"),
        assets(back, day(10), "200000.00"),
        assets(back, day(20), "190000.00"),
    )
    snap = await wait_tier(tiering, by_snapshot, head_office, lambda b: b["as_of"] == day(0).isoformat())
    assert snap["tier"] == "vip"
    assert snap["pending_downgrade"] == {
        "below_since": day(0).isoformat(),
        "due": day(30).isoformat(),
        "grace_days": 30,
    }
    sweep = await wait_tier(tiering, by_sweep, head_office, lambda b: b["as_of"] == day(2).isoformat())
    assert sweep["tier"] == "vip"
    assert sweep["pending_downgrade"] == {
        "below_since": day(2).isoformat(),
        "due": day(32).isoformat(),
        "grace_days": 30,
    }

    # Day 29: still below, still vip.
    await feed.profile(assets(by_snapshot, day(29), "440000.00"))
    snap = await wait_tier(tiering, by_snapshot, head_office, lambda b: b["as_of"] == day(29).isoformat())
    assert snap["tier"] == "vip" and snap["pending_downgrade"]["below_since"] == day(0).isoformat()
    assert snap["pending_downgrade"]["due"] == day(30).isoformat()

    # Day 30: the snapshot applies the downgrade.
    await feed.profile(assets(by_snapshot, day(30), "430000.00"))
    snap = await wait_tier(tiering, by_snapshot, head_office, lambda b: b["as_of"] == day(30).isoformat())
    assert snap["tier"] == "potential" and snap["pending_downgrade"] is None and snap["since"] == day(30).isoformat()
    [first, down] = await feed.published(TIER_CHANGED, by_snapshot, count=2)
    assert first["data"]["to_tier"] == "vip"
    assert {
        k: down["data"][k] for k in ("from_tier", "to_tier", "reason", "policy_version", "as_of", "basis_amount")
    } == {
        "from_tier": "vip",
        "to_tier": "potential",
        "reason": "downgrade",
        "policy_version": 1,
        "as_of": day(30).isoformat(),
        "basis_amount": "430000.00",
    }

    # The sweep re-evaluates customers whose dates came due, up to the last complete day of the feed: the day
    # before the latest snapshot date. With the latest at day 32 that is day 31, inside the other customer's grace.
    await feed.profile(assets(clock, day(32), "80000.01"))
    await eventually(lambda: sweep_caught_up(tiering, day(32)))
    sweep = await tier_of(tiering, by_sweep, head_office)
    assert sweep["tier"] == "vip" and sweep["pending_downgrade"]["due"] == day(32).isoformat()
    # ... but past the grace of the customer below the lowest bound, who is no longer tiered.
    gone = await tier_of(tiering, out, head_office)
    assert (gone["tier"], gone["since"], gone["pending_downgrade"]) == (None, day(31).isoformat(), None)
    [_, below] = await feed.published(TIER_CHANGED, out, count=2)
    assert {k: below["data"][k] for k in ("from_tier", "to_tier", "reason", "as_of", "basis_amount")} == {
        "from_tier": "small",
        "to_tier": None,
        "reason": "below_minimum",
        "as_of": day(31).isoformat(),
        "basis_amount": "999.99",
    }

    # Another customer's snapshot moves the business date past the grace end: the sweep downgrades without a
    # new balance for this customer, counted on the day the grace ended.
    await feed.profile(assets(clock, day(33), "80000.02"))
    sweep = await wait_tier(tiering, by_sweep, head_office, lambda b: b["tier"] == "potential")
    assert sweep["as_of"] == day(2).isoformat() and sweep["pending_downgrade"] is None
    assert sweep["since"] == day(32).isoformat()
    [_, down] = await feed.published(TIER_CHANGED, by_sweep, count=2)
    assert {
        k: down["data"][k] for k in ("from_tier", "to_tier", "reason", "policy_version", "as_of", "basis_amount")
    } == {
        "from_tier": "vip",
        "to_tier": "potential",
        "reason": "downgrade",
        "policy_version": 1,
        "as_of": day(32).isoformat(),
        "basis_amount": "499999.99",
    }
    # The customer who only moved the clock did not change tier; the one who came back to the bound within the
    # grace period kept theirs, its new stretch below counted from day 20.
    assert [e["data"]["to_tier"] for e in await feed.published(TIER_CHANGED, clock, settle=1.0)] == ["ordinary"]
    view = await tier_of(tiering, back, head_office)
    assert view["tier"] == "potential"
    assert view["pending_downgrade"] == {
        "below_since": day(20).isoformat(),
        "due": day(50).isoformat(),
        "grace_days": 30,
    }
    assert [e["data"]["to_tier"] for e in await feed.published(TIER_CHANGED, back)] == ["potential"]


async def test_duplicates_and_older_snapshots_change_nothing_twice(tiering, feed, head_office):
    a, b = "CD-A", "CD-B"
    reg_a, reg_b, up_a, up_b = await feed.profile(
        registered(a), registered(b), assets(a, day(5), "600000.00"), assets(b, day(5), "60000.00")
    )
    await wait_known(tiering, [a, b], head_office)
    # The same CloudEvents again (a producer retry, a redelivery), one of them twice within one poll, and
    # snapshots older than the latest, one of which would be a tier change.
    [old_a] = await feed.profile(assets(a, day(3), "100.00"))
    [old_b] = await feed.profile(assets(b, day(4), "5000000.00"))
    await feed.send_raw(
        "crm.profile.customers", [(reg_a, a), (up_a, a), (up_a, a), (reg_b, b), (up_b, b), (old_a, a), (old_b, b)]
    )
    # A newer snapshot for each, delivered after all that on the customer's partition.
    await feed.profile(assets(a, day(6), "3000000.00"), assets(b, day(6), "60000.00"))

    got_a = await wait_tier(tiering, a, head_office, lambda v: v["as_of"] == day(6).isoformat())
    got_b = await wait_tier(tiering, b, head_office, lambda v: v["as_of"] == day(6).isoformat())
    assert got_a["tier"] == "key" and [h["reason"] for h in got_a["history"]] == ["upgrade", "first_tier"]
    assert got_b["tier"] == "ordinary" and [h["reason"] for h in got_b["history"]] == ["first_tier"]
    assert Decimal(got_b["aum"]) == Decimal("60000.00")

    changes = await feed.published(TIER_CHANGED, count=3, settle=1.5)
    assert [
        (e["subject"], e["data"]["from_tier"], e["data"]["to_tier"], e["data"]["as_of"])
        for e in changes
        if e["subject"] == a
    ] == [(a, None, "vip", day(5).isoformat()), (a, "vip", "key", day(6).isoformat())]
    assert [(e["data"]["to_tier"], e["data"]["as_of"]) for e in changes if e["subject"] == b] == [
        ("ordinary", day(5).isoformat())
    ]
    # The older snapshot did not enter the balance history either.
    doc = await stored(tiering, b)
    assert [p["d"] for p in doc["series"]] == [day(5).isoformat(), day(6).isoformat()]
