"""crm_engagement.domain.occasions: festivals (lunar via lunardate), birthdays, anniversaries, windows."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lunardate import LunarDate

from crm_engagement.domain.occasions import (
    FESTIVALS,
    Festival,
    Occasion,
    anniversary_in,
    birthday_in,
    festival_date,
    occasions_between,
)


@pytest.mark.parametrize(
    ("name", "year", "expected"),
    [
        ("mid_autumn", 2026, date(2026, 9, 25)),
        ("spring_festival", 2026, date(2026, 2, 17)),
        ("spring_festival", 2027, date(2027, 2, 6)),
        ("dragon_boat", 2026, date(2026, 6, 19)),
        ("double_ninth", 2026, date(2026, 10, 18)),
        ("lantern", 2026, date(2026, 3, 3)),
        ("new_year", 2027, date(2027, 1, 1)),
        ("national_day", 2026, date(2026, 10, 1)),
    ],
)
def test_festival_dates(name: str, year: int, expected: date) -> None:
    assert festival_date(name, year) == expected


def test_festival_table() -> None:
    assert set(FESTIVALS) == {
        "spring_festival",
        "lantern",
        "dragon_boat",
        "mid_autumn",
        "double_ninth",
        "new_year",
        "national_day",
    }
    assert FESTIVALS["mid_autumn"] == Festival("Mid-Autumn Festival", "中秋", "lunar", 8, 15)
    assert FESTIVALS["national_day"].calendar == "solar"
    with pytest.raises(FrozenInstanceError):
        FESTIVALS["lantern"].day = 16  # type: ignore[misc]


def test_lunar_festival_is_never_in_the_leap_month() -> None:
    # 2028 has a leap 5th month: 端午 stays in the regular one.
    assert LunarDate.leap_month_for_year(2028) == 5
    assert festival_date("dragon_boat", 2028) == LunarDate(2028, 5, 5).to_solar_date()
    assert festival_date("dragon_boat", 2028) < LunarDate(2028, 5, 5, True).to_solar_date()


@given(year=st.integers(min_value=1901, max_value=2099), name=st.sampled_from(sorted(FESTIVALS)))
def test_festival_falls_in_its_year(year: int, name: str) -> None:
    assert festival_date(name, year).year == year


def test_unknown_festival() -> None:
    with pytest.raises(ValueError, match="qixi"):
        festival_date("qixi", 2026)
    with pytest.raises(ValueError, match="qixi"):
        occasions_between(
            date(2026, 1, 1), date(2026, 12, 31), birth_month_day=None, customer_since=None, festivals=["qixi"]
        )


def test_birthdays() -> None:
    assert birthday_in(2026, "03-15") == date(2026, 3, 15)
    assert birthday_in(2026, "02-29") == date(2026, 2, 28)
    assert birthday_in(2028, "02-29") == date(2028, 2, 29)
    assert birthday_in(2100, "02-29") == date(2100, 2, 28)  # not a leap year
    for bad in ("2-29", "02/29", "13-01", "02-30", "", "0229"):
        with pytest.raises(ValueError):
            birthday_in(2026, bad)


def test_anniversaries_start_the_year_after_joining() -> None:
    since = date(2024, 2, 29)
    assert anniversary_in(2023, since) is None
    assert anniversary_in(2024, since) is None
    assert anniversary_in(2025, since) == date(2025, 2, 28)
    assert anniversary_in(2028, since) == date(2028, 2, 29)
    assert anniversary_in(2026, date(2020, 7, 1)) == date(2026, 7, 1)


def test_window_over_the_new_year() -> None:
    found = occasions_between(
        date(2026, 12, 28),
        date(2027, 1, 5),
        birth_month_day="01-02",
        customer_since=date(2019, 12, 30),
        festivals=FESTIVALS,
    )
    assert found == [
        Occasion("anniversary", "anniversary", date(2026, 12, 30), 2026),
        Occasion("festival", "new_year", date(2027, 1, 1), 2027),
        Occasion("birthday", "birthday", date(2027, 1, 2), 2027),
    ]


def test_window_is_inclusive_and_sorted_by_date_then_kind() -> None:
    # 2020: 中秋 fell on 10-01, together with 国庆; the customer joined on 10-01 as well.
    found = occasions_between(
        date(2020, 9, 20),
        date(2020, 10, 1),
        birth_month_day="09-20",
        customer_since=date(2015, 10, 1),
        festivals=["national_day", "mid_autumn", "national_day"],
    )
    assert [(o.on, o.kind, o.name) for o in found] == [
        (date(2020, 9, 20), "birthday", "birthday"),
        (date(2020, 10, 1), "anniversary", "anniversary"),
        (date(2020, 10, 1), "festival", "mid_autumn"),
        (date(2020, 10, 1), "festival", "national_day"),
    ]


def test_window_without_customer_data_and_empty_window() -> None:
    found = occasions_between(
        date(2026, 1, 1),
        date(2026, 12, 31),
        birth_month_day=None,
        customer_since=None,
        festivals=["spring_festival", "mid_autumn"],
    )
    assert [(o.name, o.on) for o in found] == [
        ("spring_festival", date(2026, 2, 17)),
        ("mid_autumn", date(2026, 9, 25)),
    ]
    assert (
        occasions_between(
            date(2026, 3, 1), date(2026, 2, 1), birth_month_day="02-15", customer_since=None, festivals=FESTIVALS
        )
        == []
    )
    # Joined inside the window: no anniversary that year.
    assert (
        occasions_between(
            date(2026, 1, 1), date(2026, 12, 31), birth_month_day=None, customer_since=date(2026, 5, 1), festivals=[]
        )
        == []
    )
