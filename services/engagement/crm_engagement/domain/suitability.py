"""Suitability (客户适当性, BRIEF §4.7): a product of risk R1–R5 may be recommended only to a customer
whose risk tolerance C1–C5 covers it — Cn takes R1..Rn, a professional investor takes every level —
and whose assessment is current: it expires `assessment_valid_months` after it was made (default 12).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str | None = None


def level(code: str) -> int:
    """ "C3" -> 3, "R4" -> 4."""
    return int(code[1:])


def expires_on(assessed_on: date, months: int) -> date:
    """The first day the assessment is no longer valid: the same day `months` later (month-end clamped)."""
    month = assessed_on.month - 1 + months
    year, month = assessed_on.year + month // 12, month % 12 + 1
    day = min(assessed_on.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def suitable(
    *,
    product_risk: str,
    tolerance: str | None,
    professional: bool,
    assessed_on: date | None,
    today: date,
    valid_months: int,
) -> Verdict:
    if tolerance is None or assessed_on is None:
        return Verdict(False, "no risk assessment on file: assess the customer's risk tolerance first")
    expiry = expires_on(assessed_on, valid_months)
    if today >= expiry:
        return Verdict(
            False,
            f"risk assessment of {assessed_on} expired on {expiry} "
            f"(valid {valid_months} months): reassess before recommending",
        )
    if professional:
        return Verdict(True)
    if level(product_risk) > level(tolerance):
        return Verdict(
            False,
            f"product risk {product_risk} exceeds the customer's tolerance {tolerance} "
            f"({tolerance} may take R1..R{level(tolerance)})",
        )
    return Verdict(True)
