"""Follow-up tasks: who contacts which customer, why, on which channel and by when (BRIEF §4.4).

A task's id says what it is for — `C0001:birthday:2026`, `C0001:follow_up:monthly_call:2026-12-14`,
`C0001:complaint_follow_up:CMP-7` — so the same reason can never make a second task: a redelivered
event or a scheduler restarted half-way writes the same id again, which the store ignores.

An id alone does not stop a second task for the same purpose when something in the id varies: two balance
events on different days crossing the idle-funds amount made two `product_recommendation` tasks with the same
due date. So each open task also holds its occasion (`open_key`): one open task per customer, kind and
occasion, kept unique by the store (see crm_engagement.service.context.save).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from crm_contracts.engagement import ContactChannel, Purpose
from crm_engagement.domain.policy import TIER_RANK
from crm_kit.scope import DataScope

TASKS = DataScope(personal=("assignee", "owner"))
"""Who sees a task: the staff member it is assigned to, the customer's owner, the branch's roles, head office."""

# Most important first in a staff member's day, after tier and due date.
KIND_ORDER = (
    "complaint_follow_up",
    "retention",
    "welcome",
    "follow_up",
    "product_recommendation",
    "birthday",
    "anniversary",
    "festival",
    "manual",
)


@dataclass
class Task:
    task_id: str
    customer_id: str
    kind: str
    purpose: Purpose
    channel: ContactChannel
    due_on: date
    assignee: str | None
    branch: str | None
    tier: str | None
    owner: str | None = None
    occasion: str | None = None
    visible_from: date | None = None
    status: str = "open"
    overdue: bool = False
    created_at: datetime | None = None
    created_by: str = "engagement"
    note: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    asked_channel: ContactChannel | None = None
    """the channel the task was planned for; `channel` is another one while the customer does not allow it"""
    # A due date counted in working days keeps what it was counted from, so it can be counted again when the
    # working-day calendar changes (an official schedule replacing a provisional year).
    due_counted_from: date | None = None
    due_working_days: int | None = None
    due_planned_on: date | None = None
    """a follow-up's cadence date before a public holiday moved it to the next working day (moved again when the
    calendar changes)"""
    provisional: bool = False
    calendar_revision: str | None = None


def task_id(customer_id: str, kind: str, *parts: object) -> str:
    return ":".join([customer_id, kind, *(str(p) for p in parts)])


# One open task of these kinds per customer, whatever its occasion: a retention call whatever rules raised the churn
# warning; a welcome to the customer's latest tier (see EngagedCustomer.supersede).
ONE_AT_A_TIME = ("retention", "welcome")
# Care moments come once a year: last year's greeting left open does not stand in for this year's.
YEARLY = ("birthday", "anniversary", "festival")


def open_key(task: Task) -> str | None:
    """What an open task is for — at most one open task per key. None: a task made by hand (staff may plan
    several call-backs). One retention call and one welcome at a time (ONE_AT_A_TIME); a care moment is the occasion
    of its year."""
    if task.kind == "manual":
        return None
    if task.kind in ONE_AT_A_TIME:
        return f"{task.customer_id}:{task.kind}"
    occasion = task.occasion or task.task_id
    if task.kind in YEARLY:
        return f"{task.customer_id}:{task.kind}:{occasion}:{task.due_on.year}"
    return f"{task.customer_id}:{task.kind}:{occasion}"


def priority(*, tier: str | None, due_on: date | str, kind: str) -> tuple[int, str, int]:
    """Sort key of a staff member's day: higher tier first, then the earliest due, then the kind's urgency."""
    due = due_on if isinstance(due_on, str) else due_on.isoformat()
    return (-TIER_RANK.get(tier, 0), due, KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER))


def is_overdue(*, status: str, due_on: date, today: date) -> bool:
    """Open after the day it was due (a task due today is not overdue yet)."""
    return status == "open" and due_on < today
