"""Tier bounds (lower bound inclusive) and the decision that holds a downgrade through the grace period."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_tiering.domain.policy import DEFAULT_POLICY, TIER_ORDER, Policy
from crm_tiering.domain.tiers import TierDecision, decide, rank, tier_for

D0 = date(2026, 1, 1)
amounts = st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


@pytest.mark.parametrize(
    ("amount", "tier"),
    [
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
        ("3000000.01", "key"),
        ("9999999999999999.99", "key"),
    ],
)
def test_default_bounds_lower_inclusive(amount, tier):
    assert tier_for(Decimal(amount), DEFAULT_POLICY) == tier


@given(amounts, amounts)
def test_tier_for_is_monotone_in_the_amount(a, b):
    lo, hi = sorted((a, b))
    assert rank(tier_for(lo, DEFAULT_POLICY)) <= rank(tier_for(hi, DEFAULT_POLICY))


@given(amounts)
def test_an_amount_is_in_exactly_one_tier_or_none(amount):
    bounds = [t.lower_bound for t in DEFAULT_POLICY.tiers] + [None]
    holding = [
        rule.name
        for rule, upper in zip(DEFAULT_POLICY.tiers, bounds[1:], strict=True)
        if amount >= rule.lower_bound and (upper is None or amount < upper)
    ]
    assert len(holding) <= 1
    assert tier_for(amount, DEFAULT_POLICY) == (holding[0] if holding else None)
    assert (tier_for(amount, DEFAULT_POLICY) is None) == (amount < Decimal("1000.00"))


def test_rank_orders_no_tier_below_every_tier():
    assert [rank(t) for t in (None, *TIER_ORDER)] == [-1, 0, 1, 2, 3, 4]


def d(current, amount, as_of, below_since=None, policy=DEFAULT_POLICY, policy_changed=False) -> TierDecision:
    return decide(
        current=current,
        below_since=below_since,
        basis=Decimal(amount),
        as_of=as_of,
        policy=policy,
        policy_changed=policy_changed,
    )


def test_first_tier_is_immediate():
    assert d(None, "1000.00", day(0)) == TierDecision("small", "first_tier", None, None)
    assert d(None, "3000000.00", day(0)) == TierDecision("key", "first_tier", None, None)


def test_below_the_minimum_without_a_tier_changes_nothing():
    assert d(None, "999.99", day(0)) == TierDecision(None, None, None, None)


def test_upgrade_is_immediate_and_may_skip_tiers():
    assert d("small", "50000.00", day(0)) == TierDecision("ordinary", "upgrade", None, None)
    assert d("small", "500000.00", day(0)) == TierDecision("vip", "upgrade", None, None)


def test_upgrade_during_a_pending_downgrade_clears_it():
    assert d("potential", "500000.00", day(10), below_since=day(0)) == TierDecision("vip", "upgrade", None, None)


def test_staying_in_the_tier_changes_nothing():
    assert d("vip", "500000.00", day(0)) == TierDecision("vip", None, None, None)


def test_downgrade_is_held_through_the_grace_period():
    first = d("vip", "499999.99", day(0))
    assert first == TierDecision("vip", None, day(0), day(30))
    assert d("vip", "499999.99", day(29), below_since=day(0)) == TierDecision("vip", None, day(0), day(30))


def test_downgrade_applies_when_the_grace_is_over():
    assert d("vip", "499999.99", day(30), below_since=day(0)) == TierDecision("potential", "downgrade", None, None)
    assert d("vip", "499999.99", day(45), below_since=day(0)) == TierDecision("potential", "downgrade", None, None)


def test_downgrade_goes_to_the_tier_of_the_day_it_applies():
    assert d("key", "60000.00", day(30), below_since=day(0)) == TierDecision("ordinary", "downgrade", None, None)


def test_recovering_above_the_bound_resets_the_grace():
    assert d("vip", "500000.00", day(20), below_since=day(0)) == TierDecision("vip", None, None, None)
    # Below again: the grace counts from the new stretch, not the old one.
    again = d("vip", "400000.00", day(25), below_since=None)
    assert again == TierDecision("vip", None, day(25), day(55))
    assert d("vip", "400000.00", day(54), below_since=again.below_since).reason is None


def test_falling_below_the_minimum_after_grace_is_below_minimum():
    assert d("small", "999.99", day(29), below_since=day(0)).tier == "small"
    assert d("small", "999.99", day(30), below_since=day(0)) == TierDecision(None, "below_minimum", None, None)


def test_grace_zero_applies_a_downgrade_at_once():
    policy = DEFAULT_POLICY.model_copy(update={"downgrade_grace_days": 0})
    assert d("vip", "499999.99", day(0), policy=policy) == TierDecision("potential", "downgrade", None, None)
    assert d("small", "0.00", day(0), policy=policy) == TierDecision(None, "below_minimum", None, None)


def test_policy_change_applies_at_once_both_ways():
    assert d("vip", "499999.99", day(0), policy_changed=True) == TierDecision("potential", "policy_change", None, None)
    assert d("vip", "499999.99", day(5), below_since=day(0), policy_changed=True) == TierDecision(
        "potential", "policy_change", None, None
    )
    assert d("potential", "500000.00", day(0), policy_changed=True) == TierDecision("vip", "policy_change", None, None)
    assert d(None, "1000.00", day(0), policy_changed=True) == TierDecision("small", "policy_change", None, None)
    assert d("small", "999.99", day(0), policy_changed=True) == TierDecision(None, "policy_change", None, None)


def test_policy_change_that_keeps_the_tier_changes_nothing():
    assert d("vip", "600000.00", day(0), policy_changed=True) == TierDecision("vip", None, None, None)


@given(current=st.sampled_from([None, *TIER_ORDER]), amount=amounts, since=st.integers(0, 60), now=st.integers(0, 60))
def test_a_decision_never_lowers_the_tier_before_the_grace_is_over(current, amount, since, now):
    since, now = min(since, now), max(since, now)
    out = d(current, amount, day(now), below_since=day(since))
    target = tier_for(amount, DEFAULT_POLICY)
    if rank(target) >= rank(current):
        assert out.tier == target and out.below_since is None
    elif now - since < DEFAULT_POLICY.downgrade_grace_days:
        assert (out.tier, out.reason, out.below_since, out.downgrade_due) == (
            current,
            None,
            day(since),
            day(since + 30),
        )
    else:
        assert out.tier == target and out.reason in ("downgrade", "below_minimum")


@st.composite
def policies(draw):
    names = draw(st.lists(st.sampled_from(TIER_ORDER), min_size=1, max_size=5, unique=True))
    bounds = draw(st.lists(st.integers(0, 10**8), min_size=len(names), max_size=len(names), unique=True))
    rules = [
        {"name": n, "lower_bound": Decimal(b) / 100, "responsible_roles": ["relationship_manager"]}
        for n, b in zip(sorted(names, key=TIER_ORDER.index), sorted(bounds), strict=True)
    ]
    return Policy(tiers=rules)


@given(policies(), amounts)
def test_any_valid_policy_puts_an_amount_in_the_highest_tier_it_reaches(policy, amount):
    reached = [t for t in policy.tiers if amount >= t.lower_bound]
    assert tier_for(amount, policy) == (reached[-1].name if reached else None)
    for t in policy.tiers:
        assert tier_for(t.lower_bound, policy) == t.name
