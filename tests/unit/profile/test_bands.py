"""Age and income bands at their exact bounds."""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import get_args

import pytest

from crm_contracts.profile import AgeBand, IncomeBand
from crm_profile.domain.bands import AGE_BANDS, INCOME_BANDS, age_band, age_on, bank_day, income_band

ON = date(2026, 6, 15)


@pytest.mark.parametrize(
    ("birthday", "band"),
    [
        (date(1996, 6, 16), "under_30"),  # 29 until tomorrow
        (date(1996, 6, 15), "30_44"),  # 30 today
        (date(1981, 6, 16), "30_44"),  # 44
        (date(1981, 6, 15), "45_59"),  # 45 today
        (date(1966, 6, 16), "45_59"),  # 59
        (date(1966, 6, 15), "60_plus"),  # 60 today
        (date(1930, 1, 1), "60_plus"),
        (date(2026, 6, 15), "under_30"),  # born today
    ],
)
def test_age_band_bounds(birthday, band):
    assert age_band(birthday, on=ON) == band


def test_no_birthday_no_age_band():
    assert age_band(None, on=ON) is None


def test_born_on_29_february_is_a_year_older_on_1_march_in_a_common_year():
    assert age_on(date(1996, 2, 29), date(2026, 2, 28)) == 29
    assert age_on(date(1996, 2, 29), date(2026, 3, 1)) == 30


def test_the_day_counts_in_the_banks_calendar_not_utc():
    # 17:00 UTC on 14 June is 01:00 on 15 June in Beijing.
    assert bank_day(datetime(2026, 6, 14, 17, 0, tzinfo=UTC)) == date(2026, 6, 15)
    assert bank_day(datetime(2026, 6, 14, 15, 59, tzinfo=UTC)) == date(2026, 6, 14)


@pytest.mark.parametrize(
    ("annual", "band"),
    [
        ("0", "under_100k"),
        ("99999.99", "under_100k"),
        ("100000", "100k_300k"),
        ("100000.00", "100k_300k"),
        ("299999.99", "100k_300k"),
        ("300000.00", "300k_1m"),
        ("999999.99", "300k_1m"),
        ("1000000.00", "1m_plus"),
        ("250000000", "1m_plus"),
    ],
)
def test_income_band_bounds(annual, band):
    assert income_band(Decimal(annual)) == band


def test_no_income_no_income_band():
    assert income_band(None) is None


def test_bands_are_the_contracts_bands():
    assert {b for _, b in AGE_BANDS} == set(get_args(AgeBand))
    assert {b for _, b in INCOME_BANDS} == set(get_args(IncomeBand))
