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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from crm_contracts.engagement import (
    ContactBlocked,
    ContactChannel,
    Purpose,
    TaskCancelled,
    TaskCreated,
    TaskReassigned,
)
from crm_contracts.envelope import EventData
from crm_contracts.tiering import is_tier_name
from crm_engagement.domain import contact
from crm_engagement.domain.occasions import occasions_between
from crm_engagement.domain.policy import EngagementPolicy
from crm_engagement.domain.tasks import Task, task_id

# When the preferred channel is refused, a message may go another written way; a call or visit falls back to
# the other spoken one. A visit needs no consent channel.
FALLBACKS: dict[ContactChannel, tuple[ContactChannel, ...]] = {
    "call": ("visit",),
    "visit": ("call",),
    "sms": ("wechat", "app", "email"),
    "wechat": ("sms", "app", "email"),
    "app": ("sms", "wechat", "email"),
    "email": ("sms", "wechat", "app"),
}


# Tasks that are owed to the person rather than planned from a record's tier: a merge carries them over.
OWED_TO_THE_PERSON = ("complaint_follow_up", "manual")


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

    def plan_task(
        self,
        *,
        kind: str,
        due_on: date,
        channel: ContactChannel,
        policy: EngagementPolicy,
        now: datetime,
        parts: Sequence[object],
        occasion: str | None = None,
        visible_from: date | None = None,
        note: str | None = None,
        created_by: str = "engagement",
        purpose: Purpose | None = None,
        due_basis: tuple[date, int] | None = None,
    ) -> Task | None:
        """A new task for the customer's owner, on `channel` or a fallback the customer has not refused.
        None (and a ContactBlocked event) when every channel is refused. `due_basis`: the day and the number of
        working days `due_on` was counted from (it is counted again when the calendar changes)."""
        purpose = purpose or policy.purpose_of(kind)
        chosen, blocked = self._channel_for(channel, purpose, policy, now)
        tid = task_id(self.customer_id, kind, *parts)
        if chosen is None:
            assert blocked is not None
            self.events.append(
                ContactBlocked(
                    attempt_id=f"{tid}:planned",
                    customer_id=self.customer_id,
                    channel=channel,
                    purpose=purpose,
                    rule=blocked.rule,
                    detail=blocked.detail,
                    staff_id=created_by,
                    at=now,
                    context="schedule",
                )
            )
            return None
        task = Task(
            task_id=tid,
            customer_id=self.customer_id,
            kind=kind,
            purpose=purpose,
            channel=chosen,
            due_on=due_on,
            assignee=self.owner,
            owner=self.owner,
            branch=self.branch,
            tier=self.tier,
            occasion=occasion,
            visible_from=visible_from,
            created_at=now,
            created_by=created_by,
            note=note,
            asked_channel=channel,
        )
        if due_basis is not None:
            task.due_counted_from, task.due_working_days = due_basis
        self.new_tasks.append(task)
        return task

    def _channel_for(
        self, preferred: ContactChannel, purpose: Purpose, policy: EngagementPolicy, now: datetime
    ) -> tuple[ContactChannel | None, contact.Blocked | None]:
        first: contact.Blocked | None = None
        for ch in (preferred, *FALLBACKS.get(preferred, ())):
            blocked = contact.check(
                channel=ch,
                purpose=purpose,
                at=now,
                consents=self.consents,
                marketing_contacts=(),
                rules=policy.contact,
                is_public_holiday=lambda _d: False,
                do_not_contact=self.do_not_contact,
                check_time=False,
            )
            if blocked is None:
                return ch, None
            first = first or blocked
            if blocked.rule == "do_not_contact":
                break
        return None, first

    def plan_cadence(
        self,
        *,
        policy: EngagementPolicy,
        version: int,
        today: date,
        now: datetime,
        open_tasks: Sequence[Task],
        reason: str = "cadence_changed",
        working_day: Callable[[date], date] | None = None,
        since: date | None = None,
    ) -> None:
        """Make the open follow-ups match the cadence of the customer's tier under `policy`: cancel the rules the tier
        no longer has, re-plan a rule whose interval, channel or purpose changed, plan the missing ones. A due date
        on a public holiday moves to `working_day(due)` (the next working day, from the bank's calendar). A rule new
        to the customer counts from `since` (the day of the tier change: the same due date however late the change
        is processed, never before `today`), else from `today`."""
        tier = self.tier if is_tier_name(self.tier) and not self.merged_into else None
        rules = {r.name: r for r in policy.cadence.get(tier, [])} if tier else {}
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
            start = last or (date.fromisoformat(state["from"]) if state.get("from") else since or today)
            planned = due = max(today, start + timedelta(days=rule.every_days))
            if working_day is not None:
                due = working_day(planned)
            parts: tuple[str, ...] = (name, due.isoformat())
            if task_id(self.customer_id, "follow_up", *parts) in (state.get("task"), state.get("last_task")):
                # The task it replaces (done, cancelled) had this id — a contact made on the day it was planned from,
                # a re-plan to the same day, two days moved to one working day: the next one needs its own id.
                parts = (*parts, start.isoformat(), f"v{version}")
            task = self.plan_task(
                kind="follow_up",
                due_on=due,
                channel=rule.channel,
                policy=policy,
                now=now,
                parts=parts,
                occasion=name,
                purpose=rule.purpose,
            )
            if task is not None and working_day is not None:
                task.due_planned_on = planned
            state.update(settings, task=task.task_id if task else None, **{"from": start.isoformat()})
        self.plan_version = version

    def plan_care(self, *, policy: EngagementPolicy, today: date, now: datetime) -> list[Task]:
        """The care moments (birthday, customer anniversary, festivals) within the tier's lead time from `today`. The
        daily run plans them, and so does the customer's entering a tier or engagement learning their owner or
        birthday, so a lead time is never missed. None for a tier without care moments, a merged record, or a
        customer whose owner is not known yet (planned once it is). A care task's id is its occasion and year:
        planned twice, it is stored once."""
        if self.tier not in policy.care.tiers or self.owner is None or self.merged_into:
            return []
        lead = policy.care.days_before.get(self.tier, 0)
        found = occasions_between(
            today,
            today + timedelta(days=lead),
            birth_month_day=self.birth_month_day if policy.care.birthday else None,
            customer_since=self.customer_since if policy.care.anniversary else None,
            festivals=policy.care.festivals,
        )
        planned = []
        for o in found:
            parts = (o.year,) if o.kind != "festival" else (o.name, o.year)
            task = self.plan_task(
                kind=o.kind,
                due_on=o.on,
                channel=policy.care.channel.get(self.tier, "sms"),
                policy=policy,
                now=now,
                parts=parts,
                occasion=o.name,
                visible_from=o.on - timedelta(days=lead),
            )
            if task is not None:
                planned.append(task)
        return planned

    def welcome_due(self, *, reason: str, from_tier: str | None, to_tier: str | None, policy: EngagementPolicy) -> bool:
        """A welcome call by the new owner: for an upgrade into a welcome tier, and the same for a customer whose
        first tier is already a high one (vip, key)."""
        if to_tier is None or self.merged_into:
            return False
        if reason == "upgrade":
            return to_tier in policy.triggers.welcome_tiers
        return (
            from_tier is None
            and reason in ("first_tier", "policy_change")
            and to_tier in policy.triggers.welcome_first_tiers
        )

    def supersede(self, kind: str, *, open_tasks: Sequence[Task], now: datetime) -> None:
        """Cancel the open tasks of `kind` a newer one replaces: a customer upgraded twice within days (ordinary, vip,
        key) gets one welcome, to the latest tier by its owner, not one per step with the same due date."""
        for t in self._live(open_tasks):
            if t.kind == kind:
                self.cancel(t, reason="superseded", now=now)

    def _live(self, open_tasks: Sequence[Task]) -> list[Task]:
        """Open tasks as loaded, and those planned in this unit of work."""
        return [*(t for t in open_tasks if t.status == "open"), *self.new_tasks]

    def already_open(self, task: Task, holder: str | None) -> None:
        """The store refused `task`: its occasion has the open task `holder`. A cadence rule follows that one, so
        its completion plans the next contact."""
        task.status = "cancelled"
        for state in self.cadence.values():
            if state.get("task") == task.task_id:
                state["task"] = holder

    def follow_up_done(self, task: Task, *, on: date) -> None:
        """A cadence contact was made: the rule's next task is planned from this day."""
        for state in self.cadence.values():
            if state.get("task") == task.task_id:
                state["task"] = None
                state["last_done"] = on.isoformat()
                state["last_task"] = task.task_id

    # -- changes to open tasks -----------------------------------------------------------------------------

    def cancel(self, task: Task, *, reason: str, now: datetime) -> None:
        if any(t is task for t in self.new_tasks):  # planned in this unit of work: never stored, nothing to announce
            self.new_tasks = [t for t in self.new_tasks if t is not task]
            task.status = "cancelled"
            return
        task.status = "cancelled"
        self._change(
            task,
            {"status": "cancelled", "cancelled_at": now, "cancel_reason": reason},
            {"at": now, "action": "cancelled", "by": "engagement", "reason": reason},
        )
        self.events.append(
            TaskCancelled(
                task_id=task.task_id,
                customer_id=self.customer_id,
                kind=task.kind,
                reason=reason,
                at=now,
            )
        )

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
            self._change(
                t,
                {"assignee": new_owner, "owner": new_owner},
                {"at": now, "action": "reassigned", "by": by, "from": old, "to": new_owner, "reason": "owner_change"},
            )
            self.events.append(
                TaskReassigned(
                    task_id=t.task_id,
                    customer_id=self.customer_id,
                    from_assignee=old,
                    to_assignee=new_owner,
                    reason="owner_change",
                    by=by,
                    at=now,
                )
            )
            moved.append(t)
        return moved

    def consent_changed(
        self,
        channel: str,
        granted: bool,
        *,
        at: datetime,
        open_tasks: Sequence[Task],
        policy: EngagementPolicy,
        now: datetime,
    ) -> bool:
        """Apply the customer's decision on a consent channel, unless a later one is already known. An opt-out
        stops the channel at once: open tasks on it move to another channel the customer allows, or are cancelled."""
        known = self.consent_at.get(channel)
        if known is not None and known > at:
            return False
        self.consents[channel] = granted
        self.consent_at[channel] = at
        if granted:
            # A task planned on another channel because this one was refused or its consent not known yet (the
            # decision came after the task) goes back to the channel it was planned for.
            for t in self._live(open_tasks):
                wanted = t.asked_channel
                if not wanted or wanted == t.channel or contact.CONSENT_CHANNEL.get(wanted) != channel:
                    continue
                chosen, _ = self._channel_for(wanted, t.purpose, policy, now)
                if chosen == wanted:
                    self._move_channel(t, wanted, reason="consent.granted", now=now)
            return True
        for t in self._live(open_tasks):
            if contact.CONSENT_CHANNEL.get(t.channel) != channel:
                continue
            chosen, _ = self._channel_for(t.channel, t.purpose, policy, now)
            if chosen is None:
                self.cancel(t, reason="consent.opt_out", now=now)
            else:
                self._move_channel(t, chosen, reason="consent.opt_out", now=now)
        return True

    def _move_channel(self, task: Task, channel: ContactChannel, *, reason: str, now: datetime) -> None:
        if not any(n is task for n in self.new_tasks):
            self._change(
                task,
                {"channel": channel},
                {
                    "at": now,
                    "action": "channel_changed",
                    "by": "engagement",
                    "from": task.channel,
                    "to": channel,
                    "reason": reason,
                },
            )
        task.channel = channel

    def merged(self, survivor_id: str, *, open_tasks: Sequence[Task], now: datetime) -> list[Task]:
        """A duplicate record merged into another: nothing more is planned for it; the survivor's owner plans anew.
        Returns the open tasks the survivor must take over (see `take_over`)."""
        self.merged_into = survivor_id
        owed = []
        for t in self._live(open_tasks):
            self.cancel(t, reason="customer_merged", now=now)
            if t.kind in OWED_TO_THE_PERSON:
                owed.append(t)
        self.cadence = {}
        return owed

    def take_over(self, task: Task, *, policy: EngagementPolicy, now: datetime) -> Task | None:
        """A task owed to the person, from a record merged into this one — a complaint closed on the duplicate before
        the merge reached engagement, a call-back the customer asked for: planned here with its due date, for this
        record's owner. A complaint's call-back keeps its id (`<survivor>:complaint_follow_up:<complaint>`), so a
        complaint event naming the survivor makes no second one."""
        by_complaint = task.kind == "complaint_follow_up" and task.occasion
        note = f"{task.note or task.kind} (taken over from merged record {task.customer_id})"
        return self.plan_task(
            kind=task.kind,
            due_on=task.due_on,
            channel=task.channel,
            policy=policy,
            now=now,
            parts=(task.occasion,) if by_complaint else (task.task_id,),
            occasion=task.occasion,
            visible_from=task.visible_from,
            note=note,
            created_by=task.created_by,
            purpose=task.purpose,
        )

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
    return TaskCreated(
        task_id=t.task_id,
        customer_id=t.customer_id,
        kind=t.kind,
        purpose=t.purpose,
        channel=t.channel,
        assignee=t.assignee,
        branch=t.branch,
        tier=t.tier,
        due_on=t.due_on,
        occasion=t.occasion,
        created_at=t.created_at,
        provisional=t.provisional or None,
    )
