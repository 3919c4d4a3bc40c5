"""Events published by the complaints service on `crm.complaints.cases` (key: customer id; for a complainant
who is not a customer, the complaint id).

`complaint.opened` and `complaint.closed` are what tiering (churn warning) and engagement (follow-up call,
survey) react to; they are published for identified customers only. Every step of the standard process is a
`complaint.status-changed`; the deadline clock publishes `deadline-approaching` and `sla-breached`. No payload
carries the description, the complainant's contact details or notes.

Dates counted in working days rest on the working-day calendar; for a year no official schedule covers yet, it is
a provisional one built from the statutory holidays, and such dates are flagged (`provisional_targets`,
`provisional`). When the official schedule is loaded (`calendar.changed`, key: `calendar-<year>`), the open
cases' provisional targets are recomputed and each case whose targets moved publishes `targets-changed`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from crm_contracts.calendar import CalendarChangedData
from crm_contracts.envelope import EventData

ComplaintChannel = Literal[
    "hotline", "email", "online", "counter", "branch", "letter", "suggestion_box", "social_media", "regulator_forwarded"
]
COMPLAINT_CHANNELS: dict[str, str] = {
    "hotline": "the customer-service hotline or call centre (客服热线)",
    "email": "an email to the bank",
    "online": "mobile or internet banking, the bank's website or WeChat (手机银行、网银)",
    "counter": "told to staff at a branch counter during a visit (高柜、低柜、VIP柜台)",
    "branch": "in person at a branch, not at a counter: the lobby manager, a relationship manager, the branch manager "
    "(大堂经理、客户经理)",
    "letter": "a letter by post (信函); received_at is the day it arrived",
    "suggestion_box": "a branch's suggestion box (意见箱); received_at is when the box was opened",
    "social_media": "a post on social media picked up by the bank",
    "regulator_forwarded": "forwarded by the regulator (监管转办); always handled with priority",
}
"""The intake channels, a closed vocabulary: each value and what it means (shown in the OpenAPI document)."""
CHANNELS_DOC = "; ".join(f"`{name}`: {meaning}" for name, meaning in COMPLAINT_CHANNELS.items())
ComplaintState = Literal[
    "received", "acknowledged", "assigned", "investigating", "escalated", "resolved", "closed", "reopened"
]
DeadlineTarget = Literal["acknowledge", "first_contact", "decision"]
NoticeChannel = Literal["phone", "sms", "letter", "email", "in_person", "online"]
NOTICE_CHANNELS: dict[str, str] = {
    "phone": "a call to the complainant (the hotline or the handler)",
    "sms": "a text message",
    "letter": "a letter by post (书面告知)",
    "email": "an email",
    "in_person": "told face to face at a branch or a visit",
    "online": "a message in mobile or internet banking",
}
"""How the decision was communicated to the complainant (告知), a closed vocabulary."""
NOTICE_CHANNELS_DOC = "; ".join(f"`{name}`: {meaning}" for name, meaning in NOTICE_CHANNELS.items())


class ComplaintOpened(EventData):
    event_type = "crm.complaints.complaint.opened.v1"
    complaint_id: str
    customer_id: str
    opened_at: datetime
    category: str | None = None
    branch: str | None = None
    channel: ComplaintChannel | None = Field(default=None, description=CHANNELS_DOC)
    severity: Literal["low", "medium", "high", "critical"] | None = None
    priority: bool | None = Field(default=None, description="regulator-forwarded, or a key or vip customer")
    repeat_of: str | None = Field(default=None, description="an earlier complaint of the customer in the same category")
    decision_due: date | None = None
    acknowledge_due: date | None = Field(default=None, description="internal target, in working days")
    first_contact_due: date | None = Field(default=None, description="internal target, in working days")
    provisional_targets: list[DeadlineTarget] | None = Field(
        default=None,
        description="targets whose due date rests on provisional calendar days (recomputed when the "
        "official schedule is loaded)",
    )


class ComplaintClosed(EventData):
    event_type = "crm.complaints.complaint.closed.v1"
    complaint_id: str
    customer_id: str
    closed_at: datetime
    outcome: str | None = None
    category: str | None = None
    root_cause: str | None = None
    compensation: Decimal | None = Field(default=None, description="CNY, string")
    closed_by: Literal["customer_confirmed", "no_answer"] | None = None
    notified_at: datetime | None = Field(
        default=None, description="when the decision was communicated to the complainant"
    )


class ComplaintStatusChanged(EventData):
    event_type = "crm.complaints.complaint.status-changed.v1"
    complaint_id: str
    customer_id: str | None = None
    from_state: ComplaintState | None = None
    to_state: ComplaintState
    by: str
    at: datetime
    branch: str | None = None
    category: str | None = None
    handler: str | None = None


class DeadlineApproaching(EventData):
    event_type = "crm.complaints.complaint.deadline-approaching.v1"
    complaint_id: str
    customer_id: str | None = None
    target: DeadlineTarget
    due: date
    days_left: int
    branch: str | None = None
    handler: str | None = None
    provisional: bool | None = Field(default=None, description="the due date rests on provisional calendar days")


class SlaBreached(EventData):
    event_type = "crm.complaints.complaint.sla-breached.v1"
    complaint_id: str
    customer_id: str | None = None
    target: DeadlineTarget
    due: date
    detected_on: date
    branch: str | None = None
    handler: str | None = None
    escalated_to: str | None = Field(default=None, description="the supervisor role the case was escalated to")
    provisional: bool | None = Field(default=None, description="the due date rests on provisional calendar days")


class ComplaintTargetsChanged(EventData):
    """A case's due dates recomputed because the working-day calendar changed (an official schedule replaced a
    provisional year)."""

    event_type = "crm.complaints.complaint.targets-changed.v1"
    complaint_id: str
    customer_id: str | None = None
    acknowledge_due: date | None = None
    first_contact_due: date | None = None
    decision_due: date | None = None
    previous: dict[DeadlineTarget, date] = Field(description="the due dates that moved, as they were")
    provisional_targets: list[DeadlineTarget] = Field(description="targets still on provisional calendar days")
    reason: Literal["calendar_changed"] = "calendar_changed"
    calendar_revision: str
    at: datetime
    branch: str | None = None
    handler: str | None = None


class CalendarChanged(CalendarChangedData):
    """The working-day calendar of the service changed: an official schedule was loaded for a year (or replaced), or
    the override file changed a year."""

    event_type = "crm.complaints.calendar.changed.v1"


class DecisionNotified(EventData):
    """The decision was communicated to the complainant (告知): when, how and by whom; on time when on or before the
    decision's due day (the regulator's deadline with its extensions and appraisal pauses)."""

    event_type = "crm.complaints.complaint.decision-notified.v1"
    complaint_id: str
    customer_id: str | None = None
    notified_at: datetime
    channel: NoticeChannel = Field(description=NOTICE_CHANNELS_DOC)
    by: str
    decision_due: date
    on_time: bool
    branch: str | None = None
    handler: str | None = None


class ComplaintRouted(EventData):
    """A case taken in before complaints knew its customer got its branch and handler once the customer's event
    arrived (`customer_known`), its priority from a tier that arrived later (`tier`), was routed by hand (`manual`),
    or got a handler from the roster (`roster`: a handler joined a branch that had none for it, or its handler left
    or moved)."""

    event_type = "crm.complaints.complaint.routed.v1"
    complaint_id: str
    customer_id: str | None = None
    reason: Literal["customer_known", "tier", "manual", "roster"]
    branch: str | None = None
    handler: str | None = None
    priority: bool
    tier: str | None = None
    by: str = Field(description="staff id, or `complaints` when routed on the customer's event")
    at: datetime


class CustomerUnverified(EventData):
    """The customer id a case names was still unknown to complaints after the policy's wait: the case is listed for
    manual routing (`GET /v1/complaints?customer_unverified=true`)."""

    event_type = "crm.complaints.complaint.customer-unverified.v1"
    complaint_id: str
    customer_id: str
    branch: str | None = None
    pending_since: datetime
    flagged_at: datetime


EVENTS: tuple[type[EventData], ...] = (
    ComplaintOpened,
    ComplaintClosed,
    ComplaintStatusChanged,
    DeadlineApproaching,
    SlaBreached,
    DecisionNotified,
    ComplaintRouted,
    CustomerUnverified,
    ComplaintTargetsChanged,
    CalendarChanged,
)
