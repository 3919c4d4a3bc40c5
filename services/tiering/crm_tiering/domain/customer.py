"""A customer as tiering sees it: balances on snapshot dates, tier, lifecycle stage, churn warning
and owner. Each change records the event it causes in `events`; the service publishes them through
the outbox in the same transaction as the new state."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from crm_contracts.envelope import EventData
from crm_contracts.tiering import (
    ChurnReason,
    ChurnRiskCleared,
    ChurnRiskRaised,
    LifecycleChanged,
    OwnerAssigned,
    TierChanged,
)
from crm_tiering.domain import churn, lifecycle
from crm_tiering.domain.balances import Point, average_daily, peak_within, record
from crm_tiering.domain.churn import LargeDrop, SurveyAnswer
from crm_tiering.domain.policy import Policy
from crm_tiering.domain.tiers import decide

TIER_HISTORY_KEPT = 100


@dataclass(frozen=True)
class WatchEntry:
    """A significant AUM change of a watched customer (20万+), for the owner's morning list."""

    as_of: date
    previous: Decimal
    aum: Decimal
    owner: str | None = None
    tier: str | None = None
    branch: str | None = None
    closed: bool = False
    """Owner, tier and branch are those at the end of the entry's day (set by `close_day`; else: as saved)."""

    @property
    def change(self) -> Decimal:
        return self.aum - self.previous


@dataclass(frozen=True)
class HeldBalance:
    """A balance that arrived before the customer's registration (another topic, a redelivery, a replay can
    overtake it): kept, and evaluated in its turn once the registration arrives."""

    as_of: date
    aum: Decimal
    breakdown: dict[str, Decimal] = field(default_factory=dict)
    seq: int | None = None
    """The profile's number of the event that brought it: applied once the registration is."""


