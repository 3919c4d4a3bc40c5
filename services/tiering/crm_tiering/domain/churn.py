"""Churn early warning (流失预警): the rules that say a customer may be about to leave.

A warning is raised with its reasons when a rule starts to hold and cleared when none holds any
more (the customer recovered): an outflow of `outflow_pct` within `outflow_window_days`; a single
fall above `large_drop_amount` for a customer at or above `large_drop_min_aum` (it holds for the
outflow window unless AUM is back to where it was); no AUM change for `dormancy_days`; an open
complaint. An outflow warning stays after the fall leaves the window until AUM has recovered: back
above the level that would not have counted as an outflow from that peak.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from crm_tiering.domain.balances import Point, peak_within, value_at
from crm_tiering.domain.policy import ChurnRules

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class LargeDrop:
    as_of: date
    before: Decimal
    after: Decimal


def large_drop(previous: Decimal | None, aum: Decimal, as_of: date, rules: ChurnRules) -> LargeDrop | None:
    if previous is None or previous < rules.large_drop_min_aum:
        return None
    if previous - aum > rules.large_drop_amount:
        return LargeDrop(as_of, previous, aum)
    return None


def reasons(*, series: list[Point], as_of: date, last_change: date | None, drop: LargeDrop | None,
            open_complaints: list[str], rules: ChurnRules) -> dict[str, str]:
    """The rules that hold on `as_of`, each with a detail a relationship manager can read."""
    found: dict[str, str] = {}
    aum = value_at(series, as_of)
    peak = peak_within(series, end=as_of, days=rules.outflow_window_days)
    if aum is not None and peak is not None and peak.aum > 0:
        fall = (peak.aum - aum) / peak.aum * HUNDRED
        if fall >= rules.outflow_pct:
            found["outflow"] = (f"AUM fell {fall.quantize(Decimal('0.1'))}% from {peak.aum} on {peak.as_of} "
                                f"to {aum} within {rules.outflow_window_days} days")
    if drop and as_of - drop.as_of < timedelta(days=rules.outflow_window_days) and (aum is None or aum < drop.before):
        found["large_drop"] = f"single fall of {drop.before - drop.after} on {drop.as_of} (from {drop.before})"
    if last_change is not None and (as_of - last_change).days >= rules.dormancy_days:
        found["dormancy"] = f"no change in AUM since {last_change} ({(as_of - last_change).days} days)"
    if rules.complaint and open_complaints:
        found["complaint"] = f"open complaint(s): {', '.join(sorted(open_complaints))}"
    return found


def next_check(*, series: list[Point], as_of: date, last_change: date | None, drop: LargeDrop | None,
               rules: ChurnRules) -> date | None:
    """The next snapshot date on which a rule may start or stop holding without a new balance."""
    dates = []
    peak = peak_within(series, end=as_of, days=rules.outflow_window_days)
    if peak is not None:
        # The peak leaves the window with its last day in force; counting from its date instead made
        # every unchanged balance due again the next day. A peak still in force never leaves.
        ended = next((p.as_of for p in series if p.as_of > peak.as_of), None)
        if ended is not None:
            dates.append(ended + timedelta(days=rules.outflow_window_days - 1))
    if drop is not None:
        dates.append(drop.as_of + timedelta(days=rules.outflow_window_days))
    if last_change is not None:
        dates.append(last_change + timedelta(days=rules.dormancy_days))
    future = [d for d in dates if d > as_of]
    return min(future) if future else None


def recovery_level(peak: Decimal, rules: ChurnRules) -> Decimal:
    """AUM above which a customer has recovered from an outflow from `peak`."""
    return (peak * (HUNDRED - rules.outflow_pct) / HUNDRED).quantize(Decimal("0.01"))
