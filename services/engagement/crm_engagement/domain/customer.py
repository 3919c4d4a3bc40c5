"""What engagement knows of a customer, and the decisions about their tasks. The customer records the
tasks it plans, the changes to its open tasks and the events they cause; the service layer saves all
three in one transaction.

Rules kept here:
- one open follow-up task per cadence rule of the customer's tier; completing it plans the next one
  `every_days` after the contact; a tier change cancels the rules the new tier does not have and
  plans the ones it adds;
- an owner change moves every open task of the previous owner (or of nobody) to the new owner;
- a task is planned on a channel the customer has not refused (see crm_engagement.domain.contact); when
  the preferred one is refused another is tried, and when none is left the attempt is recorded as blocked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from crm_contracts.engagement import (
    ContactBlocked, TaskCancelled, TaskCreated, TaskReassigned,
)
from crm_contracts.envelope import EventData
from crm_engagement.domain import contact
from crm_engagement.domain.policy import EngagementPolicy
from crm_engagement.domain.tasks import Task, task_id

# When the preferred channel is refused, a message may go another written way; a call or visit falls back to
# the other spoken one. A visit needs no consent channel.
FALLBACKS: dict[str, tuple[str, ...]] = {
    "call": ("visit",), "visit": ("call",), "sms": ("wechat", "app", "email"), "wechat": ("sms", "app", "email"),
    "app": ("sms", "wechat", "email"), "email": ("sms", "wechat", "app"),
}


@dataclass
class EngagedCustomer:
    customer_id: str
    branch: str | None = None
    owner: str | None = None
    tier: str | None = None
    kind: str | None = None
    customer_since: date | None = None
    birth_month_day: str | None = None
    risk_tolerance: str | None = None
    risk_assessed_on: date | None = None
    professional_investor: bool = False
    consents: dict[str, bool] = field(default_factory=dict)
    """the customer's latest decision per consent channel (phone, sms, email, wechat, app); absent: never asked"""
    consent_at: dict[str, Any] = field(default_factory=dict)
    """when each decision was made: an older decision arriving late changes nothing"""
    aum: Decimal | None = None
    merged_into: str | None = None
    cadence: dict[str, dict[str, Any]] = field(default_factory=dict)
    """cadence rule name -> {"task": open task id or None, "last_done": ISO date or None}"""
    plan_version: int = 0
    profile_seq: int = 0
    tiering_seq: int = 0

    new_tasks: list[Task] = field(default_factory=list, repr=False)
    task_changes: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    """task id -> fields to set (and `_push` for a history row)"""
    events: list[EventData] = field(default_factory=list, repr=False)

    @property
    def do_not_contact(self) -> bool:
        return self.merged_into is not None

    # -- planning ------------------------------------------------------------------------------------------

    def plan_task(self, *, kind: str, due_on: date, channel: str, policy: EngagementPolicy, now: datetime,
                  parts: Sequence[object], occasion: str | None = None, visible_from: date | None = None,
                  note: str | None = None, created_by: str = "engagement", purpose: str | None = None,
                  due_basis: tuple[date, int] | None = None) -> Task | None:
        """A new task for the customer's owner, on `channel` or a fallback the customer has not refused.
        None (and a ContactBlocked event) when every channel is refused. `due_basis`: the day and the number of
        working days `due_on` was counted from (it is counted again when the calendar changes)."""
        purpose = purpose or policy.purpose_of(kind)
        chosen, blocked = self._channel_for(channel, purpose, policy, now)
        tid = task_id(self.customer_id, kind, *parts)
        if chosen is None:
            assert blocked is not None
            self.events.append(ContactBlocked(
                attempt_id=f"{tid}:planned", customer_id=self.customer_id, channel=channel, purpose=purpose,  # type: ignore[arg-type]
                rule=blocked.rule, detail=blocked.detail, staff_id=created_by, at=now, context="schedule"))
            return None
        task = Task(task_id=tid, customer_id=self.customer_id, kind=kind, purpose=purpose, channel=chosen,
                    due_on=due_on, assignee=self.owner, owner=self.owner, branch=self.branch, tier=self.tier,
                    occasion=occasion, visible_from=visible_from, created_at=now, created_by=created_by, note=note)
        if due_basis is not None:
            task.due_counted_from, task.due_working_days = due_basis
        self.new_tasks.append(task)
        return task

    def _channel_for(self, preferred: str, purpose: str, policy: EngagementPolicy, now: datetime
                     ) -> tuple[str | None, contact.Blocked | None]:
        first: contact.Blocked | None = None
        for ch in (preferred, *FALLBACKS.get(preferred, ())):
            blocked = contact.check(channel=ch, purpose=purpose, at=now, consents=self.consents,  # type: ignore[arg-type]
                                    marketing_contacts=(), rules=policy.contact, is_public_holiday=lambda d: False,
                                    do_not_contact=self.do_not_contact, check_time=False)
            if blocked is None:
                return ch, None
            first = first or blocked
            if blocked.rule == "do_not_contact":
                break
        return None, first

    def plan_cadence(self, *, policy: EngagementPolicy, version: int, today: date, now: datetime,
                     open_tasks: Sequence[Task], reason: str = "cadence_changed") -> None:
        """Make the open follow-ups match the cadence of the customer's tier under `policy`: cancel the rules the tier
        no longer has, re-plan a rule whose interval, channel or purpose changed, plan the missing ones."""
        rules = {r.name: r for r in policy.cadence.get(self.tier, [])} if self.tier and not self.merged_into else {}  # type: ignore[call-overload]
        live = {t.task_id: t for t in self._live(open_tasks)}
        for name in sorted(set(self.cadence) - set(rules)):
            tid = self.cadence.pop(name).get("task")
            if tid and tid in live:
                self.cancel(live[tid], reason=reason, now=now)
        for name, rule in rules.items():
            state = self.cadence.setdefault(name, {"task": None, "last_done": None})
            settings = {"every_days": rule.every_days, "channel": rule.channel, "purpose": rule.purpose}
            if state.get("task") and state["task"] in live:
                if all(state.get(k, v) == v for k, v in settings.items()):
                    continue
                self.cancel(live[state["task"]], reason="cadence_changed", now=now)
            last = date.fromisoformat(state["last_done"]) if state.get("last_done") else None
            start = last or (date.fromisoformat(state["from"]) if state.get("from") else today)
            due = max(today, start + timedelta(days=rule.every_days))
            task = self.plan_task(kind="follow_up", due_on=due, channel=rule.channel, policy=policy, now=now,
                                  parts=(name, due.isoformat()), occasion=name, purpose=rule.purpose)
            state.update(settings, task=task.task_id if task else None, **{"from": start.isoformat()})
        self.plan_version = version

    def _live(self, open_tasks: Sequence[Task]) -> list[Task]:
        """Open tasks as loaded, and those planned in this unit of work."""
        return [*(t for t in open_tasks if t.status == "open"), *self.new_tasks]

    def follow_up_done(self, task: Task, *, on: date) -> None:
        """A cadence contact was made: the rule's next task is planned from this day."""
        for state in self.cadence.values():
            if state.get("task") == task.task_id:
                state["task"] = None
                state["last_done"] = on.isoformat()

    # -- changes to open tasks -----------------------------------------------------------------------------

    def cancel(self, task: Task, *, reason: str, now: datetime) -> None:
        if any(t is task for t in self.new_tasks):  # planned in this unit of work: never stored, nothing to announce
            self.new_tasks = [t for t in self.new_tasks if t is not task]
            task.status = "cancelled"
            return
        task.status = "cancelled"
        self._change(task, {"status": "cancelled", "cancelled_at": now, "cancel_reason": reason},
                     {"at": now, "action": "cancelled", "by": "engagement", "reason": reason})
        self.events.append(TaskCancelled(task_id=task.task_id, customer_id=self.customer_id, kind=task.kind,  # type: ignore[arg-type]
                                         reason=reason, at=now))

    def change_owner(self, new_owner: str, *, open_tasks: Sequence[Task], now: datetime, by: str) -> list[Task]:
        """The new owner takes every open task the previous owner (or nobody) had; tasks a supervisor gave to
        someone else stay with them. Returns the tasks moved."""
        previous = self.owner
        self.owner = new_owner
        for t in self.new_tasks:  # planned in this unit of work: created with the new owner
            t.owner = new_owner
            if t.assignee in (previous, None):
                t.assignee = new_owner
        moved = []
        for t in open_tasks:
            if t.status != "open":
                continue
            t.owner = new_owner
            if t.assignee == new_owner or t.assignee not in (previous, None):
                self._change(t, {"owner": new_owner})
                continue
            old = t.assignee
            t.assignee = new_owner
            self._change(t, {"assignee": new_owner, "owner": new_owner},
                         {"at": now, "action": "reassigned", "by": by, "from": old, "to": new_owner,
                          "reason": "owner_change"})
            self.events.append(TaskReassigned(task_id=t.task_id, customer_id=self.customer_id, from_assignee=old,
                                              to_assignee=new_owner, reason="owner_change", by=by, at=now))
            moved.append(t)
        return moved

    def consent_changed(self, channel: str, granted: bool, *, at: datetime, open_tasks: Sequence[Task],
                        policy: EngagementPolicy, now: datetime) -> bool:
        """Apply the customer's decision on a consent channel, unless a later one is already known. An opt-out
        stops the channel at once: open tasks on it move to another channel the customer allows, or are cancelled."""
        known = self.consent_at.get(channel)
        if known is not None and known > at:
            return False
        self.consents[channel] = granted
        self.consent_at[channel] = at
        if granted:
            return True
        for t in self._live(open_tasks):
            if contact.CONSENT_CHANNEL.get(t.channel) != channel:
                continue
            chosen, _ = self._channel_for(t.channel, t.purpose, policy, now)
            if chosen is None:
                self.cancel(t, reason="consent.opt_out", now=now)
            elif any(n is t for n in self.new_tasks):
                t.channel = chosen
            else:
                self._change(t, {"channel": chosen}, {"at": now, "action": "channel_changed", "by": "engagement",
                                                      "from": t.channel, "to": chosen, "reason": "consent.opt_out"})
                t.channel = chosen
        return True

    def merged(self, survivor_id: str, *, open_tasks: Sequence[Task], now: datetime) -> None:
        """A duplicate record merged into another: nothing more is planned for it; the survivor's owner plans anew."""
        self.merged_into = survivor_id
        for t in self._live(open_tasks):
            self.cancel(t, reason="customer_merged", now=now)
        self.cadence = {}

    def change_tier(self, tier: str | None, *, open_tasks: Sequence[Task]) -> None:
        self.tier = tier
        for t in open_tasks:
            if t.status == "open":
                t.tier = tier
                self._change(t, {"tier": tier})

    def change_branch(self, branch: str | None, *, open_tasks: Sequence[Task]) -> None:
        self.branch = branch
        for t in open_tasks:
            if t.status == "open" and t.branch != branch:
                t.branch = branch
                self._change(t, {"branch": branch})

    def _change(self, task: Task, fields: dict[str, Any], history: dict[str, Any] | None = None) -> None:
        changes = self.task_changes.setdefault(task.task_id, {})
        changes.update(fields)
        if history:
            changes.setdefault("_push", []).append(history)


def task_created(t: Task) -> TaskCreated:
    assert t.created_at is not None
    return TaskCreated(task_id=t.task_id, customer_id=t.customer_id, kind=t.kind, purpose=t.purpose,  # type: ignore[arg-type]
                       channel=t.channel, assignee=t.assignee, branch=t.branch, tier=t.tier, due_on=t.due_on,  # type: ignore[arg-type]
                       occasion=t.occasion, created_at=t.created_at, provisional=t.provisional or None)

