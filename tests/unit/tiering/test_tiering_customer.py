"""A customer as tiering sees it: each snapshot or due date applies the rules and records the events."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_contracts.tiering import ChurnRiskCleared, ChurnRiskRaised, LifecycleChanged, OwnerAssigned, TierChanged
from crm_tiering.domain.balances import Point
from crm_tiering.domain.customer import TIER_HISTORY_KEPT, TieredCustomer, WatchEntry
from crm_tiering.domain.policy import DEFAULT_POLICY, Policy

D0 = date(2026, 1, 1)
AVERAGE_5 = DEFAULT_POLICY.model_copy(update={"basis": "average_daily", "average_days": 5})


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def customer(**kw) -> TieredCustomer:
    return TieredCustomer(customer_id="C1", branch="B1", **kw)


def see(
    c: TieredCustomer,
    n: int,
    aum: str,
    *,
    policy: Policy = DEFAULT_POLICY,
    version: int = 1,
    breakdown: dict[str, Decimal] | None = None,
) -> bool:
    return c.observe_balance(as_of=day(n), aum=Decimal(aum), breakdown=breakdown or {}, policy=policy, version=version)


def of(c: TieredCustomer, kind: type) -> list:
    return [e for e in c.events if isinstance(e, kind)]


def tier_changes(c: TieredCustomer) -> list[tuple]:
    return [(e.from_tier, e.to_tier, e.reason, e.as_of) for e in of(c, TierChanged)]


# -- tier ---------------------------------------------------------------------------------------------------


def test_first_snapshot_gives_the_first_tier_at_once():
    c = customer()
    assert see(c, 0, "600000.00", version=3)
    [e] = of(c, TierChanged)
    assert (e.customer_id, e.branch, e.from_tier, e.to_tier, e.reason) == ("C1", "B1", None, "vip", "first_tier")
    assert (e.policy_version, e.as_of, e.basis_amount, e.basis) == (3, day(0), Decimal("600000.00"), "balance")
    assert (c.tier, c.tier_since, c.policy_version, c.tier_entered) == ("vip", day(0), 3, True)
    assert c.tier_history == [
        {
            "from": None,
            "to": "vip",
            "reason": "first_tier",
            "policy_version": 3,
            "as_of": "2026-01-01",
            "basis_amount": Decimal("600000.00"),
            "basis": "balance",
        }
    ]


def test_below_the_minimum_from_the_start_gives_no_tier_and_no_tier_event():
    c = customer()
    see(c, 0, "999.99")
    assert c.tier is None and of(c, TierChanged) == [] and not c.tier_entered


def test_upgrade_applies_with_the_snapshot_that_crosses_the_bound():
    c = customer()
    see(c, 0, "49999.99")
    see(c, 1, "50000.00")
    assert tier_changes(c) == [(None, "small", "first_tier", day(0)), ("small", "ordinary", "upgrade", day(1))]


def test_an_older_snapshot_changes_nothing_and_records_nothing():
    c = customer()
    see(c, 10, "600000.00")
    before = (c.series, c.aum, c.as_of, c.tier, c.stage, c.churn, c.last_change, c.due_on)
    c.events.clear()
    assert not see(c, 9, "1.00")
    assert c.events == []
    assert (c.series, c.aum, c.as_of, c.tier, c.stage, c.churn, c.last_change, c.due_on) == before


def test_the_same_snapshot_observed_again_records_no_event_twice():
    c = customer(registered_on=day(-400))
    see(c, 0, "600000.00")
    assert len(of(c, TierChanged)) == 1
    first = list(c.events)
    state = (c.series, c.tier, c.tier_history, c.stage, c.churn, c.due_on, c.below_since, c.last_change)
    assert see(c, 0, "600000.00")  # accepted (a redelivery), but nothing new
    assert c.events == first
    assert (c.series, c.tier, c.tier_history, c.stage, c.churn, c.due_on, c.below_since, c.last_change) == state


def test_a_repeated_fall_snapshot_records_its_events_once():
    c = customer(registered_on=day(-400))
    see(c, 0, "1000000.00")
    see(c, 5, "400000.00")  # below vip: downgrade pending; outflow and large drop raised
    n_events = len(c.events)
    held = (c.tier, c.below_since, c.churn, c.drop, c.due_on)
    see(c, 5, "400000.00")
    assert len(c.events) == n_events
    assert (c.tier, c.below_since, c.churn, c.drop, c.due_on) == held


def test_a_same_day_correction_replaces_the_balance():
    c = customer()
    see(c, 0, "600000.00")
    see(c, 0, "499999.99")
    assert c.series == [Point(day(0), Decimal("499999.99"))] and c.aum == Decimal("499999.99")
    assert c.tier == "vip" and c.below_since == day(0)  # a downgrade waits even when correcting the first day


def test_downgrade_waits_for_the_grace_and_applies_without_a_new_balance():
    c = customer(registered_on=day(-400))
    see(c, 0, "600000.00")
    see(c, 1, "499999.99")
    assert c.tier == "vip" and c.below_since == day(1)
    assert c.due_on is not None and c.due_on <= day(31)
    c.events.clear()
    c.evaluate(on=day(30), policy=DEFAULT_POLICY, version=1)  # day 29 of the stretch below
    assert of(c, TierChanged) == [] and c.tier == "vip"
    c.evaluate(on=day(31), policy=DEFAULT_POLICY, version=1)  # day 30: carried forward, applied
    [e] = of(c, TierChanged)
    assert (e.from_tier, e.to_tier, e.reason, e.as_of, e.basis_amount) == (
        "vip",
        "potential",
        "downgrade",
        day(31),
        Decimal("499999.99"),
    )
    assert c.tier == "potential" and c.below_since is None and c.tier_entered


def test_following_due_dates_applies_the_downgrade_on_the_grace_date():
    c = customer(registered_on=day(-400))
    see(c, 0, "600000.00")
    see(c, 1, "499999.99")
    while c.tier == "vip":
        assert c.due_on is not None
        c.evaluate(on=c.due_on, policy=DEFAULT_POLICY, version=1)
    assert tier_changes(c)[-1] == ("vip", "potential", "downgrade", day(31))


def test_recovering_above_the_bound_resets_the_grace():
    c = customer()
    see(c, 0, "600000.00")
    see(c, 1, "400000.00")
    see(c, 20, "500000.00")
    assert c.below_since is None
    see(c, 25, "400000.00")
    c.evaluate(on=day(54), policy=DEFAULT_POLICY, version=1)
    assert c.tier == "vip"
    c.evaluate(on=day(55), policy=DEFAULT_POLICY, version=1)
    assert tier_changes(c)[-1] == ("vip", "potential", "downgrade", day(55))


def test_falling_below_the_minimum_after_the_grace_leaves_the_tiers():
    c = customer()
    see(c, 0, "5000.00")
    see(c, 1, "999.99")
    c.evaluate(on=day(31), policy=DEFAULT_POLICY, version=1)
    assert tier_changes(c)[-1] == ("small", None, "below_minimum", day(31))
    assert c.tier is None and not c.tier_entered


def test_grace_zero_downgrades_with_the_snapshot():
    policy = DEFAULT_POLICY.model_copy(update={"downgrade_grace_days": 0})
    c = customer()
    see(c, 0, "600000.00", policy=policy)
    see(c, 1, "499999.99", policy=policy)
    assert tier_changes(c)[-1] == ("vip", "potential", "downgrade", day(1))


def test_an_evaluation_never_goes_back_in_time():
    c = customer()
    see(c, 0, "600000.00")
    see(c, 1, "400000.00")
    c.evaluate(on=day(20), policy=DEFAULT_POLICY, version=1)
    c.evaluate(on=day(5), policy=DEFAULT_POLICY, version=1)
    assert c.evaluated_on == day(20)


def test_a_new_policy_applies_at_once_both_ways():
    c = customer()
    see(c, 0, "600000.00")
    higher = Policy.model_validate(
        {
            **DEFAULT_POLICY.model_dump(),
            "tiers": [{**t.model_dump(), "lower_bound": t.lower_bound * 2} for t in DEFAULT_POLICY.tiers],
        }
    )
    c.evaluate(on=day(0), policy=higher, version=2, policy_changed=True)
    assert tier_changes(c)[-1] == ("vip", "potential", "policy_change", day(0))
    assert c.policy_version == 2 and c.below_since is None
    c.evaluate(on=day(1), policy=DEFAULT_POLICY, version=3, policy_changed=True)
    assert tier_changes(c)[-1] == ("potential", "vip", "policy_change", day(1))


def test_a_new_policy_that_keeps_the_tier_records_no_tier_event():
    c = customer()
    see(c, 0, "600000.00")
    c.events.clear()
    c.evaluate(on=day(0), policy=DEFAULT_POLICY, version=2, policy_changed=True)
    assert of(c, TierChanged) == [] and c.policy_version == 2


def test_tier_history_keeps_the_latest_changes_only():
    c = customer()
    for n in range(TIER_HISTORY_KEPT + 10):
        see(
            c,
            n,
            "600000.00" if n % 2 == 0 else "5000000.00",
            policy=DEFAULT_POLICY.model_copy(update={"downgrade_grace_days": 0}),
        )
    assert len(c.tier_history) == TIER_HISTORY_KEPT
    assert c.tier_history[-1]["as_of"] == day(TIER_HISTORY_KEPT + 9).isoformat()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.sampled_from(["0.00", "999.99", "1000.00", "49999.99", "50000.00", "500000.00", "3000000.00"]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_replaying_every_snapshot_again_records_nothing_new(steps):
    c = customer(registered_on=day(-400))
    n = 0
    for gap, aum in steps:
        n += gap
        see(c, n, aum)
        count = len(c.events)
        see(c, n, aum)
        assert len(c.events) == count


# -- 日均 ------------------------------------------------------------------------------------------------------


def steady(aum: str, days: int, policy: Policy = AVERAGE_5) -> TieredCustomer:
    c = customer(registered_on=day(-400))
    see(c, 0, aum, policy=policy)
    c.evaluate(on=day(days), policy=policy, version=1)
    return c


def test_average_daily_one_high_day_does_not_upgrade():
    c = steady("10000.00", 9)
    see(c, 10, "50000.00", policy=AVERAGE_5)
    see(c, 11, "10000.00", policy=AVERAGE_5)
    while c.due_on is not None and c.due_on <= day(40):
        c.evaluate(on=c.due_on, policy=AVERAGE_5, version=1)
    assert c.tier == "small" and tier_changes(c) == [(None, "small", "first_tier", day(0))]


def test_average_daily_upgrades_after_the_set_days_at_the_higher_balance():
    c = steady("10000.00", 9)
    see(c, 10, "50000.00", policy=AVERAGE_5)
    assert c.due_on == day(11)  # the average moves every day until it reaches the balance
    for n in range(11, 14):
        c.evaluate(on=day(n), policy=AVERAGE_5, version=1)
        assert c.tier == "small"
    c.evaluate(on=day(14), policy=AVERAGE_5, version=1)  # fifth day at 50,000
    [_, e] = of(c, TierChanged)
    assert (e.to_tier, e.reason, e.as_of, e.basis, e.basis_amount) == (
        "ordinary",
        "upgrade",
        day(14),
        "average_daily",
        Decimal("50000.00"),
    )


def test_average_daily_of_a_new_customer_counts_its_days_only():
    c = customer()
    see(c, 0, "600000.00", policy=AVERAGE_5)
    assert c.tier == "vip"


# -- lifecycle ------------------------------------------------------------------------------------------------


def stages(c: TieredCustomer) -> list[tuple]:
    return [(e.from_stage, e.to_stage, e.as_of) for e in of(c, LifecycleChanged)]


def test_a_customer_is_new_for_ninety_days_after_registering():
    c = customer(registered_on=day(0))
    see(c, 0, "10000.00")
    c.evaluate(on=day(89), policy=DEFAULT_POLICY, version=1)
    c.evaluate(on=day(90), policy=DEFAULT_POLICY, version=1)
    assert stages(c) == [(None, "new", day(0)), ("new", "mature", day(90))]


@pytest.mark.parametrize(
    ("now", "expected"),
    [("110000.00", "growing"), ("90000.00", "declining"), ("109999.99", "mature"), ("90000.01", "mature")],
)
def test_growing_or_declining_by_ten_percent_over_ninety_days(now, expected):
    c = customer(registered_on=day(-400))
    see(c, 0, "100000.00")
    see(c, 60, now)
    c.evaluate(on=day(90), policy=DEFAULT_POLICY, version=1)
    assert c.stage == expected


def test_the_trend_date_comes_due_without_a_new_balance():
    c = customer(registered_on=day(-400))
    see(c, 0, "100000.00")
    see(c, 60, "120000.00")
    while c.due_on is not None and c.due_on <= day(90):
        c.evaluate(on=c.due_on, policy=DEFAULT_POLICY, version=1)
    assert stages(c)[-1] == ("mature", "growing", day(90))


def test_churned_below_the_minimum_after_having_held_more():
    c = customer(registered_on=day(-400))
    see(c, 0, "1000.00")
    see(c, 1, "999.99")
    assert c.stage == "churned" and c.ever_held == Decimal("1000.00")
    see(c, 2, "1000.00")
    assert c.stage != "churned"


def test_never_reaching_the_minimum_is_not_churned():
    c = customer(registered_on=day(-400))
    see(c, 0, "999.99")
    assert c.stage == "mature"


def test_churned_after_a_year_without_change():
    c = customer(registered_on=day(-400))
    see(c, 0, "5000.00")
    see(c, 200, "5000.00")  # the same balance again is no change
    c.evaluate(on=day(364), policy=DEFAULT_POLICY, version=1)
    assert c.stage == "mature"
    c.evaluate(on=day(365), policy=DEFAULT_POLICY, version=1)
    assert stages(c)[-1] == ("mature", "churned", day(365))


# -- churn warning ----------------------------------------------------------------------------------------------


def raised(c: TieredCustomer) -> list[list[str]]:
    return [[r.rule for r in e.reasons] for e in of(c, ChurnRiskRaised)]


def test_an_outflow_of_thirty_percent_raises_and_recovery_clears():
    c = customer(owner="S1", registered_on=day(-400))
    see(c, 0, "100000.00")
    see(c, 10, "70000.01")
    assert raised(c) == []
    see(c, 11, "70000.00")
    [e] = of(c, ChurnRiskRaised)
    assert (e.customer_id, e.branch, e.owner, e.as_of, e.aum) == ("C1", "B1", "S1", day(11), Decimal("70000.00"))
    assert raised(c) == [["outflow"]] and c.churn_since == day(11)
    see(c, 12, "100000.00")
    [cleared] = of(c, ChurnRiskCleared)
    assert (cleared.as_of, cleared.resolved) == (day(12), ["outflow"])
    assert c.churn == {} and c.churn_since is None


def test_an_outflow_does_not_clear_when_the_high_day_leaves_the_window_but_when_money_returns():
    c = customer(registered_on=day(-400))
    see(c, 0, "100000.00")
    see(c, 10, "60000.00")
    c.evaluate(on=day(39), policy=DEFAULT_POLICY, version=1)
    c.evaluate(on=day(90), policy=DEFAULT_POLICY, version=1)
    assert not of(c, ChurnRiskCleared) and "outflow" in c.churn
    see(c, 91, "70000.01")
    assert of(c, ChurnRiskCleared)[0].as_of == day(91)


def test_a_single_large_drop_raises_for_a_customer_of_200k_or_more():
    c = customer(registered_on=day(-400))
    see(c, 0, "1000000.00")
    see(c, 1, "899999.99")  # 10%: not an outflow, but a fall above 100,000
    assert raised(c) == [["large_drop"]]
    c.evaluate(on=day(31), policy=DEFAULT_POLICY, version=1)
    assert of(c, ChurnRiskCleared)[-1].resolved == ["large_drop"] and c.drop is None


@pytest.mark.parametrize(("before", "after"), [("199999.99", "99999.98"), ("1000000.00", "900000.00")])
def test_no_large_drop_below_200k_or_at_exactly_100k(before, after):
    c = customer(registered_on=day(-400))
    see(c, 0, before)
    see(c, 1, after)
    assert "large_drop" not in c.churn and c.drop is None


def test_a_large_drop_that_recovers_clears():
    c = customer(registered_on=day(-400))
    see(c, 0, "1000000.00")
    see(c, 1, "850000.00")
    see(c, 2, "1000000.00")
    assert of(c, ChurnRiskCleared)[-1].resolved == ["large_drop"]


def test_dormancy_after_180_days_without_change():
    c = customer(registered_on=day(-400))
    see(c, 0, "5000.00")
    c.evaluate(on=day(179), policy=DEFAULT_POLICY, version=1)
    assert raised(c) == []
    c.evaluate(on=day(180), policy=DEFAULT_POLICY, version=1)
    assert raised(c) == [["dormancy"]]
    see(c, 181, "5000.01")
    assert of(c, ChurnRiskCleared)[-1].resolved == ["dormancy"]


def test_dormancy_comes_due_without_a_new_balance():
    c = customer(registered_on=day(-400))
    see(c, 0, "5000.00")
    while not raised(c):
        assert c.due_on is not None and c.due_on <= day(180)
        c.evaluate(on=c.due_on, policy=DEFAULT_POLICY, version=1)
    assert of(c, ChurnRiskRaised)[0].as_of == day(180)


def test_a_complaint_raises_while_open_and_clears_when_closed():
    c = customer(registered_on=day(-400))
    see(c, 0, "5000.00")
    c.complaint_opened("K1", on=day(3), policy=DEFAULT_POLICY)
    assert raised(c) == [["complaint"]] and c.open_complaints == ["K1"]
    c.complaint_opened("K1", on=day(3), policy=DEFAULT_POLICY)  # a redelivery
    assert len(of(c, ChurnRiskRaised)) == 1 and c.open_complaints == ["K1"]
    c.complaint_closed("K1", on=day(5), policy=DEFAULT_POLICY)
    [e] = of(c, ChurnRiskCleared)
    assert (e.as_of, e.resolved) == (day(5), ["complaint"])


def test_closing_one_of_two_complaints_keeps_the_warning():
    c = customer()
    c.complaint_opened("K1", on=day(0), policy=DEFAULT_POLICY)
    c.complaint_opened("K2", on=day(1), policy=DEFAULT_POLICY)
    c.complaint_closed("K1", on=day(2), policy=DEFAULT_POLICY)
    assert len(of(c, ChurnRiskRaised)) == 1 and of(c, ChurnRiskCleared) == [] and "complaint" in c.churn


def test_a_new_reason_raises_again_with_all_reasons_and_keeps_the_start():
    c = customer(registered_on=day(-400))
    see(c, 0, "100000.00")
    c.complaint_opened("K1", on=day(1), policy=DEFAULT_POLICY)
    see(c, 2, "50000.00")
    assert raised(c) == [["complaint"], ["complaint", "outflow"]] and c.churn_since == day(1)
    see(c, 3, "100000.00")
    assert of(c, ChurnRiskCleared) == []  # the complaint still holds


# -- watch list, owner, merge -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "watched"),
    [
        ("1000000.00", "950000.00", True),  # 50,000
        ("1000000.00", "950000.01", False),  # 49,999.99 and under 10%
        ("250000.00", "225000.00", True),  # 10%
        ("250000.00", "225000.01", False),
        ("250000.00", "275000.00", True),
        ("150000.00", "200000.00", True),  # 200,000 after the change counts
        ("100000.00", "199999.99", False),  # under 200,000 before and after
        ("600000.00", "600000.00", False),
    ],
)
def test_watch_entry_for_significant_changes_of_200k_customers(before, after, watched):
    c = customer()
    see(c, 0, before)
    see(c, 1, after)
    expected = [WatchEntry(day(1), Decimal(before), Decimal(after))] if watched else []
    assert c.watches == expected
    if watched:
        assert c.watches[0].change == Decimal(after) - Decimal(before)


def test_no_watch_entry_for_the_first_snapshot():
    c = customer()
    see(c, 0, "9000000.00")
    assert c.watches == []


def test_assign_owner_records_the_event_once():
    c = customer(owner="S1")
    see(c, 0, "600000.00")
    at = datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert c.assign_owner("S2", reason="tier_responsibility", by="tiering", at=at)
    [e] = of(c, OwnerAssigned)
    assert (e.previous_owner, e.new_owner, e.tier, e.reason, e.assigned_by, e.assigned_at) == (
        "S1",
        "S2",
        "vip",
        "tier_responsibility",
        "tiering",
        at,
    )
    assert not c.assign_owner("S2", reason="manual", by="S9", at=at)
    assert len(of(c, OwnerAssigned)) == 1 and c.owner == "S2"


def test_a_merged_customer_ignores_balances_and_evaluations():
    c = customer(merged_into="C2")
    assert not see(c, 0, "600000.00")
    c.evaluate(on=day(1), policy=DEFAULT_POLICY, version=1)
    assert c.events == [] and c.tier is None and c.series == []


def test_an_outflow_warning_holds_until_aum_is_back_above_seventy_percent_of_the_peak():
    c = TieredCustomer("C-OUT", branch="BR001", owner="S1", registered_on=date(2020, 1, 1))
    start = date(2026, 3, 1)
    c.observe_balance(as_of=start, aum=Decimal("100000.00"), breakdown={}, policy=DEFAULT_POLICY, version=1)
    c.observe_balance(
        as_of=start + timedelta(days=5), aum=Decimal("70000.00"), breakdown={}, policy=DEFAULT_POLICY, version=1
    )
    assert "outflow" in c.churn
    c.events.clear()
    # Sixty days later the fall has left the 30-day window, but nothing came back.
    c.evaluate(on=start + timedelta(days=65), policy=DEFAULT_POLICY, version=1)
    assert "outflow" in c.churn and not any(isinstance(e, ChurnRiskCleared) for e in c.events)
    c.observe_balance(
        as_of=start + timedelta(days=66), aum=Decimal("70000.01"), breakdown={}, policy=DEFAULT_POLICY, version=1
    )
    assert "outflow" not in c.churn
    assert [e.resolved for e in c.events if isinstance(e, ChurnRiskCleared)] == [["outflow"]]
