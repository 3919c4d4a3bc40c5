"""Request bodies of the complaints API (pydantic v2)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_complaints.domain.policy import ComplaintsPolicy
from crm_contracts.complaints import CHANNELS_DOC, NOTICE_CHANNELS_DOC, ComplaintChannel, NoticeChannel
from crm_contracts.corebank import Money

StaffId = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")]
Note = Annotated[str, Field(min_length=1, max_length=2000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Complainant(Strict):
    """Someone who is not (or not yet) a customer; stored encrypted, shown masked."""

    name: str = Field(min_length=1, max_length=60)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 -]{6,20}$")
    email: str | None = Field(default=None, max_length=120, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    @model_validator(mode="after")
    def _reachable(self) -> Complainant:
        if not self.phone and not self.email:
            raise ValueError("give a phone or an email to answer the complainant")
        return self


class ComplaintCreate(Strict):
    customer_id: str | None = Field(default=None, min_length=1, max_length=40)
    complainant: Complainant | None = None
    channel: ComplaintChannel = Field(description=f"how the complaint reached the bank: {CHANNELS_DOC}")
    category: str = Field(min_length=1, max_length=40, description="from the policy's taxonomy")
    description: str = Field(min_length=1, max_length=5000)
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    received_at: datetime | None = Field(
        default=None,
        description="default now; earlier for letters and the suggestion box; never in the future; with a time zone",
    )
    branch: str | None = Field(
        default=None, min_length=1, max_length=20, description="default: the customer's branch, else the caller's"
    )
    handler: StaffId | None = Field(default=None, description="assign by hand; default: routed by branch and category")

    @model_validator(mode="after")
    def _who(self) -> ComplaintCreate:
        if (self.customer_id is None) == (self.complainant is None):
            raise ValueError("give either customer_id or complainant (someone who is not a customer)")
        return self


class Step(Strict):
    note: str | None = Field(default=None, max_length=2000)


class Assign(Strict):
    handler: StaffId | None = Field(
        default=None, description="default: the routed handler, or the branch's by stable rank"
    )
    note: str | None = Field(default=None, max_length=2000)


class Route(Strict):
    """Route a case by hand: typically one whose customer id is still unknown (`customer_unverified`)."""

    branch: str | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="the branch that handles the case; default: its current branch",
    )
    handler: StaffId | None = Field(
        default=None,
        description="default: the case's handler if it stays in its branch, "
        "else the handler of the branch of the highest stable rank for the case",
    )
    note: str | None = Field(default=None, max_length=2000)


class Escalate(Strict):
    reason: Note


class Resolve(Strict):
    explanation: Note
    apology: bool
    compensation: Annotated[Money, Field(ge=0)] = Field(description='CNY as a string, e.g. "500.00"')
    root_cause: str = Field(min_length=1, max_length=40, description="a category of the taxonomy")


class Confirm(Strict):
    note: str | None = Field(default=None, max_length=2000)


class Notify(Strict):
    notified_at: datetime | None = Field(
        default=None,
        description="when the complainant was told the decision; default now; never in the future; with a time zone",
    )
    channel: NoticeChannel = Field(description=f"how the decision was communicated: {NOTICE_CHANNELS_DOC}")
    note: str | None = Field(default=None, max_length=2000)


class Reopen(Strict):
    reason: Note


class Extend(Strict):
    to_days: int = Field(
        ge=16, le=120, description="30 (the handler, complex case) or up to 60 (branch manager, head office)"
    )
    reason: Note


class Appraisal(Strict):
    on: date | None = Field(default=None, description="default: today")
    reason: str | None = Field(default=None, max_length=500)


# The steps of the process as commands: one model per action, each applied by its own function
# (crm_complaints.service.cases.STEPS). Steps that need no more than a note share its fields.
class Acknowledge(Step):
    """received → acknowledged."""


class Investigate(Step):
    """assigned/escalated/reopened → investigating."""


class Contact(Step):
    """The handler reached the complainant (the first-contact target); no state change."""


class ApproveCompensation(Step):
    """A branch manager or head office approves the compensation."""


class AppraisalStart(Appraisal):
    """An external appraisal starts: the regulator's clock stops."""


class AppraisalEnd(Appraisal):
    """The appraisal ended: the clock runs again; the decision is due later by the paused days."""


CaseCommand = (
    Acknowledge
    | Assign
    | Route
    | Investigate
    | Contact
    | Escalate
    | Resolve
    | ApproveCompensation
    | Notify
    | Confirm
    | Reopen
    | Extend
    | AppraisalStart
    | AppraisalEnd
)


class HandlerUpsert(Strict):
    branch: str = Field(min_length=1, max_length=20)
    categories: list[str] = Field(default_factory=list, description="empty: every category")
    active: bool = True


class PolicyUpdate(Strict):
    policy: ComplaintsPolicy
    note: str | None = Field(default=None, max_length=500)


class PolicyRead(BaseModel):
    version: int
    created_by: str | None = None
    created_at: datetime | None = None
    note: str | None = None
    policy: dict[str, Any]
