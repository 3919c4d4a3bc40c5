"""Lifecycle stage (新客户, 成长, 成熟, 衰退, 流失) from registration, AUM trend and dormancy."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from crm_tiering.domain.balances import Point
from crm_tiering.domain.lifecycle import next_check, stage, trend_pct
from crm_tiering.domain.policy import LifecycleRules

D0 = date(2026, 1, 1)
RULES = LifecycleRules()


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def p(n: int, aum: str) -> Point:
    return Point(day(n), Decimal(aum))


def stage_on(s, n, *, registered=None, last_change=None, ever_held=None):
    ever = ever_held if ever_held is not None else max((pt.aum for pt in s), default=Decimal(0))
    last = last_change if last_change is not None else (s[-1].as_of if s else None)
    return stage(series=s, as_of=day(n), registered_on=registered, last_change=last, ever_held=ever, rules=RULES)[0]


@pytest.mark.parametrize(("n", "expected"), [(0, "new"), (89, "new"), (90, "mature")])
def test_new_within_ninety_days_of_registration(n, expected):
    assert stage_on([p(0, "10000.00")], n, registered=day(0), last_change=day(0)) == expected


def test_trend_is_the_change_over_the_window():
    s = [p(0, "100000.00"), p(50, "110000.00")]
    assert trend_pct(s, as_of=day(90), days=90) == Decimal("10.0")
    assert trend_pct(s, as_of=day(89), days=90) is None  # no balance 90 days before
    assert trend_pct([p(0, "0.00"), p(5, "10.00")], as_of=day(90), days=90) is None  # no base to divide by


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("110000.00", "growing"),
        ("109999.00", "mature"),  # 9.999%: not rounded up to the bound
        ("109990.00", "mature"),
        ("90000.00", "declining"),
        ("90001.00", "mature"),
        ("90009.00", "mature"),
    ],
)
def test_growing_and_declining_by_ten_percent_over_ninety_days(now, expected):
    s = [p(0, "100000.00"), p(60, now)]
    assert stage_on(s, 90) == expected


def test_no_trend_yet_is_mature():
    assert stage(
        series=[p(0, "5000.00")],
        as_of=day(10),
        registered_on=None,
        last_change=day(0),
        ever_held=Decimal("5000.00"),
        rules=RULES,
    ) == ("mature", ["no trend yet"])


def test_a_new_customer_is_new_even_while_growing():
    s = [p(0, "1000.00"), p(80, "90000.00")]
    assert stage_on(s, 85, registered=day(0)) == "new"


@pytest.mark.parametrize(
    ("now", "ever", "expected"),
    [
        ("999.99", "1000.00", "churned"),
        ("999.99", "999.99", "mature"),  # never held the minimum: not churned, just small
        ("1000.00", "500000.00", "declining"),
    ],
)
def test_churned_below_the_minimum_after_having_held_it(now, ever, expected):
    s = [p(0, ever), p(60, now)]
    assert stage_on(s, 90, ever_held=Decimal(ever)) == expected


def test_churned_comes_before_new():
    s = [p(0, "5000.00"), p(5, "0.00")]
    assert stage_on(s, 10, registered=day(0)) == "churned"


@pytest.mark.parametrize(("n", "expected"), [(364, "mature"), (365, "churned")])
def test_churned_after_a_year_without_change(n, expected):
    out = stage(
        series=[p(0, "5000.00")],
        as_of=day(n),
        registered_on=None,
        last_change=day(0),
        ever_held=Decimal("5000.00"),
        rules=RULES,
    )
    assert out[0] == expected
    if expected == "churned":
        assert out[1] == ["no change in AUM since 2026-01-01"]


def test_next_check_is_when_the_trend_base_or_the_stage_may_move():
    s = [p(0, "100.00"), p(30, "200.00")]
    assert next_check(series=s, as_of=day(30), registered_on=day(0), last_change=day(30), rules=RULES) == day(90)
    assert next_check(series=s, as_of=day(90), registered_on=day(0), last_change=day(30), rules=RULES) == day(120)
    assert next_check(series=s, as_of=day(120), registered_on=day(0), last_change=day(30), rules=RULES) == day(395)
    assert next_check(series=s, as_of=day(395), registered_on=day(0), last_change=day(30), rules=RULES) is None


def test_stage_reasons_say_why():
    s = [p(0, "100000.00"), p(60, "125000.00")]
    assert stage(
        series=s, as_of=day(90), registered_on=None, last_change=day(60), ever_held=Decimal("125000.00"), rules=RULES
    ) == ("growing", ["AUM up 25.0% over 90 days"])
    s = [p(0, "100000.00"), p(60, "80000.00")]
    assert stage(
        series=s, as_of=day(90), registered_on=None, last_change=day(60), ever_held=Decimal("100000.00"), rules=RULES
    ) == ("declining", ["AUM down 20.0% over 90 days"])
    s = [p(0, "100000.00"), p(60, "101000.00")]
    assert stage(
        series=s, as_of=day(90), registered_on=None, last_change=day(60), ever_held=Decimal("101000.00"), rules=RULES
    ) == ("mature", ["stable AUM"])