@dataclass
class TieredCustomer:
    customer_id: str
    branch: str | None = None
    owner: str | None = None
    kind: str | None = None
    registered_on: date | None = None
    age_band: str | None = None
    income_band: str | None = None
    aum: Decimal | None = None
    as_of: date | None = None
    breakdown: dict[str, Decimal] = field(default_factory=dict)
    series: list[Point] = field(default_factory=list)
    last_change: date | None = None
    ever_held: Decimal = Decimal(0)
    tier: str | None = None
    tier_since: date | None = None
    policy_version: int | None = None
    below_since: date | None = None
    tier_history: list[dict[str, Any]] = field(default_factory=list)
    stage: str | None = None
    stage_since: date | None = None
    churn: dict[str, str] = field(default_factory=dict)
    churn_since: date | None = None
    drop: LargeDrop | None = None
    open_complaints: list[str] = field(default_factory=list)
    satisfaction: SurveyAnswer | None = None
    """The latest scored survey answer (low or not): a low one is a churn reason for a while."""
    evaluated_on: date | None = None
    due_on: date | None = None
    merged_into: str | None = None
    profile_seq: int = 0
    outflow_from: Decimal | None = None
    """Peak AUM of the outflow being warned about, until the customer recovers."""
    """Number (CloudEvents sequence) of the last profile event applied: a redelivered one is not applied again."""
    complaints_seq: int = 0
    """Number (CloudEvents sequence) of the last complaints event applied: a redelivered or older one (a dead
    letter replayed late) is not applied, so a complaint closed is not opened again by its own late opening."""
    held_balances: list[HeldBalance] = field(default_factory=list)
    """Balances that overtook the registration, in `as_of` order, until it arrives."""
    core_customer_no: str | None = None
    """The core banking customer number (from the registration and every balance): what the automatic owner
    choice ranks by, the same on every run of the same workload, where the CRM's own id is minted afresh."""
    awaiting_owner: bool = False
    """Entered a tier when its branch had no active staff in the tier's roles: handed over as soon as someone
    who may own it joins (crm_tiering.service.staff.hand_over_waiting)."""
    held_on: date | None = None
    """Latest date of a complaint or survey answer kept before the registration: the churn warning it may raise
    is evaluated on it once the customer is registered (its event then names branch and owner)."""
    # Not stored: what this unit of work caused.
    events: list[EventData] = field(default_factory=list)
    tier_entered: bool = False
    watches: list[WatchEntry] = field(default_factory=list)
    """Every significant change of this unit of work, one per day (a catch-up feed brings several)."""

    @property
    def registered(self) -> bool:
        """Whether the profile's registration has arrived: it gives the branch, which a record made by an event
        that overtook it (a complaint, a survey answer, a balance) does not have."""
        return self.branch is not None

    @property
    def choice_key(self) -> str:
        """What the automatic owner choice ranks this customer by (crm_tiering.domain.staff.choose_owner)."""
        return self.core_customer_no or self.customer_id

    # -- what happens to a customer -------------------------------------------------------------

    def observe_balance(
        self, *, as_of: date, aum: Decimal, breakdown: dict[str, Decimal], policy: Policy, version: int
    ) -> bool:
        """A snapshot reported by the profile. An older one than the latest changes nothing."""
        if self.merged_into or (self.as_of is not None and as_of < self.as_of):
            return False
        previous = self.aum
        self.series = record(self.series, Point(as_of, aum), keep_days=policy.history_days)
        if previous is None or aum != previous:
            self.last_change = as_of
        self.drop = churn.large_drop(previous, aum, as_of, policy.churn) or self.drop
        self.ever_held = max(self.ever_held, aum)
        self.aum, self.as_of, self.breakdown = aum, as_of, dict(breakdown)
        if previous is not None and _significant(previous, aum, policy):
            self.watches = [*(w for w in self.watches if w.as_of != as_of), WatchEntry(as_of, previous, aum)]
        self.evaluate(on=as_of, policy=policy, version=version)
        return True

    def close_day(self) -> None:
        """The day's owner and tier go on its watch entries, as the day's own save would have written them when
        the days arrive one a night (a later day of the same batch may hand the customer to someone else)."""
        self.watches = [
            w if w.closed else replace(w, owner=self.owner, tier=self.tier, branch=self.branch, closed=True)
            for w in self.watches
        ]

    def hold_balance(self, *, as_of: date, aum: Decimal, breakdown: dict[str, Decimal], seq: int | None = None) -> None:
        """A balance for a customer whose registration has not arrived: kept for then (a later one for the same
        day is a restatement and replaces it; the same one again changes nothing)."""
        held = {h.as_of: h for h in self.held_balances}
        if as_of in held and seq is not None and (held[as_of].seq or 0) > seq:
            return  # an older number than the one kept for the day: a redelivery of what was restated since
        held[as_of] = HeldBalance(as_of, aum, dict(breakdown), seq)
        self.held_balances = [held[d] for d in sorted(held)]

    def take_held_balances(self) -> list[HeldBalance]:
        held, self.held_balances = self.held_balances, []
        return held

    def catch_up_step(self, *, before: date, policy: Policy, version: int) -> bool:
        """Evaluate the next date that came due before snapshot date `before` on that date, as the nightly sweep
        would have when the days arrive one a night, so a catch-up feed (or a sweep that had not run yet) gives
        the same tier, grace end, lifecycle and warnings on the same dates. False when nothing came due."""
        if self.merged_into or self.due_on is None or self.due_on >= before or self.as_of is None:
            return False
        self.evaluate(on=self.due_on, policy=policy, version=version)
        return True

    def evaluate(self, *, on: date, policy: Policy, version: int, policy_changed: bool = False) -> None:
        """Apply the rules as of snapshot date `on` (a balance arrived, a date came due, or a new policy)."""
        if self.merged_into:
            return
        on = max(on, self.evaluated_on or on)
        self.evaluated_on = on
        self._evaluate_tier(on, policy, version, policy_changed)
        self.policy_version = version
        self._evaluate_lifecycle(on, policy, version)
        self._evaluate_churn(on, policy)
        self.due_on = self._next_check(on, policy)

    def complaint_opened(self, complaint_id: str, *, on: date, policy: Policy) -> None:
        if complaint_id not in self.open_complaints:
            self.open_complaints = [*self.open_complaints, complaint_id]
        self._churn_or_hold(on, policy)

    def complaint_closed(self, complaint_id: str, *, on: date, policy: Policy) -> None:
        self.open_complaints = [c for c in self.open_complaints if c != complaint_id]
        self._churn_or_hold(on, policy)

    def registration_arrived(self, *, policy: Policy) -> None:
        """Complaints and survey answers kept before the registration now count, as they would have had it
        arrived first (balances held are replayed by the service, which hands out owners between them)."""
        if self.held_on is not None:
            on, self.held_on = self.held_on, None
            self._evaluate_churn(max(on, self.evaluated_on or on), policy)
            self.due_on = self._next_check(self.evaluated_on or on, policy)

    def _churn_or_hold(self, on: date, policy: Policy) -> None:
        if not self.registered:
            # No branch or owner yet: a warning now would name nobody. Evaluated when the registration arrives.
            self.held_on = max(on, self.held_on or on)
            return
        self._evaluate_churn(max(on, self.evaluated_on or on), policy)

    def survey_answered(self, answer: SurveyAnswer, *, policy: Policy) -> bool:
        """A satisfaction-survey answer. Only the latest counts: one answered before the answer kept (it arrived
        late, or again) changes nothing, nor does one without a score. A low one raises the warning until
        `low_satisfaction_days` have passed (the due sweep clears it then); a later one that is not low clears it."""
        if self.merged_into or not answer.scored or not answer.newer_than(self.satisfaction):
            return False
        self.satisfaction = answer
        if not self.registered:
            self._churn_or_hold(answer.on, policy)
            return True
        self._evaluate_churn(max(answer.on, self.evaluated_on or answer.on), policy)
        # From the last evaluation, as it was: the other dates due stay as they were.
        self.due_on = self._next_check(self.evaluated_on or answer.on, policy)
        return True

    def assign_owner(self, new_owner: str, *, reason: str, by: str, at: datetime, note: str | None = None) -> bool:
        if new_owner == self.owner:
            return False
        self.events.append(
            OwnerAssigned(
                customer_id=self.customer_id,
                branch=self.branch,
                previous_owner=self.owner,
                new_owner=new_owner,
                reason=reason,
                tier=self.tier,
                assigned_by=by,
                assigned_at=at,
                note=note,
            )
        )
        self.owner = new_owner
        return True

    # -- rules ------------------------------------------------------------------------------------

    def basis(self, on: date, policy: Policy) -> Decimal | None:
        if policy.basis == "average_daily":
            return average_daily(self.series, end=on, days=policy.average_days)
        return self.aum

    def _evaluate_tier(self, on: date, policy: Policy, version: int, policy_changed: bool) -> None:
        basis = self.basis(on, policy)
        if basis is None:
            return
        d = decide(
            current=self.tier,
            below_since=self.below_since,
            basis=basis,
            as_of=on,
            policy=policy,
            policy_changed=policy_changed,
        )
        self.below_since = d.below_since
        if d.reason is None:
            return
        self.events.append(
            TierChanged(
                customer_id=self.customer_id,
                branch=self.branch,
                from_tier=self.tier,
                to_tier=d.tier,
                reason=d.reason,
                policy_version=version,
                as_of=on,
                basis_amount=basis,
                basis=policy.basis,
            )
        )
        self.tier_history = [
            *self.tier_history,
            {
                "from": self.tier,
                "to": d.tier,
                "reason": d.reason,
                "policy_version": version,
                "as_of": on.isoformat(),
                "basis_amount": basis,
                "basis": policy.basis,
            },
        ][-TIER_HISTORY_KEPT:]
        self.tier, self.tier_since = d.tier, on
        self.tier_entered = d.tier is not None

    def _evaluate_lifecycle(self, on: date, policy: Policy, version: int) -> None:
        if not self.series:
            return
        stage, why = lifecycle.stage(
            series=self.series,
            as_of=on,
            registered_on=self.registered_on,
            last_change=self.last_change,
            ever_held=self.ever_held,
            rules=policy.lifecycle,
        )
        if stage != self.stage:
            self.events.append(
                LifecycleChanged(
                    customer_id=self.customer_id,
                    from_stage=self.stage,
                    to_stage=stage,
                    as_of=on,
                    reasons=why,
                    policy_version=version,
                )
            )
            self.stage, self.stage_since = stage, on

    def _evaluate_churn(self, on: date, policy: Policy) -> None:
        now = churn.reasons(
            series=self.series,
            as_of=on,
            last_change=self.last_change,
            drop=self.drop,
            open_complaints=self.open_complaints,
            rules=policy.churn,
            satisfaction=self.satisfaction,
        )
        if "outflow" in now:
            peak = peak_within(self.series, end=on, days=policy.churn.outflow_window_days)
            self.outflow_from = max(self.outflow_from or Decimal(0), peak.aum if peak else Decimal(0))
        elif (
            self.outflow_from is not None
            and self.aum is not None
            and self.aum <= (level := churn.recovery_level(self.outflow_from, policy.churn))
        ):
            # The fall has left the window but the money has not come back: still a warning.
            now["outflow"] = f"AUM {self.aum} not back above {level} since falling from {self.outflow_from}"
        else:
            self.outflow_from = None
        added = now.keys() - self.churn.keys()
        resolved = self.churn.keys() - now.keys()
        if added:
            self.events.append(
                ChurnRiskRaised(
                    customer_id=self.customer_id,
                    branch=self.branch,
                    owner=self.owner,
                    as_of=on,
                    aum=self.aum,
                    reasons=[ChurnReason(rule=rule, detail=detail) for rule, detail in sorted(now.items())],
                )
            )
            self.churn_since = self.churn_since if self.churn else on
        elif resolved and not now:
            self.events.append(ChurnRiskCleared(customer_id=self.customer_id, as_of=on, resolved=sorted(resolved)))
            self.churn_since = None
        self.churn = now
        if self.drop and on - self.drop.as_of >= timedelta(days=policy.churn.outflow_window_days):
            self.drop = None

    def _next_check(self, on: date, policy: Policy) -> date | None:
        dates = [
            self.below_since + timedelta(days=policy.downgrade_grace_days) if self.below_since else None,
            churn.next_check(
                series=self.series,
                as_of=on,
                last_change=self.last_change,
                drop=self.drop,
                rules=policy.churn,
                satisfaction=self.satisfaction,
            ),
            lifecycle.next_check(
                series=self.series,
                as_of=on,
                registered_on=self.registered_on,
                last_change=self.last_change,
                rules=policy.lifecycle,
            ),
        ]
        if policy.basis == "average_daily" and self.series and self.basis(on, policy) != self.aum:
            dates.append(on + timedelta(days=1))  # 日均 moves every day until it reaches the balance
        future = [d for d in dates if d is not None and d > on]
        return min(future) if future else None


def _significant(previous: Decimal, aum: Decimal, policy: Policy) -> bool:
    rules = policy.watch
    if max(previous, aum) < rules.min_aum or previous == aum:
        return False
    change = abs(aum - previous)
    pct = change / previous * 100 if previous else Decimal(100)
    return change >= rules.min_change_amount or pct >= rules.min_change_pct
