"""crm_kit.statutory_holidays: the 2024 statute's holidays, checked against the official schedules of 2025 and 2026."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_kit.statutory_holidays import (
    LABOUR,
    MID_AUTUMN,
    NATIONAL,
    NEW_YEAR,
    SPRING,
    statutory_holidays,
    statutory_rest_days,
)


@pytest.mark.parametrize("year", [2025, 2026])
def test_every_statutory_day_is_a_rest_day_in_the_official_schedule(year: int) -> None:
    rest = statutory_rest_days(year)
    assert rest, year
    for day, name in rest.items():
        assert not chinese_calendar.is_workday(day), f"{day} ({name}) is a working day in the official {year}"


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_official_holidays_start_on_the_statutory_days(year: int) -> None:
    # Each official break contains its festival's statutory days, under chinesecalendar's name.
    official = {day: str(name) for day, name in chinese_calendar.holidays.items() if day.year == year}
    for name, days in statutory_holidays(year):
        for day in days:
            assert day in official, (name, day)
        if name not in (MID_AUTUMN, NATIONAL):  # 2025 joined 中秋 into 国庆's break
            assert official[days[0]] == name


def test_2026_known_dates() -> None:
    holidays = dict(statutory_holidays(2026))
    assert holidays[SPRING] == [
        date(2026, 2, 16),
        date(2026, 2, 17),
        date(2026, 2, 18),
        date(2026, 2, 19),
    ]  # 除夕 … 初三
    assert holidays[MID_AUTUMN] == [date(2026, 9, 25)]
    rest = statutory_rest_days(2026)
    # 劳动节 Fri 05-01 and Sat 05-02: the Saturday given back on Monday 05-04 (补假, Article 6).
    assert rest[date(2026, 5, 4)] == LABOUR and date(2026, 5, 3) not in rest


def test_a_holiday_on_another_holiday_is_given_back() -> None:
    # 2028: 中秋 is Tuesday 10-03, already 国庆; 国庆's Sunday 10-01 goes to 10-04, 中秋 to Thursday 10-05.
    rest = statutory_rest_days(2028)
    assert rest[date(2028, 10, 3)] == NATIONAL
    assert rest[date(2028, 10, 4)] == NATIONAL
    assert rest[date(2028, 10, 5)] == MID_AUTUMN
    assert rest[date(2028, 1, 3)] == NEW_YEAR  # 元旦 on a Saturday, given back on Monday


def test_years_outside_the_lunar_table_are_refused() -> None:
    with pytest.raises(ValueError, match="1901-2099"):
        statutory_holidays(2100)


@settings(max_examples=60, deadline=None)
@given(year=st.integers(min_value=2025, max_value=2099))
def test_eleven_weekday_rest_days_a_year(year: int) -> None:
    # 13 statutory days; each one on a weekend or on another holiday is given back on a weekday.
    rest = statutory_rest_days(year)
    assert sum(day.weekday() < 5 for day in rest) == 13
    assert all(day.year == year for day in rest)
    spring = dict(statutory_holidays(year))[SPRING]
    assert spring == [spring[0] + timedelta(days=i) for i in range(4)]
