"""Events published by the engagement service on `crm.engagement.tasks` (key: customer id).

Follow-up tasks and their life, contacts made and contacts blocked by the rules, product
recommendations (allowed or not: sales are traceable), survey answers and loyalty points. No payload
carries a note's text or a customer's contact details.

A due date counted in working days on a year no official schedule covers yet rests on the provisional calendar
(statutory holidays, no 调休): `provisional: true`. When the official schedule is loaded (`calendar.changed`, key:
`calendar-<year>`), the open tasks' provisional due dates are recomputed and each one that moved publishes
`task.rescheduled`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, TypeGuard, get_args

from pydantic import Field

from crm_contracts.calendar import CalendarChangedData
from crm_contracts.envelope import EventData

TaskKind = Literal[
    "follow_up",  # 定期回访 by the tier's cadence
    "birthday",
    "anniversary",  # of becoming a customer
    "festival",  # 春节, 元宵, 端午, 中秋, 重阳, 元旦, 国庆
    "welcome",  # tier upgrade: the new owner introduces themselves
    "retention",  # churn risk
    "product_recommendation",  # idle funds crossed the configured amount
    "complaint_follow_up",  # after a complaint is closed
    "manual",  # created by staff
]


def is_task_kind(value: str) -> TypeGuard[TaskKind]:
    return value in get_args(TaskKind)


Purpose = Literal["service", "marketing"]
ContactChannel = Literal["call", "visit", "sms", "email", "wechat", "app"]
TaskStatus = Literal["open", "done", "cancelled"]
RiskLevel = Literal["R1", "R2", "R3", "R4", "R5"]
ContactRule = Literal[
    "consent.opt_out",  # the customer opted out of this channel
    "consent.missing",  # marketing on a channel the customer never agreed to
    "do_not_contact",  # the record is merged away or closed
    "cap.short",  # e.g. 2 marketing contacts in 7 days
    "cap.long",  # e.g. 4 marketing contacts in 30 days
    "quiet_hours",  # e.g. no marketing calls or SMS 21:00–08:00
    "public_holiday",  # no marketing calls or SMS on public holidays
]


class TaskCreated(EventData):
    event_type = "crm.engagement.task.created.v1"
    task_id: str
    customer_id: str
    kind: TaskKind
    purpose: Purpose
    channel: ContactChannel
    assignee: str | None = Field(description="staff id; null while the customer has no owner")
    branch: str | None = None
    tier: str | None = None
    due_on: date
    occasion: str | None = Field(default=None, description="e.g. mid_autumn, birthday, a complaint id, a cadence rule")
    created_at: datetime
    provisional: bool | None = Field(default=None, description="due_on rests on provisional calendar days")


class TaskRescheduled(EventData):
    """An open task's due date moved because the working-day calendar changed (an official schedule replaced a
    provisional year)."""

    event_type = "crm.engagement.task.rescheduled.v1"
    task_id: str
    customer_id: str
    kind: TaskKind
    assignee: str | None = None
    from_due_on: date
    to_due_on: date
    provisional: bool = Field(description="the new due date still rests on provisional calendar days")
    reason: Literal["calendar_changed"] = "calendar_changed"
    calendar_revision: str
    at: datetime


class CalendarChanged(CalendarChangedData):
    """The working-day calendar of the service changed: an official schedule was loaded for a year (or replaced), or
    the override file changed a year."""

    event_type = "crm.engagement.calendar.changed.v1"


class TaskCompleted(EventData):
    event_type = "crm.engagement.task.completed.v1"
    task_id: str
    customer_id: str
    kind: TaskKind
    assignee: str | None = None
    completed_by: str
    completed_at: datetime
    outcome: str
    channel: ContactChannel
    on_time: bool


class TaskReassigned(EventData):
    event_type = "crm.engagement.task.reassigned.v1"
    task_id: str
    customer_id: str
    from_assignee: str | None = None
    to_assignee: str
    reason: Literal["owner_change", "supervisor"]
    by: str
    at: datetime


class TaskCancelled(EventData):
    event_type = "crm.engagement.task.cancelled.v1"
    task_id: str
    customer_id: str
    kind: TaskKind
    reason: str = Field(description="e.g. tier_change, customer_merged, cadence_changed")
    at: datetime


class TaskOverdue(EventData):
    event_type = "crm.engagement.task.overdue.v1"  # the task-overdue.v1
    task_id: str
    customer_id: str
    kind: TaskKind
    assignee: str | None = None
    branch: str | None = None
    tier: str | None = None
    due_on: date
    detected_on: date
    provisional: bool | None = Field(default=None, description="due_on rests on provisional calendar days")


class InteractionLogged(EventData):
    event_type = "crm.engagement.interaction.logged.v1"
    interaction_id: str
    customer_id: str
    channel: ContactChannel
    purpose: Purpose
    direction: Literal["outbound", "inbound"]
    staff_id: str
    occurred_at: datetime
    task_id: str | None = None
    outcome: str | None = None


class ContactBlocked(EventData):
    event_type = "crm.engagement.contact.blocked.v1"
    attempt_id: str
    customer_id: str
    channel: ContactChannel
    purpose: Purpose
    rule: ContactRule
    detail: str
    staff_id: str
    at: datetime
    context: Literal["interaction", "task", "schedule", "recommendation"]
    task_id: str | None = None


class RecommendationRecorded(EventData):
    """Every attempt to recommend a product, allowed or not (适当性, 可回溯)."""

    event_type = "crm.engagement.recommendation.recorded.v1"
    recommendation_id: str
    customer_id: str
    product_code: str
    product_risk: RiskLevel
    customer_tolerance: str | None = Field(description="C1–C5 as known when recommended; null if never assessed")
    professional_investor: bool = False
    assessed_on: date | None = None
    allowed: bool
    reason: str | None = Field(default=None, description="why it was blocked")
    staff_id: str
    channel: ContactChannel
    at: datetime


class SurveyAnswered(EventData):
    event_type = "crm.engagement.survey.answered.v1"
    survey_id: str
    customer_id: str
    trigger: Literal["complaint_closed", "interaction_sample"]
    complaint_id: str | None = None
    csat: int | None = Field(default=None, ge=1, le=5, description="1 very dissatisfied … 5 very satisfied")
    nps: int | None = Field(default=None, ge=0, le=10, description="0–10: how likely to recommend the bank")
    answered_at: datetime


class PointsChanged(EventData):
    event_type = "crm.engagement.points.changed.v1"
    customer_id: str
    entry_id: str
    change: int = Field(description="positive: earned; negative: redeemed")
    balance: int = Field(ge=0)
    reason: Literal["monthly_tier", "survey", "redemption"]
    at: datetime


EVENTS: tuple[type[EventData], ...] = (
    TaskCreated,
    TaskCompleted,
    TaskReassigned,
    TaskCancelled,
    TaskOverdue,
    InteractionLogged,
    ContactBlocked,
    RecommendationRecorded,
    SurveyAnswered,
    PointsChanged,
    TaskRescheduled,
    CalendarChanged,
)
