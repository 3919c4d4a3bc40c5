"""Churn early-warning rules (流失预警) as pure functions of the balance series."""

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_tiering.domain.balances import Point
from crm_tiering.domain.churn import LargeDrop, large_drop, next_check, reasons
from crm_tiering.domain.policy import ChurnRules

D0 = date(2026, 1, 1)
RULES = ChurnRules()


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def p(n: int, aum: str) -> Point:
    return Point(day(n), Decimal(aum))


def rules_on(s, n, *, last_change=None, drop=None, complaints=(), rules=RULES):
    return reasons(
        series=s, as_of=day(n), last_change=last_change, drop=drop, open_complaints=list(complaints), rules=rules
    )


@pytest.mark.parametrize(("after", "holds"), [("70000.01", False), ("70000.00", True), ("0.00", True)])
def test_outflow_of_thirty_percent_within_the_window(after, holds):
    s = [p(0, "100000.00"), p(10, after)]
    assert ("outflow" in rules_on(s, 10, last_change=day(10))) is holds


def test_outflow_detail_names_the_peak_and_the_fall():
    s = [p(0, "100000.00"), p(10, "60000.00")]
    assert rules_on(s, 10)["outflow"] == "AUM fell 40.0% from 100000.00 on 2026-01-01 to 60000.00 within 30 days"


def test_outflow_holds_while_the_high_day_is_in_the_window():
    s = [p(0, "100000.00"), p(10, "60000.00")]
    # The last day at 100,000 is day 9: in the 30-day window up to day 38, out of it on day 39.
    assert "outflow" in rules_on(s, 38)
    assert "outflow" not in rules_on(s, 39)


def test_a_slow_outflow_over_more_than_the_window_is_not_an_outflow():
    s = [p(0, "100000.00"), p(20, "85000.00"), p(50, "69000.00")]
    # Window days 21..50: from 85,000 to 69,000 is 18.8%, though 31% below the balance of day 19.
    assert "outflow" not in rules_on(s, 50)


def test_recovery_ends_the_outflow():
    s = [p(0, "100000.00"), p(10, "60000.00"), p(12, "100000.00")]
    assert "outflow" not in rules_on(s, 12)


def test_no_outflow_from_a_zero_peak():
    assert rules_on([p(0, "0.00")], 5) == {}


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("200000.00", "99999.99", LargeDrop(day(3), Decimal("200000.00"), Decimal("99999.99"))),
        ("200000.00", "100000.00", None),  # exactly 100,000: not above it
        ("199999.99", "0.00", None),  # below 200,000 before the drop
        ("5000000.00", "4899999.99", LargeDrop(day(3), Decimal("5000000.00"), Decimal("4899999.99"))),
    ],
)
def test_large_drop_is_a_fall_above_the_amount_from_at_least_the_minimum(before, after, expected):
    assert large_drop(Decimal(before), Decimal(after), day(3), RULES) == expected


def test_no_large_drop_without_a_previous_balance_or_on_a_rise():
    assert large_drop(None, Decimal(0), day(3), RULES) is None
    assert large_drop(Decimal(300000), Decimal(900000), day(3), RULES) is None


def test_large_drop_holds_for_the_outflow_window_unless_recovered():
    drop = LargeDrop(day(0), Decimal("1000000.00"), Decimal("899999.99"))
    s = [p(-1, "1000000.00"), p(0, "899999.99")]
    assert rules_on(s, 0, drop=drop)["large_drop"] == "single fall of 100000.01 on 2026-01-01 (from 1000000.00)"
    assert "outflow" not in rules_on(s, 0, drop=drop)  # 10%: only the large-drop rule
    assert "large_drop" in rules_on(s, 29, drop=drop)
    assert "large_drop" not in rules_on(s, 30, drop=drop)
    back = [*s, p(5, "1000000.00")]
    assert "large_drop" not in rules_on(back, 5, drop=drop)


@pytest.mark.parametrize(("n", "holds"), [(179, False), (180, True), (400, True)])
def test_dormancy_after_the_set_days_without_change(n, holds):
    s = [p(0, "5000.00")]
    assert ("dormancy" in rules_on(s, n, last_change=day(0))) is holds


def test_an_open_complaint_is_a_reason_unless_the_bank_turned_it_off():
    assert rules_on([], 0, complaints=["K2", "K1"]) == {"complaint": "open complaint(s): K1, K2"}
    assert rules_on([], 0, complaints=["K1"], rules=ChurnRules(complaint=False)) == {}


def test_next_check_is_when_the_high_day_leaves_the_window():
    s = [p(0, "100000.00"), p(10, "60000.00")]
    assert next_check(series=s, as_of=day(10), last_change=day(10), drop=None, rules=RULES) == day(39)
    drop = LargeDrop(day(5), Decimal(300000), Decimal("60000.00"))
    assert next_check(series=s, as_of=day(10), last_change=day(10), drop=drop, rules=RULES) == day(35)


def test_a_constant_balance_is_not_checked_again_until_dormancy():
    # A balance that has not moved cannot start or stop an outflow: no daily re-evaluation.
    s = [p(0, "1.00")]
    assert next_check(series=s, as_of=day(100), last_change=day(0), drop=None, rules=RULES) == day(180)
    assert next_check(series=s, as_of=day(180), last_change=day(0), drop=None, rules=RULES) is None


amount = st.sampled_from(["0.00", "1000.00", "60000.00", "100000.00", "150000.00", "250000.00", "400000.00"])


@settings(max_examples=150)
@given(st.lists(st.tuples(st.integers(0, 80), amount), min_size=1, max_size=8), st.integers(0, 120))
def test_no_rule_changes_before_next_check(raw, after_last):
    points = sorted({n: Point(day(n), Decimal(a)) for n, a in raw}.values(), key=lambda pt: pt.as_of)
    last_change = points[0].as_of
    for before, pt in pairwise(points):
        if pt.aum != before.aum:
            last_change = pt.as_of
    drop = large_drop(points[-2].aum, points[-1].aum, points[-1].as_of, RULES) if len(points) > 1 else None
    start = points[-1].as_of + timedelta(days=after_last)

    def held(when: date) -> set[str]:
        return set(
            reasons(series=points, as_of=when, last_change=last_change, drop=drop, open_complaints=[], rules=RULES)
        )

    due = next_check(series=points, as_of=start, last_change=last_change, drop=drop, rules=RULES)
    end = due if due is not None else start + timedelta(days=400)
    assert due is None or due > start
    now = held(start)
    for n in range(1, (end - start).days):
        assert held(start + timedelta(days=n)) == now
