"""The tier policy: versioned data a bank edits (BRIEF §3). Every rule a banker asks about — a tier
boundary, the grace before a downgrade, what counts as an outflow — is a field here, with the
defaults of docs/BRIEF.md (§3.1)."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_contracts.corebank import PRODUCT_TYPES, Money, ProductType
from crm_contracts.tiering import TierName

TIER_ORDER: tuple[TierName, ...] = ("small", "ordinary", "potential", "vip", "key")
StaffRole = Literal[
    "high_counter_teller",
    "low_counter_staff",
    "lobby_manager",
    "relationship_manager",
    "rm_supervisor",
    "branch_manager",
    "head_office",
    "complaint_handler",
]
Pct = Annotated[Decimal, Field(gt=0, le=100, max_digits=5, decimal_places=2)]
Days = Annotated[int, Field(ge=1, le=3660)]
Amount = Annotated[Money, Field(ge=0)]


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierRule(Rules):
    name: TierName
    lower_bound: Amount = Field(
        description="inclusive; the tier holds AUM up to the next tier's lower bound, exclusive"
    )
    responsible_roles: list[StaffRole] = Field(
        min_length=1, description="roles that may own a customer of this tier; the owner is chosen among them"
    )


class ChurnRules(Rules):
    outflow_pct: Pct = Decimal("30")
    outflow_window_days: Days = 30
    large_drop_amount: Amount = Field(default=Decimal("100000.00"), description="a single fall above this amount ...")
    large_drop_min_aum: Amount = Field(
        default=Decimal("200000.00"), description="... for customers at or above this AUM"
    )
    dormancy_days: Days = Field(default=180, description="no change in AUM for this many days")
    complaint: bool = Field(default=True, description="an open complaint is a churn reason")
    # A low score in a satisfaction survey (BRIEF §4.8) is a reason for `low_satisfaction_days` after the
    # answer, unless a later answer of the customer is not low. Low: the CSAT or the NPS at or below its bound.
    low_csat_at_most: Annotated[int, Field(ge=1, le=5)] | None = Field(
        default=2,
        description="a CSAT (1 very dissatisfied … 5 very satisfied) at or below this is low; null: CSAT never is",
    )
    low_nps_at_most: Annotated[int, Field(ge=0, le=10)] | None = Field(
        default=4,
        description="an NPS answer (0–10, likely to recommend the bank) at or below this is low; null: NPS never is",
    )
    low_satisfaction_days: Days = Field(default=90, description="a low answer is a churn reason for this many days")


class LifecycleRules(Rules):
    new_days: Days = Field(default=90, description="a customer is new for this many days after registering")
    trend_window_days: Days = 90
    growing_pct: Pct = Field(default=Decimal("10"), description="AUM up at least this much over the trend window")
    declining_pct: Pct = Field(default=Decimal("10"), description="AUM down at least this much over the trend window")
    churned_below: Amount = Field(default=Decimal("1000.00"), description="AUM below this after having held more")
    churned_dormant_days: Days = Field(default=365, description="or no change in AUM for this many days")


class ValueRules(Rules):
    # Keyed by the contract's closed vocabulary (crm_contracts.corebank.ProductType): a margin for a type core
    # banking cannot send is refused, and every type needs its own margin (0 for a product the bank does not
    # earn on), so no breakdown part is ever valued at a fallback.
    margins: dict[ProductType, Annotated[Decimal, Field(ge=0, le=1)]] = Field(
        default={
            "deposit": Decimal("0.005"),
            "wealth": Decimal("0.010"),
            "fund": Decimal("0.012"),
            "insurance": Decimal("0.015"),
            "bond": Decimal("0.006"),
            "precious_metal": Decimal("0.008"),
        },
        description="yearly margin per product type of the balance breakdown; exactly the product types of "
        "the balance contract: " + ", ".join(PRODUCT_TYPES),
    )
    default_margin: Annotated[Decimal, Field(ge=0, le=1)] = Field(
        default=Decimal("0.004"), description="margin of an AUM reported without a breakdown (unclassified)"
    )
    trend_points: int = Field(default=40, ge=0, le=100, description="points for a trend of +growing_pct or more")
    income_points: dict[str, int] = Field(
        default_factory=lambda: {"under_100k": 5, "100k_300k": 15, "300k_1m": 25, "1m_plus": 30}
    )
    age_points: dict[str, int] = Field(
        default_factory=lambda: {"under_30": 25, "30_44": 30, "45_59": 20, "60_plus": 10}
    )

    @model_validator(mode="before")
    @classmethod
    def _margins_name_the_product_types(cls, value: Any) -> Any:
        margins = value.get("margins") if isinstance(value, dict) else None
        if isinstance(margins, dict):
            unknown = sorted(str(k) for k in margins if k not in PRODUCT_TYPES)
            missing = [k for k in PRODUCT_TYPES if k not in margins]
            if unknown:
                raise ValueError(
                    f"margins: unknown product type {', '.join(repr(u) for u in unknown)}; "
                    f"known types: {', '.join(PRODUCT_TYPES)}"
                )
            if missing:
                raise ValueError(
                    f"margins: no margin for product type {', '.join(repr(m) for m in missing)}; "
                    "give every product type a margin (0 for none)"
                )
        return value


class WatchRules(Rules):
    min_aum: Amount = Field(default=Decimal("200000.00"), description="customers at or above this (before or after)")
    min_change_amount: Amount = Decimal("50000.00")
    min_change_pct: Pct = Decimal("10")


class Policy(Rules):
    tiers: list[TierRule] = Field(min_length=1, max_length=5)
    downgrade_grace_days: int = Field(
        default=30, ge=0, le=366, description="days below a tier's bound, on snapshot dates, before the downgrade"
    )
    basis: Literal["balance", "average_daily"] = Field(
        default="balance", description="tier by the day's AUM or by 日均"
    )
    average_days: Days = Field(default=30, description="window of the average daily balance")
    churn: ChurnRules = Field(default_factory=ChurnRules)
    lifecycle: LifecycleRules = Field(default_factory=LifecycleRules)
    value: ValueRules = Field(default_factory=ValueRules)
    watch: WatchRules = Field(default_factory=WatchRules)

    @model_validator(mode="after")
    def _ordered(self) -> Policy:
        names = [t.name for t in self.tiers]
        if names != [n for n in TIER_ORDER if n in names]:
            raise ValueError(f"tiers must be in the order {', '.join(TIER_ORDER)} without repeats")
        bounds = [t.lower_bound for t in self.tiers]
        if any(b <= a for a, b in pairwise(bounds)):
            raise ValueError("tier lower bounds must strictly increase")
        return self

    @property
    def history_days(self) -> int:
        """How many days of balances the rules look back at."""
        return max(self.average_days, self.churn.outflow_window_days, self.lifecycle.trend_window_days)

    def rule(self, tier: str | None) -> TierRule | None:
        return next((t for t in self.tiers if t.name == tier), None)

    def responsible_roles(self, tier: str | None) -> list[StaffRole]:
        """Who may own a customer of `tier`; every tier a customer is in has a rule."""
        rule = self.rule(tier)
        if rule is None:
            raise ValueError(f"no rule for tier {tier!r}")
        return rule.responsible_roles


def _tier(name: TierName, bound: str, *roles: StaffRole) -> TierRule:
    return TierRule(name=name, lower_bound=Decimal(bound), responsible_roles=list(roles))


# BRIEF §3.1: small 1,000 – 50,000 high counter; ordinary 50,000 – 200,000 low/VIP counter; potential
# 200,000 – 500,000 RM and lobby manager; VIP 500,000 – 3,000,000 RM and RM supervisor; key from 3,000,000
# branch manager and RM supervisor (head-office retail sees all customers by its scope).
DEFAULT_POLICY = Policy(
    tiers=[
        _tier("small", "1000.00", "high_counter_teller"),
        _tier("ordinary", "50000.00", "low_counter_staff"),
        _tier("potential", "200000.00", "relationship_manager", "lobby_manager"),
        _tier("vip", "500000.00", "relationship_manager", "rm_supervisor"),
        _tier("key", "3000000.00", "branch_manager", "rm_supervisor"),
    ]
)
