"""Customer value (客户价值评估): what the customer brings now (contribution) and could bring
(potential), shown as parts, never as a bare number."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from crm_contracts.corebank import is_product_type
from crm_tiering.domain.policy import LifecycleRules, ValueRules

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Part:
    name: str
    basis: str
    amount: Decimal


def contribution(aum: Decimal | None, breakdown: dict[str, Decimal], rules: ValueRules) -> list[Part]:
    """Yearly margin per product type of the AUM breakdown; an unbroken-down AUM earns the default margin.
    The policy has a margin for every product type of the contract, and the contract admits no other."""
    if not breakdown:
        if not aum:
            return []
        return [Part("unclassified", f"{aum} × {rules.default_margin}", (aum * rules.default_margin).quantize(CENT))]
    parts = []
    for product, amount in sorted(breakdown.items()):
        margin = rules.margins.get(product) if is_product_type(product) else None
        if margin is None:
            # Only a breakdown kept from before the closed vocabulary: shown, and valued at nothing, not at a guess.
            parts.append(Part(product, f"{amount} × 0 (not a product type of the balance contract)", Decimal("0.00")))
            continue
        parts.append(Part(product, f"{amount} × {margin}", (amount * margin).quantize(CENT)))
    return parts


def potential(
    *,
    trend_pct: Decimal | None,
    income_band: str | None,
    age_band: str | None,
    rules: ValueRules,
    lifecycle: LifecycleRules,
) -> list[Part]:
    """Points out of 100: assets trend (full points at +growing_pct, none when flat or falling), income band
    and age band (missing data scores nothing and says so)."""
    if trend_pct is None or trend_pct <= 0:
        trend_points = Decimal(0)
    else:
        trend_points = min(Decimal(1), trend_pct / lifecycle.growing_pct) * rules.trend_points
    return [
        Part(
            "assets_trend",
            f"{trend_pct}% over {lifecycle.trend_window_days} days" if trend_pct is not None else "no trend yet",
            trend_points.quantize(Decimal("0.1")),
        ),
        Part("income", income_band or "unknown", Decimal(rules.income_points.get(income_band or "", 0))),
        Part("age", age_band or "unknown", Decimal(rules.age_points.get(age_band or "", 0))),
    ]
