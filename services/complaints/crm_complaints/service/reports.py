"""The complaints report (BRIEF §5.5): volume by category, channel and branch; deadline compliance; time to resolve;
compensation; repeats; decisions communicated (告知) on time — over the cases received in the period, within the
caller's scope. Every figure is computed from the same list of cases, so the parts add up to the total."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from crm_complaints.service.cases import COMPLAINTS
from crm_complaints.service.context import Complaints
from crm_kit.auth import Principal
from crm_kit.clock import BANK_TZ, local_day


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least pct% of the values at or below it); the median of
    an even count is the mean of the middle two."""
    if not values:
        return None
    ordered = sorted(values)
    if pct == 50 and len(ordered) % 2 == 0:
        mid = len(ordered) // 2
        return round((ordered[mid - 1] + ordered[mid]) / 2, 2)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


async def complaints_report(
    *, service: Complaints, principal: Principal, start: date, end: date, branch: str | None
) -> dict[str, Any]:
    since = datetime.combine(start, time(0), tzinfo=BANK_TZ)
    until = datetime.combine(end + timedelta(days=1), time(0), tzinfo=BANK_TZ)
    cases = await service.uow.reading().complaints.received_between(COMPLAINTS, principal, since, until, branch=branch)
    today = service.today()
    decided = on_time = open_late = 0
    notified = notified_on_time = untold_late = 0
    days_to_resolve: list[float] = []
    compensation = Decimal("0.00")
    for case in cases:
        if case.resolved_at is None and case.state != "closed" and case.decision_due(today=today) < today:
            open_late += 1  # not decided and already late: counts against the on-time rate
        if case.resolved_at is not None:
            decided += 1
            on_time += local_day(case.resolved_at) <= case.decision_due(today=today)
            days_to_resolve.append(round((case.resolved_at - case.received_at).total_seconds() / 86400, 2))
            compensation += (case.resolution or {}).get("compensation") or Decimal("0")
            if case.decision_notice:
                notified += 1
                notified_on_time += bool(case.decision_notice["on_time"])
            elif case.decision_due(today=today) < today:
                untold_late += 1  # decided but not told, and the due day has passed: late whenever it is told
    total = len(cases)
    repeats = sum(1 for case in cases if case.repeat_of)
    return {
        "from": start,
        "to": end,
        "branch": branch,
        "total": total,
        "by_category": dict(sorted(Counter(case.category for case in cases).items())),
        "by_channel": dict(sorted(Counter(case.channel for case in cases).items())),
        "by_branch": dict(sorted(Counter(case.branch or "" for case in cases).items())),
        "by_state": dict(sorted(Counter(case.state for case in cases).items())),
        "decided": decided,
        "decided_on_time": on_time,
        "open_past_due": open_late,
        "on_time_rate": round(on_time / (decided + open_late), 4) if decided + open_late else None,
        # 告知: a decision is notified on time when the complainant was told on or before its due day (the
        # regulator's deadline with extensions and appraisal pauses); decided-but-untold cases past that day count
        # against the rate, those still within it do not count yet.
        "notified": notified,
        "notified_on_time": notified_on_time,
        "awaiting_notice": decided - notified,
        "notified_on_time_rate": (
            round(notified_on_time / (notified + untold_late), 4) if notified + untold_late else None
        ),
        "days_to_resolve": {"median": percentile(days_to_resolve, 50), "p90": percentile(days_to_resolve, 90)},
        "compensation_total": str(compensation.quantize(Decimal("0.01"))),
        "repeats": repeats,
        "repeat_rate": round(repeats / total, 4) if total else None,
    }
