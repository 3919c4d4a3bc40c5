"""Lifecycle stage (新客户, 成长, 成熟, 衰退, 流失) from registration age, AUM trend and dormancy.

Checked in this order: churned (AUM fell below `churned_below` after having held more, or no change
for `churned_dormant_days`), new (registered within `new_days`), growing / declining (AUM up / down by
the set percentage over `trend_window_days`), otherwise mature.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from crm_tiering.domain.balances import Point, value_at
from crm_tiering.domain.policy import LifecycleRules

HUNDRED = Decimal(100)


def _change_pct(series: list[Point], *, as_of: date, days: int) -> Decimal | None:
    base = value_at(series, as_of - timedelta(days=days))
    now = value_at(series, as_of)
    if base is None or now is None or base == 0:
        return None
    return (now - base) / base * HUNDRED


def trend_pct(series: list[Point], *, as_of: date, days: int) -> Decimal | None:
    """AUM change in percent over the `days` days ending `as_of` (None without a base), to 0.1 for display."""
    exact = _change_pct(series, as_of=as_of, days=days)
    return None if exact is None else exact.quantize(Decimal("0.1"))


def stage(
    *,
    series: list[Point],
    as_of: date,
    registered_on: date | None,
    last_change: date | None,
    ever_held: Decimal,
    rules: LifecycleRules,
) -> tuple[str, list[str]]:
    aum = value_at(series, as_of)
    if aum is not None and aum < rules.churned_below <= ever_held:
        return "churned", [f"AUM {aum} below {rules.churned_below} after having held {ever_held}"]
    if last_change is not None and (as_of - last_change).days >= rules.churned_dormant_days:
        return "churned", [f"no change in AUM since {last_change}"]
    if registered_on is not None and (as_of - registered_on).days < rules.new_days:
        return "new", [f"registered {registered_on}, within {rules.new_days} days"]
    # Compared unrounded: 9.96% is not "up 10%" (rounding first moved the bound).
    trend = _change_pct(series, as_of=as_of, days=rules.trend_window_days)
    if trend is None:
        return "mature", ["no trend yet"]
    if trend >= rules.growing_pct:
        return "growing", [f"AUM up {trend.quantize(Decimal('0.1'))}% over {rules.trend_window_days} days"]
    if trend <= -rules.declining_pct:
        return "declining", [f"AUM down {(-trend).quantize(Decimal('0.1'))}% over {rules.trend_window_days} days"]
    return "mature", ["stable AUM"]


def next_check(
    *, series: list[Point], as_of: date, registered_on: date | None, last_change: date | None, rules: LifecycleRules
) -> date | None:
    # The trend's base moves when a past change leaves the window.
    dates = [p.as_of + timedelta(days=rules.trend_window_days) for p in series]
    if registered_on is not None:
        dates.append(registered_on + timedelta(days=rules.new_days))
    if last_change is not None:
        dates.append(last_change + timedelta(days=rules.churned_dormant_days))
    future = [d for d in dates if d > as_of]
    return min(future) if future else None
