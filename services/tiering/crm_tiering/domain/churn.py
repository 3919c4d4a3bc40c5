"""Churn early warning (流失预警): the rules that say a customer may be about to leave.

A warning is raised with its reasons when a rule starts to hold and cleared when none holds any
more (the customer recovered): an outflow of `outflow_pct` within `outflow_window_days`; a single
fall above `large_drop_amount` for a customer at or above `large_drop_min_aum` (it holds for the
outflow window unless AUM is back to where it was); no AUM change for `dormancy_days`; an open
complaint; a low satisfaction-survey answer (CSAT at most `low_csat_at_most` or NPS at most
`low_nps_at_most`) for `low_satisfaction_days` from the day it was given, unless a later answer is not
low. An outflow warning stays after the fall leaves the window until AUM has recovered: back
above the level that would not have counted as an outflow from that peak.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from crm_tiering.domain.balances import Point, peak_within, value_at
from crm_tiering.domain.policy import ChurnRules

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class LargeDrop:
    as_of: date
    before: Decimal
    after: Decimal


@dataclass(frozen=True)
class SurveyAnswer:
    """A customer's answer to a satisfaction survey: the latest one given is the one that counts."""

    survey_id: str
    answered_at: datetime
    on: date
    """The day it was answered (of `answered_at` as the engagement service gave it)."""
    csat: int | None = None
    nps: int | None = None
    complaint_id: str | None = None
    """The complaint whose closing the survey followed, if any."""

    @property
    def scored(self) -> bool:
        """An answer without a score says nothing about satisfaction."""
        return self.csat is not None or self.nps is not None

    def newer_than(self, other: SurveyAnswer | None) -> bool:
        """Answered after `other` (the same instant: the higher survey id, so the order of arrival does not matter)."""
        return other is None or (_instant(self.answered_at), self.survey_id) > (
            _instant(other.answered_at),
            other.survey_id,
        )

    def low(self, rules: ChurnRules) -> bool:
        return (
            self.csat is not None and rules.low_csat_at_most is not None and self.csat <= rules.low_csat_at_most
        ) or (self.nps is not None and rules.low_nps_at_most is not None and self.nps <= rules.low_nps_at_most)

    def counts_until(self, rules: ChurnRules) -> date:
        """The first day a low answer is no longer a reason."""
        return self.on + timedelta(days=rules.low_satisfaction_days)


def _instant(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def large_drop(previous: Decimal | None, aum: Decimal, as_of: date, rules: ChurnRules) -> LargeDrop | None:
    if previous is None or previous < rules.large_drop_min_aum:
        return None
    if previous - aum > rules.large_drop_amount:
        return LargeDrop(as_of, previous, aum)
    return None


def reasons(
    *,
    series: list[Point],
    as_of: date,
    last_change: date | None,
    drop: LargeDrop | None,
    open_complaints: list[str],
    rules: ChurnRules,
    satisfaction: SurveyAnswer | None = None,
) -> dict[str, str]:
    """The rules that hold on `as_of`, each with a detail a relationship manager can read."""
    found: dict[str, str] = {}
    aum = value_at(series, as_of)
    peak = peak_within(series, end=as_of, days=rules.outflow_window_days)
    if aum is not None and peak is not None and peak.aum > 0:
        fall = (peak.aum - aum) / peak.aum * HUNDRED
        if fall >= rules.outflow_pct:
            found["outflow"] = (
                f"AUM fell {fall.quantize(Decimal('0.1'))}% from {peak.aum} on {peak.as_of} "
                f"to {aum} within {rules.outflow_window_days} days"
            )
    if drop and as_of - drop.as_of < timedelta(days=rules.outflow_window_days) and (aum is None or aum < drop.before):
        found["large_drop"] = f"single fall of {drop.before - drop.after} on {drop.as_of} (from {drop.before})"
    if last_change is not None and (as_of - last_change).days >= rules.dormancy_days:
        found["dormancy"] = f"no change in AUM since {last_change} ({(as_of - last_change).days} days)"
    if rules.complaint and open_complaints:
        found["complaint"] = f"open complaint(s): {', '.join(sorted(open_complaints))}"
    if satisfaction is not None and satisfaction.low(rules) and as_of < satisfaction.counts_until(rules):
        scores = [
            f"{name} {score}/{top}"
            for name, score, top in (("CSAT", satisfaction.csat, 5), ("NPS", satisfaction.nps, 10))
            if score is not None
        ]
        after = f" after complaint {satisfaction.complaint_id}" if satisfaction.complaint_id else ""
        found["low_satisfaction"] = (
            f"{', '.join(scores)} in survey {satisfaction.survey_id}{after} answered on {satisfaction.on}"
        )
    return found


def next_check(
    *,
    series: list[Point],
    as_of: date,
    last_change: date | None,
    drop: LargeDrop | None,
    rules: ChurnRules,
    satisfaction: SurveyAnswer | None = None,
) -> date | None:
    """The next snapshot date on which a rule may start or stop holding without a new balance."""
    dates = []
    peak = peak_within(series, end=as_of, days=rules.outflow_window_days)
    if peak is not None:
        # The peak leaves the window with its last day in force; counting from its date instead made
        # every unchanged balance due again the next day. A peak still in force never leaves.
        ended = next((p.as_of for p in series if p.as_of > peak.as_of), None)
        if ended is not None:
            dates.append(ended + timedelta(days=rules.outflow_window_days - 1))
    if drop is not None:
        dates.append(drop.as_of + timedelta(days=rules.outflow_window_days))
    if last_change is not None:
        dates.append(last_change + timedelta(days=rules.dormancy_days))
    if satisfaction is not None and satisfaction.low(rules):
        dates.append(satisfaction.counts_until(rules))
    future = [d for d in dates if d > as_of]
    return min(future) if future else None


def recovery_level(peak: Decimal, rules: ChurnRules) -> Decimal:
    """AUM above which a customer has recovered from an outflow from `peak`."""
    return (peak * (HUNDRED - rules.outflow_pct) / HUNDRED).quantize(Decimal("0.01"))
