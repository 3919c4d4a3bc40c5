"""crm_engagement.domain.suitability: Cn takes R1..Rn, professional investors all, a current assessment."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_engagement.domain.suitability import Verdict, expires_on, level, suitable

TODAY = date(2026, 6, 10)
RECENT = date(2026, 1, 15)


def verdict(
    product_risk: str,
    tolerance: str | None,
    *,
    professional: bool = False,
    assessed_on: date | None = RECENT,
    today: date = TODAY,
    valid_months: int = 12,
) -> Verdict:
    return suitable(
        product_risk=product_risk,
        tolerance=tolerance,
        professional=professional,
        assessed_on=assessed_on,
        today=today,
        valid_months=valid_months,
    )


def test_level() -> None:
    assert level("C1") == 1 and level("C5") == 5 and level("R3") == 3 and level("R5") == 5


def test_c2_may_not_take_r3_and_the_reason_names_both() -> None:
    v = verdict("R3", "C2")
    assert v.allowed is False
    assert v.reason is not None and "R3" in v.reason and "C2" in v.reason


@pytest.mark.parametrize("tolerance", ["C3", "C4", "C5"])
def test_c3_and_above_may_take_r3(tolerance: str) -> None:
    assert verdict("R3", tolerance) == Verdict(True, None)


def test_c4_r3_allowed_and_c3_r3_allowed() -> None:
    assert verdict("R3", "C4").allowed
    assert verdict("R3", "C3").allowed


def test_professional_investor_takes_r5() -> None:
    assert verdict("R5", "C1", professional=True) == Verdict(True, None)
    assert verdict("R5", "C1").allowed is False


def test_no_assessment_is_blocked() -> None:
    for v in (verdict("R1", None), verdict("R1", "C5", assessed_on=None), verdict("R1", None, assessed_on=None)):
        assert v.allowed is False
        assert v.reason is not None and "assess" in v.reason


def test_no_assessment_blocks_a_professional_investor_too() -> None:
    assert verdict("R1", None, professional=True, assessed_on=None).allowed is False


def test_expired_assessment_is_blocked() -> None:
    assessed = date(2025, 6, 10)
    v = verdict("R1", "C5", assessed_on=assessed, today=date(2026, 6, 10))  # exactly 12 months later
    assert v.allowed is False
    assert v.reason is not None and "2025-06-10" in v.reason and "2026-06-10" in v.reason and "expired" in v.reason
    assert verdict("R1", "C5", assessed_on=assessed, today=date(2026, 6, 9)).allowed  # the day before: valid
    assert verdict("R1", "C5", assessed_on=assessed, today=date(2027, 1, 1)).allowed is False


def test_expired_assessment_blocks_a_professional_investor_too() -> None:
    assert verdict("R1", "C5", professional=True, assessed_on=date(2024, 1, 1)).allowed is False


def test_expiry_checked_before_levels() -> None:
    v = verdict("R5", "C1", assessed_on=date(2020, 1, 1))
    assert v.reason is not None and "expired" in v.reason


def test_assessed_today_is_valid() -> None:
    assert verdict("R2", "C2", assessed_on=TODAY).allowed


def test_valid_months_is_honoured() -> None:
    assessed = date(2026, 1, 10)
    assert verdict("R1", "C1", assessed_on=assessed, today=date(2026, 7, 9), valid_months=6).allowed
    assert verdict("R1", "C1", assessed_on=assessed, today=date(2026, 7, 10), valid_months=6).allowed is False


@pytest.mark.parametrize(
    ("assessed", "months", "expected"),
    [
        (date(2025, 6, 10), 12, date(2026, 6, 10)),
        (date(2025, 2, 28), 12, date(2026, 2, 28)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 3, 31), 1, date(2025, 4, 30)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),
        (date(2025, 11, 30), 2, date(2026, 1, 30)),
        (date(2025, 12, 31), 12, date(2026, 12, 31)),
        (date(2025, 1, 1), 60, date(2030, 1, 1)),
        (date(2025, 7, 1), 18, date(2027, 1, 1)),
    ],
)
def test_expires_on_clamps_to_month_end(assessed: date, months: int, expected: date) -> None:
    assert expires_on(assessed, months) == expected


@given(
    assessed=st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)),
    months=st.integers(min_value=1, max_value=60),
)
def test_expires_on_properties(assessed: date, months: int) -> None:
    expiry = expires_on(assessed, months)
    assert expiry > assessed
    assert (expiry.year - assessed.year) * 12 + expiry.month - assessed.month == months
    assert expiry.day <= assessed.day
    if expiry.day < assessed.day:  # clamped: the last day of its month
        assert (expiry + timedelta(days=1)).day == 1


@given(n=st.integers(min_value=1, max_value=5), m=st.integers(min_value=1, max_value=5), professional=st.booleans())
def test_cn_takes_r1_to_rn(n: int, m: int, professional: bool) -> None:
    v = verdict(f"R{m}", f"C{n}", professional=professional)
    assert v.allowed is (professional or m <= n)
    if v.allowed:
        assert v.reason is None
    else:
        assert v.reason is not None and f"R{m}" in v.reason and f"C{n}" in v.reason


@given(
    n=st.integers(min_value=1, max_value=5),
    m=st.integers(min_value=1, max_value=5),
    professional=st.booleans(),
    age_days=st.integers(min_value=0, max_value=800),
)
def test_never_allowed_with_an_expired_assessment(n: int, m: int, professional: bool, age_days: int) -> None:
    assessed = TODAY - timedelta(days=age_days)
    v = verdict(f"R{m}", f"C{n}", professional=professional, assessed_on=assessed)
    current = expires_on(assessed, 12) > TODAY
    assert v.allowed is (current and (professional or m <= n))
