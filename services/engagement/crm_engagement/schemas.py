"""Request and response bodies of the engagement API (pydantic v2)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_contracts.engagement import ContactChannel, Purpose, RiskLevel
from crm_engagement.domain.policy import EngagementPolicy

StaffId = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")]
CustomerRef = Annotated[str, Field(min_length=1, max_length=40)]
Notes = Annotated[str, Field(max_length=2000)]
Outcome = Literal["reached", "no_answer", "declined", "callback_requested", "meeting_booked", "not_needed"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyRead(BaseModel):
    version: int
    created_by: str | None = None
    created_at: datetime | None = None
    note: str | None = None
    policy: dict[str, Any]


class PolicyUpdate(Strict):
    policy: EngagementPolicy
    note: str | None = Field(default=None, max_length=500)


class TaskComplete(Strict):
    outcome: Outcome = Field(description="`not_needed` closes a task without a contact (no contact rule applies)")
    channel: ContactChannel | None = Field(default=None, description="default: the task's channel")
    notes: Notes | None = None
    occurred_at: datetime | None = Field(
        default=None, description="when the contact was made (default now); with a time zone"
    )


class TaskAssign(Strict):
    assignee: StaffId
    reason: str = Field(min_length=1, max_length=500)


class TaskCreate(Strict):
    customer_id: CustomerRef
    channel: ContactChannel
    due_on: date
    purpose: Purpose = "service"
    note: Notes | None = None
    assignee: StaffId | None = Field(default=None, description="default: the caller; someone else: supervisors only")


class TaskRead(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    customer_id: str
    kind: str
    purpose: str
    channel: str
    assignee: str | None
    branch: str | None
    tier: str | None
    due_on: str
    status: str
    overdue: bool = False
    occasion: str | None = None
    note: str | None = None


class TaskPage(BaseModel):
    items: list[TaskRead]
    next: str | None = Field(description="pass as `after` for the next page")


class Agenda(BaseModel):
    staff_id: str
    date: date
    items: list[TaskRead]


class InteractionCreate(Strict):
    customer_id: CustomerRef
    channel: ContactChannel
    purpose: Purpose
    direction: Literal["outbound", "inbound"] = "outbound"
    outcome: str | None = Field(default=None, max_length=100)
    notes: Notes | None = None
    occurred_at: datetime | None = Field(default=None, description="default now; with a time zone; at most 30 days ago")


class InteractionRead(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    customer_id: str
    channel: str
    purpose: str
    direction: str
    staff_id: str
    occurred_at: datetime
    task_id: str | None = None
    outcome: str | None = None
    notes: str | None = None


class ProductUpsert(Strict):
    name: str = Field(min_length=1, max_length=100)
    type: str = Field(min_length=1, max_length=40, description="wealth, fund, insurance, deposit, bond …")
    risk_level: RiskLevel
    active: bool = True


class ProductRead(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str
    name: str
    type: str
    risk_level: RiskLevel
    active: bool


class RecommendationCreate(Strict):
    customer_id: CustomerRef
    product_code: str = Field(min_length=1, max_length=40)
    channel: ContactChannel
    staff_id: StaffId | None = Field(default=None, description="who recommends; default the caller")
    note: Notes | None = None


class RecommendationRead(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    customer_id: str
    product_code: str
    product_risk: str
    customer_tolerance: str | None
    allowed: bool
    rule: str | None = None
    reason: str | None = None
    staff_id: str
    at: datetime


class SurveyResponse(Strict):
    csat: int | None = Field(default=None, ge=1, le=5, description="1 very dissatisfied … 5 very satisfied")
    nps: int | None = Field(default=None, ge=0, le=10, description="0–10: how likely to recommend the bank")
    comment: str | None = Field(default=None, max_length=2000)
    via: Literal["call_centre", "mobile_banking", "branch", "sms", "email", "wechat"] = "call_centre"

    @model_validator(mode="after")
    def _some_score(self) -> SurveyResponse:
        if self.csat is None and self.nps is None:
            raise ValueError("give csat, nps or both")
        return self


class Redemption(Strict):
    points: int = Field(gt=0, le=10_000_000)
    reason: str = Field(min_length=1, max_length=200)
    request_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="the channel's own id: the same request twice redeems once",
    )
