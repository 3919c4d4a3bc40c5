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

from crm_contracts.envelope import EventData

ComplaintChannel = Literal["hotline", "email", "online", "branch", "suggestion_box", "social_media", "regulator_forwarded"]
ComplaintState = Literal["received", "acknowledged", "assigned", "investigating", "escalated", "resolved", "closed",
                         "reopened"]
DeadlineTarget = Literal["acknowledge", "first_contact", "decision"]


class ComplaintOpened(EventData):
    event_type = "crm.complaints.complaint.opened.v1"
    complaint_id: str
    customer_id: str
    opened_at: datetime
    category: str | None = None
    branch: str | None = None
    channel: ComplaintChannel | None = None
    severity: Literal["low", "medium", "high", "critical"] | None = None
    priority: bool | None = Field(default=None, description="regulator-forwarded, or a key or vip customer")
    repeat_of: str | None = Field(default=None, description="an earlier complaint of the customer in the same category")
    decision_due: date | None = None
    acknowledge_due: date | None = Field(default=None, description="internal target, in working days")
    first_contact_due: date | None = Field(default=None, description="internal target, in working days")
    provisional_targets: list[DeadlineTarget] | None = Field(
        default=None, description="targets whose due date rests on provisional calendar days (recomputed when the "
                                  "official schedule is loaded)")


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


class CalendarChanged(EventData):
    """The working-day calendar of the service changed: an official schedule was loaded for a year (or replaced), or
    the override file changed a year."""

    event_type = "crm.complaints.calendar.changed.v1"
    year: int
    source: Literal["official", "override"] = Field(
        default="official", description="a notice loaded with `crm calendar load`, or the override file")
    change: Literal["loaded", "replaced", "removed"]
    was: Literal["provisional", "official", "override"] = Field(description="where the year's days came from before")
    rest_days: list[date] = Field(description="public holidays of the year (weekend days inside a break included)")
    make_up_workdays: list[date]
    notice: str | None = Field(default=None, description="the State Council notice's title")
    by: str
    at: datetime
    calendar_revision: str


EVENTS: tuple[type[EventData], ...] = (ComplaintOpened, ComplaintClosed, ComplaintStatusChanged, DeadlineApproaching,
                                       SlaBreached, ComplaintTargetsChanged, CalendarChanged)
