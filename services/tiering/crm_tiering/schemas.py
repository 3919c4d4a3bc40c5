"""Requests and answers of the tiering API (the policy itself is crm_tiering.domain.policy.Policy)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crm_tiering.domain.policy import Policy, StaffRole


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyUpdate(Strict):
    policy: Policy
    note: str | None = Field(default=None, max_length=500, description="why the bank changes the rules")


class PolicyRead(BaseModel):
    version: int
    created_by: str | None = None
    created_at: datetime | None = None
    note: str | None = None
    policy: Policy


class RolloutRead(BaseModel):
    id: str
    policy_version: int
    status: str = Field(description="running, done or superseded (a newer policy's rollout took over)")
    total: int
    done: int
    changed: int = Field(description="customers whose tier changed")
    percent: float
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None


class StaffUpsert(Strict):
    name: str = Field(min_length=1, max_length=60)
    branch: str = Field(min_length=1, max_length=20)
    roles: list[StaffRole] = Field(min_length=1, max_length=8)
    active: bool = True


class StaffRead(BaseModel):
    staff_id: str
    name: str | None
    branch: str | None
    roles: list[str]
    active: bool
    customers: int = Field(description="customers this staff member owns")
    updated_at: datetime | None = None


class StaffChanged(StaffRead):
    reassigned: int = Field(0, description="customers handed to colleagues because this staff member left")
    unassigned: int = Field(0, description="customers left with them: no active colleague holds a responsible role")


class OwnerChange(Strict):
    owner: str = Field(min_length=1, max_length=40, description="staff id of the new owner, same branch, active")
    reason: str = Field(min_length=1, max_length=300)


class OwnerChanged(BaseModel):
    customer_id: str
    previous_owner: str | None
    owner: str


class TierHistoryRow(BaseModel):
    from_tier: str | None
    to_tier: str | None
    reason: str
    policy_version: int
    as_of: date
    basis_amount: Decimal
    basis: str


class TierRead(BaseModel):
    customer_id: str
    branch: str | None
    owner: str | None
    tier: str | None
    since: date | None
    policy_version: int | None
    aum: Decimal | None
    as_of: date | None
    pending_downgrade: dict[str, Any] | None = Field(
        None, description="below the tier's bound since `below_since`; the tier changes on `due` if it stays so"
    )
    lifecycle: dict[str, Any] | None
    churn_risk: dict[str, Any] | None
    history: list[TierHistoryRow]


class ValuePart(BaseModel):
    name: str
    basis: str
    amount: Decimal


class ValueRead(BaseModel):
    customer_id: str
    as_of: date | None
    policy_version: int
    contribution: dict[str, Any] = Field(description="yearly margin by product type: parts and total, CNY")
    potential: dict[str, Any] = Field(description="points out of 100: parts and total")


class CustomerRow(BaseModel):
    customer_id: str
    branch: str | None
    owner: str | None
    tier: str | None
    aum: Decimal | None
    as_of: date | None
    stage: str | None
    churn_risk: list[str]


class CustomerPage(BaseModel):
    items: list[CustomerRow]
    next_after: str | None = Field(description="pass as `after` for the next page")


class WatchRow(BaseModel):
    customer_id: str
    owner: str | None
    branch: str | None
    tier: str | None
    as_of: date
    previous_aum: Decimal
    aum: Decimal
    change: Decimal


class WatchList(BaseModel):
    date: date | None
    owner: str | None
    items: list[WatchRow]
