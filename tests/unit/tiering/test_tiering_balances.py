"""Recent AUM as a step function of snapshot dates: record, value_at, 日均 and the peak of a window."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from crm_tiering.domain.balances import Point, average_daily, peak_within, record, value_at

D0 = date(2026, 1, 1)
money = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def p(n: int, aum: str) -> Point:
    return Point(day(n), Decimal(aum))


def series(*points: Point, keep_days: int = 90) -> list[Point]:
    out: list[Point] = []
    for point in points:
        out = record(out, point, keep_days=keep_days)
    return out


def test_record_keeps_points_in_date_order():
    assert series(p(5, "2"), p(1, "1"), p(9, "3")) == [p(1, "1"), p(5, "2"), p(9, "3")]


def test_a_same_day_point_replaces_the_old_one():
    assert series(p(1, "1"), p(2, "2"), p(2, "3")) == [p(1, "1"), p(2, "3")]


def test_record_trims_to_the_window_and_keeps_the_point_in_force_at_its_start():
    s = series(p(0, "1"), p(5, "2"), p(20, "3"), p(40, "4"), keep_days=30)
    # Window starts day 10: day 5 is in force then, day 0 is not needed.
    assert s == [p(5, "2"), p(20, "3"), p(40, "4")]
    assert value_at(s, day(10)) == Decimal(2)


def test_a_point_exactly_at_the_window_start_is_the_one_kept():
    assert series(p(0, "1"), p(10, "2"), p(40, "3"), keep_days=30) == [p(10, "2"), p(40, "3")]


@given(st.lists(st.tuples(st.integers(0, 400), money), min_size=1, max_size=30), st.integers(1, 120))
def test_record_never_changes_a_value_within_the_window(raw, keep_days):
    full: list[Point] = []
    trimmed: list[Point] = []
    for n, aum in raw:
        full = record(full, Point(day(n), aum), keep_days=10**4)
        trimmed = record(trimmed, Point(day(n), aum), keep_days=keep_days)
    last = max(pt.as_of for pt in full)
    assert [pt.as_of for pt in trimmed] == sorted({pt.as_of for pt in trimmed})
    for back in range(keep_days + 1):
        when = last - timedelta(days=back)
        assert value_at(trimmed, when) == value_at(full, when)
    # At most one point at or before the window start: the one in force there.
    assert len([pt for pt in trimmed if pt.as_of <= last - timedelta(days=keep_days)]) <= 1


def test_value_at_holds_a_balance_until_the_next_snapshot():
    s = [p(1, "10"), p(5, "20")]
    assert value_at(s, day(0)) is None
    assert value_at(s, day(1)) == Decimal(10)
    assert value_at(s, day(4)) == Decimal(10)
    assert value_at(s, day(5)) == Decimal(20)
    assert value_at(s, day(500)) == Decimal(20)
    assert value_at([], day(1)) is None


@given(money, st.integers(1, 120), st.integers(0, 200))
def test_average_daily_of_a_constant_is_that_constant(aum, days, later):
    s = [Point(day(0), aum)]
    assert average_daily(s, end=day(later), days=days) == aum


def test_average_daily_is_the_mean_of_end_of_day_balances():
    s = [p(0, "100.00"), p(8, "200.00")]
    # Days 1..10: 7 days at 100 (1-7), 3 at 200 (8-10).
    assert average_daily(s, end=day(10), days=10) == Decimal("130.00")


def test_average_daily_counts_only_days_since_the_first_snapshot():
    s = [p(5, "100.00"), p(7, "400.00")]
    # Days 5..9 only: 100, 100, 400, 400, 400.
    assert average_daily(s, end=day(9), days=30) == Decimal("280.00")
    assert average_daily(s, end=day(4), days=30) is None


def test_average_daily_is_rounded_to_cents():
    s = [p(0, "0.00"), p(2, "1.00")]
    assert average_daily(s, end=day(2), days=3) == Decimal("0.33")


def test_peak_within_dates_the_opening_balance_from_the_window_start():
    s = [p(0, "500.00"), p(20, "100.00"), p(25, "300.00")]
    # Window days 20..29: opening 100 on day 20, then 300 on day 25.
    assert peak_within(s, end=day(29), days=10) == p(25, "300.00")
    # Window days 10..39 starts while 500 is in force.
    assert peak_within(s, end=day(39), days=30) == p(10, "500.00")


def test_peak_within_takes_the_earliest_of_equal_highs():
    s = [p(0, "100.00"), p(3, "50.00"), p(5, "100.00")]
    assert peak_within(s, end=day(6), days=7) == p(0, "100.00")


def test_peak_within_before_any_snapshot_is_none():
    assert peak_within([p(10, "1.00")], end=day(5), days=3) is None
    assert peak_within([], end=day(5), days=3) is None


@given(st.lists(st.tuples(st.integers(0, 60), money), min_size=1, max_size=20), st.integers(0, 80), st.integers(1, 40))
def test_peak_within_is_the_highest_day_of_the_window(raw, end, days):
    s: list[Point] = []
    for n, aum in raw:
        s = record(s, Point(day(n), aum), keep_days=10**4)
    values = [v for i in range(days) if (v := value_at(s, day(end) - timedelta(days=i))) is not None]
    peak = peak_within(s, end=day(end), days=days)
    if not values:
        assert peak is None
    else:
        assert peak is not None and peak.aum == max(values)
        assert day(end) - timedelta(days=days - 1) <= peak.as_of <= day(end)
        assert value_at(s, peak.as_of) == peak.aum
