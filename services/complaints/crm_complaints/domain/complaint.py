"""A complaint and the rules of its life: the standard process, the regulator's clock with its extensions and
pauses, internal targets, resolution with compensation approval, and the deadline checks that warn, record a
breach and escalate once. The complaint records the events it causes; the service layer saves both together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from crm_complaints.domain import deadlines, workflow
from crm_complaints.domain.policy import ComplaintsPolicy
from crm_contracts.complaints import (
    ComplaintClosed,
    ComplaintOpened,
    ComplaintRouted,
    ComplaintStatusChanged,
    ComplaintTargetsChanged,
    CustomerUnverified,
    DeadlineApproaching,
    DecisionNotified,
    SlaBreached,
)
from crm_contracts.envelope import EventData
from crm_kit.errors import RuleBroken

EXTENDERS_BEYOND_30 = frozenset({"branch_manager", "head_office"})
APPRAISAL_BACKDATING_DAYS = 3
APPROVERS = frozenset({"branch_manager", "head_office"})


@dataclass
class Complaint:
    complaint_id: str
    customer_id: str | None
    channel: str
    category: str
    severity: str
    received_at: datetime
    received_on: date
    branch: str | None
    tier: str | None = None
    priority: bool = False
    repeat_of: str | None = None
    state: str = "received"
    handler: str | None = None
    allowed_days: int = 15
    extensions: list[dict[str, Any]] = field(default_factory=list)
    pauses: list[dict[str, Any]] = field(default_factory=list)
    """[{"start": ISO date, "end": ISO date or None, "by": …, "reason": …}]"""
    acknowledge_due: date | None = None
    first_contact_due: date | None = None
    acknowledged_at: datetime | None = None
    first_contact_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    resolution: dict[str, Any] | None = None
    warned: list[str] = field(default_factory=list)
    breached: list[str] = field(default_factory=list)
    escalated_for_breach: bool = False
    clock_start: date | None = None
    """the day the regulator's clock starts: the day of receipt, or of the reopening"""
    decision_notice: dict[str, Any] | None = None
    """how the decision was communicated (告知): {"at", "channel", "by", "recorded_at", "due": ISO date, "on_time"}"""
    routing: str = "routed"
    """`routed`; `pending_customer` (taken in before complaints knew the customer: routed when the customer's event
    arrives); `manual` (routed by hand)"""
    branch_source: str | None = None
    """where the branch came from: `intake` (named in the request), `customer`, `receiver` (the branch of who took
    the case in, provisional until the customer is known), `manual`"""
    pending_since: datetime | None = None
    """when a case waiting for its customer was taken in (the unverified wait counts from here, not from receipt)"""
    customer_unverified: bool = False
    provisional_targets: list[str] = field(default_factory=list)
    """targets whose due date rests on provisional calendar days (a year no official schedule covers yet)"""
    calendar_revision: str | None = None
    """the working-day calendar's revision the targets were computed with"""
    decision_rolls: bool = False
    """the policy at intake (or reopening) moves a decision due on a public holiday to the next working day"""
    holiday_roll: Callable[[date], date] | None = field(default=None, repr=False, compare=False)
    """set by the store from the working-day calendar (not stored): a public holiday to the next working day"""
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[EventData] = field(default_factory=list, repr=False)

    # -- the clock -----------------------------------------------------------------------------------------

    def decision_due(self, *, today: date) -> date:
        due = deadlines.decision_due(
            received_on=self.clock_start or self.received_on,
            allowed_days=self.allowed_days,
            paused_days=self.paused_days(today=today),
        )
        return self.holiday_roll(due) if self.decision_rolls and self.holiday_roll is not None else due

    def paused_days(self, *, today: date) -> int:
        return deadlines.paused_days(
            [(date.fromisoformat(p["start"]), date.fromisoformat(p["end"]) if p["end"] else None) for p in self.pauses],
            today=today,
        )

    @property
    def in_appraisal(self) -> bool:
        return bool(self.pauses) and self.pauses[-1]["end"] is None

    def set_targets(
        self,
        policy: ComplaintsPolicy,
        *,
        add_working_days: Callable[[date, int], date],
        next_workday: Callable[[date], date],
        depends_on_provisional: Callable[[date, date], bool] = lambda _start, _end: False,
        calendar_revision: str | None = None,
    ) -> None:
        self.allowed_days = policy.regulator.decision_days
        self.decision_rolls = policy.regulator.holiday_rolls_to_next_workday
        self._internal_targets(
            policy,
            add_working_days=add_working_days,
            next_workday=next_workday,
            depends_on_provisional=depends_on_provisional,
            calendar_revision=calendar_revision,
        )

    def _internal_targets(
        self,
        policy: ComplaintsPolicy,
        *,
        add_working_days: Callable[[date, int], date],
        next_workday: Callable[[date], date],
        depends_on_provisional: Callable[[date, date], bool],
        calendar_revision: str | None,
    ) -> None:
        t = deadlines.targets_for(policy, priority=self.priority)
        self.acknowledge_due = deadlines.internal_due(
            self.received_on, t.acknowledge, add_working_days=add_working_days, next_workday=next_workday
        )
        self.first_contact_due = deadlines.internal_due(
            self.received_on, t.first_contact, add_working_days=add_working_days, next_workday=next_workday
        )
        self.provisional_targets = [
            name
            for name, due in (("acknowledge", self.acknowledge_due), ("first_contact", self.first_contact_due))
            if depends_on_provisional(self.received_on, due)
        ]
        if self.decision_rolls:  # whether the decision's day is a public holiday rests on the calendar too
            unrolled = deadlines.decision_due(
                received_on=self.clock_start or self.received_on, allowed_days=self.allowed_days, paused_days=0
            )
            if depends_on_provisional(unrolled, unrolled):
                self.provisional_targets.append("decision")
        self.calendar_revision = calendar_revision

    def recompute_targets(
        self,
        policy: ComplaintsPolicy,
        *,
        add_working_days: Callable[[date, int], date],
        next_workday: Callable[[date], date],
        depends_on_provisional: Callable[[date, date], bool],
        calendar_revision: str,
        at: datetime,
        today: date,
    ) -> dict[str, date]:
        """The working-day targets again, on a calendar that changed (an official schedule replaced provisional
        days). A target already met keeps its date: it was judged on the day. Returns the due dates that moved, as
        they were, and records `targets-changed` when any moved or stopped being provisional."""
        before = {"acknowledge": self.acknowledge_due, "first_contact": self.first_contact_due}
        was_provisional = list(self.provisional_targets)
        self._internal_targets(
            policy,
            add_working_days=add_working_days,
            next_workday=next_workday,
            depends_on_provisional=depends_on_provisional,
            calendar_revision=calendar_revision,
        )
        if self.acknowledged_at is not None:
            self.acknowledge_due = before["acknowledge"]
        if self.first_contact_at is not None:
            self.first_contact_due = before["first_contact"]
        after = {"acknowledge": self.acknowledge_due, "first_contact": self.first_contact_due}
        moved = {name: due for name, due in before.items() if due is not None and after[name] != due}
        for name in moved:
            # A target that moved may be approached (and missed) again on its new date.
            self.warned = [w for w in self.warned if w != name]
            new_due = after[name]
            if new_due is not None and new_due >= today:
                self.breached = [b for b in self.breached if b != name]
        if moved or was_provisional != self.provisional_targets:
            self.history.append(
                {
                    "at": at,
                    "by": "complaints",
                    "action": "targets_recomputed",
                    "note": ", ".join(f"{name} {before[name]} → {after[name]}" for name in moved)
                    or "no longer provisional",
                }
            )
            self.events.append(
                ComplaintTargetsChanged(
                    complaint_id=self.complaint_id,
                    customer_id=self.customer_id,
                    acknowledge_due=self.acknowledge_due,
                    first_contact_due=self.first_contact_due,
                    decision_due=self.decision_due(today=today),
                    previous=moved,
                    provisional_targets=self.provisional_targets,
                    calendar_revision=calendar_revision,
                    at=at,
                    branch=self.branch,
                    handler=self.handler,
                )
            )
        return moved

    # -- intake --------------------------------------------------------------------------------------------

    def opened(self, *, by: str, today: date) -> None:
        self._step(None, "received", by=by, at=self.received_at, note="received")
        if self.customer_id:
            self.events.append(
                ComplaintOpened(
                    complaint_id=self.complaint_id,
                    customer_id=self.customer_id,
                    opened_at=self.received_at,
                    category=self.category,
                    branch=self.branch,
                    channel=self.channel,
                    severity=self.severity,
                    priority=self.priority,
                    repeat_of=self.repeat_of,
                    decision_due=self.decision_due(today=today),
                    acknowledge_due=self.acknowledge_due,
                    first_contact_due=self.first_contact_due,
                    provisional_targets=self.provisional_targets or None,
                )
            )

    # -- routing when the customer is known late ----------------------------------------------------------

    @property
    def waits_for_customer(self) -> bool:
        return self.routing == "pending_customer"

    def takes_customer_branch(self) -> bool:
        """A waiting case moves to the customer's branch unless the intake named a branch or someone took it on."""
        return self.waits_for_customer and self.branch_source in ("receiver", None) and self.handler is None

    def route(
        self, *, branch: str | None, handler: str | None, by: str, at: datetime, reason: str, note: str | None = None
    ) -> None:
        """Branch and handler decided: on the customer's event (`customer_known`) or by hand (`manual`). Not a step
        of the process: the state stays, the regulator's clock runs on from receipt."""
        if reason == "manual":
            self.branch_source = "manual"
        elif branch != self.branch or self.branch_source in ("receiver", None):
            self.branch_source = "customer"
        self.branch, self.handler = branch, handler
        self.routing = "manual" if reason == "manual" else "routed"
        self.customer_unverified = False
        self.history.append(
            {
                "at": at,
                "by": by,
                "action": "routed",
                "reason": reason,
                "branch": branch,
                "handler": handler,
                "note": note,
            }
        )
        self._routed(reason=reason, by=by, at=at)

    def hand_to(self, handler: str | None, *, by: str, at: datetime, reason: str) -> None:
        """A new handler from the roster (`roster`: a handler joined a branch that had none for the case, or the
        case's handler left or moved). Not a step of the process."""
        self.handler = handler
        self.history.append(
            {
                "at": at,
                "by": by,
                "action": "routed",
                "reason": reason,
                "branch": self.branch,
                "handler": handler,
                "note": None,
            }
        )
        self._routed(reason=reason, by=by, at=at)

    def raise_priority(
        self,
        *,
        tier: str,
        policy: ComplaintsPolicy,
        today: date,
        at: datetime,
        add_working_days: Callable[[date, int], date],
        next_workday: Callable[[date], date],
        depends_on_provisional: Callable[[date, date], bool] = lambda _start, _end: False,
        calendar_revision: str | None = None,
    ) -> bool:
        """A tier learnt after intake (late, or an upgrade during the case) that gives priority: the open case gets
        the priority targets — never later than before, never earlier than today (the bank could not have known).
        The regulator's days and the case's holiday rule stay as they were."""
        if self.priority or self.state not in workflow.OPEN_STATES:
            return False
        if not deadlines.is_priority(channel=self.channel, tier=tier, policy=policy):
            if self.tier is None:
                self.tier = tier
            return False
        self.tier, self.priority = tier, True
        faster = deadlines.targets_for(policy, priority=True)
        for name, working_days in (("acknowledge", faster.acknowledge), ("first_contact", faster.first_contact)):
            old = getattr(self, f"{name}_due")
            new = deadlines.internal_due(
                self.received_on, working_days, add_working_days=add_working_days, next_workday=next_workday
            )
            if old is not None and new is not None:
                setattr(self, f"{name}_due", min(old, max(new, today)))
        self.provisional_targets = [
            *(
                name
                for name in ("acknowledge", "first_contact")
                if (due := getattr(self, f"{name}_due")) is not None and depends_on_provisional(self.received_on, due)
            ),
            *(["decision"] if "decision" in self.provisional_targets else []),
        ]
        if calendar_revision is not None:
            self.calendar_revision = calendar_revision
        self.history.append({"at": at, "by": "complaints", "action": "priority_raised", "tier": tier, "note": None})
        self._routed(reason="tier", by="complaints", at=at)
        return True

    def flag_unverified(self, *, at: datetime) -> None:
        """Still no event of the customer after the policy's wait: listed for manual routing, never dropped."""
        if self.customer_unverified or not self.waits_for_customer or not self.customer_id:
            return
        self.customer_unverified = True
        self.history.append({"at": at, "by": "complaints", "action": "customer_unverified", "note": None})
        self.events.append(
            CustomerUnverified(
                complaint_id=self.complaint_id,
                customer_id=self.customer_id,
                branch=self.branch,
                pending_since=self.pending_since or self.received_at,
                flagged_at=at,
            )
        )

    def _routed(self, *, reason: str, by: str, at: datetime) -> None:
        self.events.append(
            ComplaintRouted(
                complaint_id=self.complaint_id,
                customer_id=self.customer_id,
                reason=reason,
                branch=self.branch,
                handler=self.handler,
                priority=self.priority,
                tier=self.tier,
                by=by,
                at=at,
            )
        )

    # -- the process ---------------------------------------------------------------------------------------

    def move(self, to: str, *, by: str, at: datetime, note: str | None = None) -> None:
        """One step of the standard process; IllegalTransition names the current state."""
        workflow.check(self.state, to)
        previous = self.state
        self.state = to
        if to == "acknowledged" or (previous == "escalated" and to != "resolved" and self.acknowledged_at is None):
            self.acknowledged_at = at  # a case taken back from an escalation has been seen
        self._step(previous, to, by=by, at=at, note=note)

    def assign(self, handler: str, *, by: str, at: datetime, note: str | None = None) -> None:
        if self.state == "assigned":
            self.handler = handler
            self.history.append({"at": at, "by": by, "action": "reassigned", "handler": handler, "note": note})
            return
        self.handler = handler
        self.move("assigned", by=by, at=at, note=note or f"assigned to {handler}")

    def contacted(self, *, by: str, at: datetime, note: str | None) -> None:
        """The handler reached the complainant (the first-contact target)."""
        if self.state not in workflow.OPEN_STATES:
            raise RuleBroken(f"a complaint that is {self.state} is not being handled")
        if self.first_contact_at is None:
            self.first_contact_at = at
        self.history.append({"at": at, "by": by, "action": "contacted", "note": note})

    def resolve(
        self,
        *,
        by: str,
        at: datetime,
        explanation: str,
        apology: bool,
        compensation: Decimal,
        root_cause: str,
        policy: ComplaintsPolicy,
    ) -> None:
        if root_cause not in policy.categories:
            raise RuleBroken(f"root_cause: {root_cause} is not in the taxonomy ({', '.join(policy.categories)})")
        needs = compensation > policy.compensation_approval_above
        self.move("resolved", by=by, at=at, note="resolved")
        self.resolved_at = at
        if self.in_appraisal:  # the decision ends the appraisal: its clock must not run on
            self.pauses[-1] = {
                **self.pauses[-1],
                "end": max(at.date(), date.fromisoformat(self.pauses[-1]["start"])).isoformat(),
            }
        self.resolution = {
            "explanation": explanation,
            "apology": apology,
            "compensation": compensation,
            "root_cause": root_cause,
            "needs_approval": needs,
            "approved_by": None,
            "approved_at": None,
            "resolved_by": by,
        }

    def approve_compensation(self, *, by: str, role: str, at: datetime, note: str | None = None) -> None:
        if role not in APPROVERS:
            raise RuleBroken(
                "compensation above the approval amount is approved by a branch manager or head office",
                kind="forbidden",
            )
        if not self.resolution or not self.resolution["needs_approval"]:
            raise RuleBroken("there is no compensation waiting for approval")
        if self.resolution.get("resolved_by") == by:
            raise RuleBroken(
                "compensation is approved by someone other than who resolved the case (four eyes)", kind="forbidden"
            )
        self.resolution = {**self.resolution, "approved_by": by, "approved_at": at}
        self.history.append({"at": at, "by": by, "action": "compensation_approved", "note": note})

    def notify(self, *, at: datetime, notified_on: date, channel: str, by: str, recorded_at: datetime) -> None:
        """The decision was communicated to the complainant (告知) on `notified_on` (the local day of `at`). On time
        when that day is on or before the decision's due day; a case closes only after it."""
        if self.state != "resolved":
            raise RuleBroken(
                f"a complaint that is {self.state} has no decision to communicate: the notice follows the "
                "decision (resolve)"
            )
        if self.decision_notice is not None:
            raise RuleBroken(
                f"the decision was communicated already ({self.decision_notice['channel']}, "
                f"{self.decision_notice['at'].isoformat()})"
            )
        if self.resolution and self.resolution["needs_approval"] and not self.resolution["approved_by"]:
            raise RuleBroken("compensation above the approval amount is approved before the decision is communicated")
        if notified_on < (self.clock_start or self.received_on):
            raise RuleBroken(f"notified_at: {notified_on} is before the complaint was received or reopened")
        due = self.decision_due(today=notified_on)
        self.decision_notice = {
            "at": at,
            "channel": channel,
            "by": by,
            "recorded_at": recorded_at,
            "due": due.isoformat(),
            "on_time": notified_on <= due,
        }
        self.history.append(
            {
                "at": recorded_at,
                "by": by,
                "action": "decision_notified",
                "channel": channel,
                "notified_at": at,
                "note": None,
            }
        )
        self.events.append(
            DecisionNotified(
                complaint_id=self.complaint_id,
                customer_id=self.customer_id,
                notified_at=at,
                channel=channel,
                by=by,
                decision_due=due,
                on_time=notified_on <= due,
                branch=self.branch,
                handler=self.handler,
            )
        )

    def close(self, *, by: str, at: datetime, how: str, note: str | None = None) -> None:
        if self.resolution and self.resolution["needs_approval"] and not self.resolution["approved_by"]:
            raise RuleBroken(
                f"compensation of {self.resolution['compensation']} is above the approval amount and not approved yet"
            )
        if self.state == "resolved" and self.decision_notice is None:
            raise RuleBroken(
                "the decision has not been communicated to the complainant (告知): record the notice "
                "(notify: when, channel) before closing"
            )
        self.move("closed", by=by, at=at, note=note or f"closed ({how})")
        self.closed_at, self.closed_by = at, how
        if self.customer_id:
            r = self.resolution or {}
            self.events.append(
                ComplaintClosed(
                    complaint_id=self.complaint_id,
                    customer_id=self.customer_id,
                    closed_at=at,
                    outcome="resolved",
                    category=self.category,
                    root_cause=r.get("root_cause"),
                    compensation=r.get("compensation"),
                    closed_by=how,
                    notified_at=(self.decision_notice or {}).get("at"),
                )
            )

    def reopen(self, *, by: str, at: datetime, reason: str, today: date, policy: ComplaintsPolicy) -> None:
        """Open again, with a fresh regulator's clock from today: the earlier decision was given in time (or its
        breach is on record); the new one has its own 15 days, warnings and breaches."""
        self.move("reopened", by=by, at=at, note=reason)
        self.resolved_at = None
        self.closed_at = self.closed_by = None
        self.decision_notice = None  # the new decision is communicated again; the old notice stays in the history
        self.clock_start, self.allowed_days, self.pauses = today, policy.regulator.decision_days, []
        self.decision_rolls = policy.regulator.holiday_rolls_to_next_workday
        self.warned = [w for w in self.warned if w != "decision"]
        self.breached = [b for b in self.breached if b != "decision"]
        self.escalated_for_breach = False
        if self.customer_id:  # open again for tiering's churn view
            self.events.append(
                ComplaintOpened(
                    complaint_id=self.complaint_id,
                    customer_id=self.customer_id,
                    opened_at=at,
                    category=self.category,
                    branch=self.branch,
                    channel=self.channel,
                    severity=self.severity,
                    priority=self.priority,
                    repeat_of=self.repeat_of,
                    decision_due=self.decision_due(today=today),
                )
            )

    # -- extensions and appraisal --------------------------------------------------------------------------

    def extend(
        self,
        *,
        to_days: int,
        reason: str,
        by: str,
        role: str,
        at: datetime,
        policy: ComplaintsPolicy,
        today: date | None = None,
    ) -> None:
        r = policy.regulator
        local = today or at.date()
        if self.state not in workflow.OPEN_STATES:
            raise RuleBroken(f"a complaint that is {self.state} has no open deadline to extend")
        if to_days <= self.allowed_days:
            raise RuleBroken(f"the decision is already due within {self.allowed_days} days")
        if to_days > r.maximum_days:
            raise RuleBroken(f"at most {r.maximum_days} days in all")
        due = self.decision_due(today=local)
        if local > due:
            raise RuleBroken(f"the decision was due on {due}: a deadline is extended before it passes, not after")
        if to_days > r.extended_days and role not in EXTENDERS_BEYOND_30:
            raise RuleBroken(f"beyond {r.extended_days} days needs a branch manager or head office", kind="forbidden")
        self.extensions.append(
            {"from_days": self.allowed_days, "to_days": to_days, "reason": reason, "by": by, "role": role, "at": at}
        )
        self.allowed_days = to_days
        # A new deadline may be approached and missed again.
        self.warned = [w for w in self.warned if w != "decision"]
        self.history.append({"at": at, "by": by, "action": "extended", "to_days": to_days, "note": reason})

    def start_appraisal(self, *, on: date, by: str, reason: str, at: datetime, today: date | None = None) -> None:
        if self.state not in workflow.OPEN_STATES:
            raise RuleBroken(f"a complaint that is {self.state} is not being handled")
        if self.in_appraisal:
            raise RuleBroken("an external appraisal is already running")
        if on < self.received_on or (self.pauses and on < date.fromisoformat(self.pauses[-1]["end"])):
            raise RuleBroken("an appraisal starts after the complaint was received and after the previous one ended")
        if today is not None and on > today:
            raise RuleBroken(f"an appraisal is recorded when it starts, not ahead ({on} is after today, {today})")
        if today is not None and on < today - timedelta(days=APPRAISAL_BACKDATING_DAYS):
            raise RuleBroken(f"an appraisal is recorded within {APPRAISAL_BACKDATING_DAYS} days of its start")
        due = self.decision_due(today=on)
        if on > due:
            raise RuleBroken(f"the decision was due on {due}: an appraisal pauses a clock that is still running")
        self.pauses.append({"start": on.isoformat(), "end": None, "by": by, "reason": reason})
        self.history.append({"at": at, "by": by, "action": "appraisal_started", "note": reason})

    def end_appraisal(
        self, *, on: date, by: str, at: datetime, today: date | None = None, note: str | None = None
    ) -> None:
        if not self.in_appraisal:
            raise RuleBroken("no external appraisal is running")
        if today is not None and on > today:
            raise RuleBroken(f"an appraisal's end is recorded when it ends ({on} is after today, {today})")
        if on < date.fromisoformat(self.pauses[-1]["start"]):
            raise RuleBroken("the appraisal cannot end before it started")
        self.pauses[-1] = {**self.pauses[-1], "end": on.isoformat()}
        self.warned = [w for w in self.warned if w != "decision"]
        self.history.append({"at": at, "by": by, "action": "appraisal_ended", "note": note})

    # -- the deadline check --------------------------------------------------------------------------------

    def open_targets(self, *, today: date) -> dict[str, date]:
        """Targets not met yet, with their due dates. The decision's clock stands still during an appraisal. The
        regulator asks for a decision *communicated* (处理决定并告知) in time: a resolved case whose complainant has
        not been told keeps its decision target open."""
        if self.state == "resolved" and self.decision_notice is None:
            return {"decision": self.decision_due(today=today)}
        if self.state not in workflow.OPEN_STATES:
            return {}
        due: dict[str, date] = {}
        if self.acknowledged_at is None and self.acknowledge_due:
            due["acknowledge"] = self.acknowledge_due
        if self.first_contact_at is None and self.first_contact_due:
            due["first_contact"] = self.first_contact_due
        if not self.in_appraisal:
            due["decision"] = self.decision_due(today=today)
        return due

    def check_deadlines(self, *, today: date, policy: ComplaintsPolicy, at: datetime) -> None:
        """Warn once per target as it nears; record a breach once per target; escalate the case once, on its first
        breach, to the supervisor role (head office for regulator-forwarded cases)."""
        for target, due in self.open_targets(today=today).items():
            left = (due - today).days
            # Internal targets are a day or two long: they are warned of on the day they fall due.
            window = policy.warn_days_before if target == "decision" else 0
            if 0 <= left <= window and target not in self.warned and target not in self.breached:
                self.warned.append(target)
                self.events.append(
                    DeadlineApproaching(
                        complaint_id=self.complaint_id,
                        customer_id=self.customer_id,
                        target=target,
                        due=due,
                        days_left=left,
                        branch=self.branch,
                        handler=self.handler,
                        provisional=target in self.provisional_targets or None,
                    )
                )
            if left < 0 and target not in self.breached:
                self.breached.append(target)
                escalated_to = None
                if not self.escalated_for_breach:
                    self.escalated_for_breach = True
                    escalated_to = "head_office" if self.channel == "regulator_forwarded" else "branch_manager"
                    if "escalated" in workflow.TRANSITIONS.get(self.state, ()):
                        self.move(
                            "escalated", by="complaints", at=at, note=f"{target} due {due} missed: to {escalated_to}"
                        )
                self.events.append(
                    SlaBreached(
                        complaint_id=self.complaint_id,
                        customer_id=self.customer_id,
                        target=target,
                        due=due,
                        detected_on=today,
                        branch=self.branch,
                        handler=self.handler,
                        escalated_to=escalated_to,
                        provisional=target in self.provisional_targets or None,
                    )
                )

    def _step(self, previous: str | None, to: str, *, by: str, at: datetime, note: str | None) -> None:
        self.history.append({"at": at, "by": by, "action": "state", "from": previous, "to": to, "note": note})
        self.events.append(
            ComplaintStatusChanged(
                complaint_id=self.complaint_id,
                customer_id=self.customer_id,
                from_state=previous,
                to_state=to,
                by=by,
                at=at,
                branch=self.branch,
                category=self.category,
                handler=self.handler,
            )
        )
