"""Customer value (客户价值评估): what the customer brings now (contribution) and could bring
(potential), shown as parts, never as a bare number."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from crm_tiering.domain.policy import LifecycleRules, ValueRules

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Part:
    name: str
    basis: str
    amount: Decimal


def contribution(aum: Decimal | None, breakdown: dict[str, Decimal], rules: ValueRules) -> list[Part]:
    """Yearly margin per product type of the AUM breakdown; an unbroken-down AUM earns the default margin."""
    if not breakdown:
        if not aum:
            return []
        return [Part("unclassified", f"{aum} × {rules.default_margin}", (aum * rules.default_margin).quantize(CENT))]
    parts = []
    for product, amount in sorted(breakdown.items()):
        margin = rules.margins.get(product, rules.default_margin)
        parts.append(Part(product, f"{amount} × {margin}", (amount * margin).quantize(CENT)))
    return parts


def potential(*, trend_pct: Decimal | None, income_band: str | None, age_band: str | None, rules: ValueRules,
              lifecycle: LifecycleRules) -> list[Part]:
    """Points out of 100: assets trend (full points at +growing_pct, none when flat or falling), income band
    and age band (missing data scores nothing and says so)."""
    if trend_pct is None or trend_pct <= 0:
        trend_points = Decimal(0)
    else:
        trend_points = min(Decimal(1), trend_pct / lifecycle.growing_pct) * rules.trend_points
    return [
        Part("assets_trend", f"{trend_pct}% over {lifecycle.trend_window_days} days" if trend_pct is not None
             else "no trend yet", trend_points.quantize(Decimal("0.1"))),
        Part("income", income_band or "unknown", Decimal(rules.income_points.get(income_band or "", 0))),
        Part("age", age_band or "unknown", Decimal(rules.age_points.get(age_band or "", 0))),
    ]
