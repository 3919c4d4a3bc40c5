"""Events published by the tiering service on `crm.tiering.customers` (key: customer id)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal, TypeGuard, get_args

from pydantic import Field

from crm_contracts.envelope import EventData

TierName = Literal["small", "ordinary", "potential", "vip", "key"]
TIER_NAMES: tuple[TierName, ...] = get_args(TierName)


def is_tier_name(value: str | None) -> TypeGuard[TierName]:
    """A stored tier read back as the contract's name (what a policy's per-tier table is keyed by)."""
    return value in TIER_NAMES


LifecycleStage = Literal["new", "growing", "mature", "declining", "churned"]
TierChangeReason = Literal["first_tier", "upgrade", "downgrade", "below_minimum", "policy_change"]
OwnerChangeReason = Literal["tier_responsibility", "manual", "staff_deactivated"]


class TierChanged(EventData):
    event_type = "crm.tiering.customer.tier-changed.v1"
    customer_id: str
    branch: str | None = None
    from_tier: TierName | None = Field(description="null: the customer had no tier")
    to_tier: TierName | None = Field(description="null: below the lowest tier's bound")
    reason: TierChangeReason
    policy_version: int
    as_of: date = Field(description="the snapshot date the change is counted on")
    basis_amount: Decimal = Field(description="AUM (or average daily balance) that decided the tier, CNY string")
    basis: Literal["balance", "average_daily"] = "balance"


class OwnerAssigned(EventData):
    event_type = "crm.tiering.customer.owner-assigned.v1"
    customer_id: str
    branch: str | None = None
    previous_owner: str | None = None
    new_owner: str
    reason: OwnerChangeReason
    tier: TierName | None = None
    assigned_by: str = Field(description="staff id, or `tiering` for automatic assignment")
    assigned_at: datetime
    note: str | None = None


class LifecycleChanged(EventData):
    event_type = "crm.tiering.customer.lifecycle-changed.v1"
    customer_id: str
    from_stage: LifecycleStage | None = None
    to_stage: LifecycleStage
    as_of: date
    reasons: list[str] = Field(default_factory=list)
    policy_version: int


class ChurnReason(EventData):
    rule: Literal["outflow", "large_drop", "dormancy", "complaint", "low_satisfaction"]
    detail: str


class ChurnRiskRaised(EventData):
    event_type = "crm.tiering.customer.churn-risk-raised.v1"
    customer_id: str
    branch: str | None = None
    owner: str | None = None
    as_of: date
    reasons: list[ChurnReason]
    aum: Decimal | None = None


class ChurnRiskCleared(EventData):
    event_type = "crm.tiering.customer.churn-risk-cleared.v1"
    customer_id: str
    as_of: date
    resolved: list[str] = Field(description="rules that no longer hold")


EVENTS: tuple[type[EventData], ...] = (TierChanged, OwnerAssigned, LifecycleChanged, ChurnRiskRaised, ChurnRiskCleared)
