"""The balance rule: core banking sends snapshots; the archive keeps the latest and a daily history.

An older `as_of` never overwrites a newer one (feeds arrive late and out of order). A snapshot for
the same day as the latest is a restatement by core banking and replaces it.

A batch holding several days of one customer (a feed replayed after an outage, a week sent at once)
comes out exactly as the same days sent one a night: every day from the latest position on that
changes the AUM is a change of its own, with the day before it as its previous position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Position:
    aum: Decimal
    as_of: date
    breakdown: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    latest: Position | None
    """The customer's latest position after the snapshots, or None when it did not change."""
    history: list[Position]
    """One row per day seen (the last snapshot of a day wins), older days included."""
    previous: Position | None
    aum_changed: bool
    changes: list[tuple[Position | None, Position]] = field(default_factory=list)
    """(previous position, new position) for each day whose AUM differs from the position before it, in
    `as_of` order: what the day-by-day feed would have published, one by one."""


def apply_snapshots(current: Position | None, snapshots: list[Position]) -> Outcome:
    """Fold snapshots (any order) into the current position."""
    by_day: dict[date, Position] = {}
    for snap in snapshots:  # arrival order: a later restatement of a day wins
        by_day[snap.as_of] = snap
    latest = current
    changes: list[tuple[Position | None, Position]] = []
    for day in sorted(by_day):
        snap = by_day[day]
        if latest is None or snap.as_of >= latest.as_of:
            if latest is None or snap.aum != latest.aum:
                changes.append((latest, snap))
            # A day with the same AUM still moves the position on: the next change's previous day is it.
            latest = snap
    changed = latest is not None and latest != current
    return Outcome(
        latest=latest if changed else None,
        history=[by_day[d] for d in sorted(by_day)],
        previous=current,
        aum_changed=bool(changes),
        changes=changes,
    )
