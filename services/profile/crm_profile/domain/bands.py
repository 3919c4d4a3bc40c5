"""What other services may know of a customer, as the profile's events carry it: age and income bands
instead of the birthday and income, the birthday's month and day without its year, and the risk
assessment's grade for suitability checks."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Protocol

from crm_contracts.profile import AgeBand, IncomeBand, RiskTolerance

# Ages count in the bank's calendar (China Standard Time, no daylight saving), not UTC's: at 02:00 in
# Beijing a customer born on today's date is already a year older.
BANK_TIME = timezone(timedelta(hours=8), "CST")

# Lower bounds are inclusive: a customer of exactly 30 is 30_44, an income of exactly 100,000 is 100k_300k.
AGE_BANDS: tuple[tuple[int, AgeBand], ...] = ((60, "60_plus"), (45, "45_59"), (30, "30_44"), (0, "under_30"))
INCOME_BANDS: tuple[tuple[Decimal, IncomeBand], ...] = (
    (Decimal("1000000"), "1m_plus"),
    (Decimal("300000"), "300k_1m"),
    (Decimal("100000"), "100k_300k"),
    (Decimal("0"), "under_100k"),
)


def bank_day(moment: datetime) -> date:
    return moment.astimezone(BANK_TIME).date()


def age_on(birthday: date, day: date) -> int:
    """Full years on `day`. Born on 29 February: a year older on 1 March in a common year."""
    return day.year - birthday.year - ((day.month, day.day) < (birthday.month, birthday.day))


def age_band(birthday: date | None, *, on: date) -> AgeBand | None:
    """The band of an individual's age on a given day; None without a birthday (corporate customers)."""
    if birthday is None:
        return None
    age = age_on(birthday, on)
    return next((band for bound, band in AGE_BANDS if age >= bound), "under_30")


def income_band(annual: Decimal | None) -> IncomeBand | None:
    """The band of a declared annual income in CNY; None when no income is declared."""
    if annual is None:
        return None
    return next((band for bound, band in INCOME_BANDS if annual >= bound), "under_100k")


def birth_month_day(birthday: date | None) -> str | None:
    """A birthday's month and day as "MM-DD" (29 February stays "02-29"), never its year: what birthday
    care needs, without the date that would identify the customer and give away the age. None without
    a birthday (corporate customers)."""
    if birthday is None:
        return None
    return f"{birthday.month:02d}-{birthday.day:02d}"


class RiskAssessment(Protocol):
    tolerance: RiskTolerance
    assessed_on: date
    professional_investor: bool


def risk_facts(risk: RiskAssessment | None) -> dict[str, Any]:
    """The event fields of a risk assessment, all three None when there is none (or it was cleared)."""
    if risk is None:
        return {"risk_tolerance": None, "risk_assessed_on": None, "professional_investor": None}
    return {
        "risk_tolerance": risk.tolerance,
        "risk_assessed_on": risk.assessed_on,
        "professional_investor": risk.professional_investor,
    }
