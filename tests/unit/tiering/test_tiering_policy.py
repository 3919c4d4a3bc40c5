"""The tier policy: defaults of BRIEF §3.1 and the validation that keeps a bank's edit consistent."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from crm_tiering.domain.policy import DEFAULT_POLICY, TIER_ORDER, ChurnRules, Policy, TierRule


def tiers(*pairs: tuple[str, str]) -> list[dict]:
    return [{"name": n, "lower_bound": b, "responsible_roles": ["relationship_manager"]} for n, b in pairs]


def test_default_policy_has_the_five_tiers_of_the_brief_in_order():
    assert [t.name for t in DEFAULT_POLICY.tiers] == list(TIER_ORDER)
    assert [t.lower_bound for t in DEFAULT_POLICY.tiers] == [
        Decimal("1000.00"),
        Decimal("50000.00"),
        Decimal("200000.00"),
        Decimal("500000.00"),
        Decimal("3000000.00"),
    ]


def test_default_responsible_roles_follow_the_brief():
    roles = {t.name: t.responsible_roles for t in DEFAULT_POLICY.tiers}
    assert roles == {
        "small": ["high_counter_teller"],
        "ordinary": ["low_counter_staff"],
        "potential": ["relationship_manager", "lobby_manager"],
        "vip": ["relationship_manager", "rm_supervisor"],
        "key": ["branch_manager", "rm_supervisor"],
    }


def test_default_rules_of_the_seed():
    p = DEFAULT_POLICY
    assert (p.downgrade_grace_days, p.basis, p.average_days) == (30, "balance", 30)
    assert (p.churn.outflow_pct, p.churn.outflow_window_days) == (Decimal(30), 30)
    assert (p.churn.large_drop_amount, p.churn.large_drop_min_aum) == (Decimal("100000.00"), Decimal("200000.00"))
    assert p.churn.dormancy_days == 180 and p.churn.complaint
    assert (p.lifecycle.new_days, p.lifecycle.trend_window_days, p.lifecycle.churned_dormant_days) == (90, 90, 365)
    assert (p.lifecycle.growing_pct, p.lifecycle.declining_pct) == (Decimal(10), Decimal(10))
    assert p.lifecycle.churned_below == Decimal("1000.00")
    assert (p.watch.min_aum, p.watch.min_change_amount, p.watch.min_change_pct) == (
        Decimal("200000.00"),
        Decimal("50000.00"),
        Decimal(10),
    )


def test_rule_finds_a_tier_by_name_and_nothing_for_no_tier():
    assert DEFAULT_POLICY.rule("vip").lower_bound == Decimal("500000.00")
    assert DEFAULT_POLICY.rule(None) is None
    assert DEFAULT_POLICY.rule("platinum") is None


def test_history_covers_the_longest_look_back():
    assert DEFAULT_POLICY.history_days == 90
    assert DEFAULT_POLICY.model_copy(update={"average_days": 120}).history_days == 120
    longer_outflow = Policy(tiers=tiers(("small", "1000")), churn={"outflow_window_days": 200})
    assert longer_outflow.history_days == 200


def test_default_policy_survives_a_json_round_trip():
    assert Policy.model_validate_json(DEFAULT_POLICY.model_dump_json()) == DEFAULT_POLICY


def test_a_subset_of_the_tiers_in_order_is_allowed():
    p = Policy(tiers=tiers(("ordinary", "0"), ("key", "1000000")))
    assert [t.name for t in p.tiers] == ["ordinary", "key"]


@pytest.mark.parametrize(
    "order",
    [
        [("ordinary", "1000"), ("small", "50000")],
        [("small", "1000"), ("vip", "50000"), ("potential", "500000")],
        [("small", "1000"), ("small", "50000")],
    ],
)
def test_tiers_out_of_order_or_repeated_are_refused(order):
    with pytest.raises(ValidationError, match="tiers must be in the order small, ordinary, potential, vip, key"):
        Policy(tiers=tiers(*order))


@pytest.mark.parametrize("bounds", [("1000", "1000"), ("50000", "1000"), ("1000.00", "999.99")])
def test_bounds_that_do_not_strictly_increase_are_refused(bounds):
    with pytest.raises(ValidationError, match="tier lower bounds must strictly increase"):
        Policy(tiers=tiers(("small", bounds[0]), ("ordinary", bounds[1])))


def test_bounds_a_cent_apart_are_enough():
    p = Policy(tiers=tiers(("small", "1000.00"), ("ordinary", "1000.01")))
    assert [t.lower_bound for t in p.tiers] == [Decimal("1000.00"), Decimal("1000.01")]


@pytest.mark.parametrize(
    "bad",
    [
        {"tiers": []},
        {"tiers": tiers(("small", "-0.01"))},
        {"tiers": tiers(("small", "1000.001"))},
        {"tiers": tiers(("platinum", "1000"))},
        {"tiers": [{"name": "small", "lower_bound": "1000", "responsible_roles": []}]},
        {"tiers": [{"name": "small", "lower_bound": "1000", "responsible_roles": ["janitor"]}]},
        {"tiers": tiers(("small", "1000")), "downgrade_grace_days": -1},
        {"tiers": tiers(("small", "1000")), "basis": "monthly"},
        {"tiers": tiers(("small", "1000")), "average_days": 0},
        {"tiers": tiers(("small", "1000")), "unknown": 1},
    ],
)
def test_malformed_policies_are_refused(bad):
    with pytest.raises(ValidationError):
        Policy.model_validate(bad)


@pytest.mark.parametrize("pct", ["0", "100.01", "-5"])
def test_percentages_must_be_above_zero_and_at_most_a_hundred(pct):
    with pytest.raises(ValidationError):
        ChurnRules(outflow_pct=Decimal(pct))


def test_grace_zero_is_allowed():
    assert Policy(tiers=tiers(("small", "1000")), downgrade_grace_days=0).downgrade_grace_days == 0


def test_policy_is_frozen():
    with pytest.raises(ValidationError):
        DEFAULT_POLICY.basis = "average_daily"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        TierRule(name="small", lower_bound=Decimal(1), responsible_roles=["lobby_manager"]).name = "vip"  # type: ignore[misc]
