"""Deadlines (BRIEF §5.3).

- The regulator's clock, in calendar days from the day of receipt: a decision within 15 days; the handler may
  extend it to 30 for a complex case (with a reason); a further extension to 60 needs a branch manager or head
  office. Days under external appraisal (鉴定) do not count: the due date moves by the paused days.
- Internal targets, in working days after the day of receipt (Chinese public holidays and 调休): acknowledge within
  1, first contact within 2; regulator-forwarded cases and key or vip customers within 0 (the same working day —
  or the next working day when received on a day off) and 1.
- With the policy's `regulator.holiday_rolls_to_next_workday` (off by default), a decision due on a public holiday
  is due on the next working day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from crm_complaints.domain.policy import ComplaintsPolicy, Targets


@dataclass(frozen=True)
class Clock:
    acknowledge_due: date
    first_contact_due: date
    decision_due: date


def decision_due(*, received_on: date, allowed_days: int, paused_days: int) -> date:
    return received_on + timedelta(days=allowed_days + paused_days)


def rolled_past_holiday(
    due: date, *, is_public_holiday: Callable[[date], bool], next_workday: Callable[[date], date]
) -> date:
    """A calendar-day deadline that ends on a public holiday ends on the next working day instead (民法典 art. 203
    style; the policy's `regulator.holiday_rolls_to_next_workday`). An ordinary weekend does not move it."""
    return next_workday(due) if is_public_holiday(due) else due


def internal_due(
    received_on: date,
    working_days: int,
    *,
    add_working_days: Callable[[date, int], date],
    next_workday: Callable[[date], date],
) -> date:
    return add_working_days(received_on, working_days) if working_days else next_workday(received_on)


def targets_for(policy: ComplaintsPolicy, *, priority: bool) -> Targets:
    return policy.priority_targets if priority else policy.targets


def is_priority(*, channel: str, tier: str | None, policy: ComplaintsPolicy) -> bool:
    return channel == "regulator_forwarded" or (tier is not None and tier in policy.priority_tiers)


def paused_days(pauses: list[tuple[date, date | None]], *, today: date) -> int:
    """Days under external appraisal: each pause from its start to its end (or today while it runs), the end day
    not counted."""
    return sum(((end or today) - start).days for start, end in pauses)
