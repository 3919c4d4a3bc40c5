"""A customer's recent AUM as a step function of snapshot dates: a balance holds from its `as_of`
until the next one (the profile only reports changes). Dates are always snapshot dates, never the
wall clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Point:
    as_of: date
    aum: Decimal


def record(series: list[Point], point: Point, *, keep_days: int) -> list[Point]:
    """The series with `point` (a same-day point replaces the old one), trimmed to what the rules need:
    the last `keep_days` days plus the point in force at their start."""
    points = sorted([p for p in series if p.as_of != point.as_of] + [point], key=lambda p: p.as_of)
    start = points[-1].as_of - timedelta(days=keep_days)
    in_force = [p for p in points if p.as_of <= start]
    return in_force[-1:] + [p for p in points if p.as_of > start]


def value_at(series: list[Point], day: date) -> Decimal | None:
    """AUM in force at the end of `day`, or None before the first snapshot."""
    current = None
    for p in series:
        if p.as_of > day:
            break
        current = p.aum
    return current


def average_daily(series: list[Point], *, end: date, days: int) -> Decimal | None:
    """日均: mean of the end-of-day AUM over the `days` days ending `end`. Days before the first snapshot
    are not counted (a new customer's average is over the days it has had)."""
    values = [v for i in range(days) if (v := value_at(series, end - timedelta(days=i))) is not None]
    if not values:
        return None
    return (sum(values, Decimal(0)) / len(values)).quantize(CENT)


def peak_within(series: list[Point], *, end: date, days: int) -> Point | None:
    """The highest AUM in force on some day of the `days` days ending `end` (the earliest of equals),
    dated from when it was in force within the window."""
    start = end - timedelta(days=days - 1)
    opening = value_at(series, start)
    candidates = ([Point(start, opening)] if opening is not None else []) + [
        p for p in series if start < p.as_of <= end
    ]
    best: Point | None = None
    for p in candidates:
        if best is None or p.aum > best.aum:
            best = p
    return best
