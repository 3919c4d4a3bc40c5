"""Core-banking balance snapshots into the archive: one database round trip per step per batch."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from crm_contracts.corebank import BalanceSnapshot
from crm_contracts.profile import AssetsChanged
from crm_kit.messaging import Incoming, Rejection
from crm_kit.outbox import OutgoingMessage
from crm_profile.adapters.repositories import ProfileRepositories
from crm_profile.domain.balances import Position, apply_snapshots
from crm_profile.domain.customer import Customer
from crm_profile.service.context import Profile


def _position(aum: dict[str, Any] | None) -> Position | None:
    if not aum:
        return None
    return Position(
        aum=aum["amount"], as_of=date.fromisoformat(aum["as_of"]), breakdown=dict(aum.get("breakdown") or {})
    )


async def apply_balance_batch(
    *, service: Profile, repos: ProfileRepositories, snapshots: list[tuple[Any, BalanceSnapshot]]
) -> list[tuple[Any, str]]:
    """Apply snapshots with the repositories of the caller's transaction. `snapshots` pairs a caller's reference
    with each snapshot; the references of those that cannot be applied come back with the reason."""
    core_nos = sorted({snap.core_customer_no for _, snap in snapshots})
    customers = await repos.customers.positions_of(core_nos)
    by_core = {customer.record["core_customer_no"]: customer for customer in customers}
    rejected: list[tuple[Any, str]] = []
    grouped: dict[str, list[Position]] = defaultdict(list)
    causes: dict[tuple[str, date], Any] = {}
    """(core customer no, day) -> the reference of the snapshot that gave the day (the last one wins)"""
    for ref, snap in snapshots:
        if snap.core_customer_no not in by_core:
            rejected.append((ref, f"core_customer_no: unknown core banking customer {snap.core_customer_no}"))
            continue
        total = sum(snap.breakdown.values(), Decimal("0"))
        if snap.breakdown and total != snap.aum:
            rejected.append((ref, f"breakdown: parts add up to {total}, not aum {snap.aum}"))
            continue
        grouped[snap.core_customer_no].append(
            Position(snap.aum, snap.as_of, {str(part): value for part, value in snap.breakdown.items()})
        )
        causes[(snap.core_customer_no, snap.as_of)] = ref

    changed: list[Customer] = []
    days: list[dict[str, Any]] = []
    events: list[OutgoingMessage] = []
    now = datetime.now(UTC)
    for core_no, positions in grouped.items():
        customer = by_core[core_no]
        current = _position(customer.record.get("aum"))
        outcome = apply_snapshots(current, positions)
        for day in outcome.history:
            days.append(
                {
                    "customer_id": customer.id,
                    "as_of": day.as_of.isoformat(),
                    "aum": day.aum,
                    "breakdown": day.breakdown,
                    "received_at": now,
                }
            )
        if outcome.latest is None:
            continue
        latest = outcome.latest
        customer.set(
            {
                "aum": {
                    "amount": latest.aum,
                    "as_of": latest.as_of.isoformat(),
                    "breakdown": latest.breakdown,
                    "updated_at": now,
                }
            }
        )
        # One event per day whose AUM changed, in `as_of` order, each with the day before it: what the same days
        # sent one a night would have published, so tiering evaluates every day (grace, owners, churn, watch).
        # They take the customer's next event numbers, set by the same write.
        for prev, day in outcome.changes:
            cause = causes[(core_no, day.as_of)]
            customer.raise_event(
                AssetsChanged(
                    customer_id=customer.id,
                    core_customer_no=core_no,
                    as_of=day.as_of,
                    aum=day.aum,
                    previous_aum=prev.aum if prev else None,
                    previous_as_of=prev.as_of if prev else None,
                    breakdown=day.breakdown,
                ),
                causationid=getattr(cause, "message_id", None),
                correlationid=getattr(cause, "correlation_id", None),
            )
        events += service.messages(customer)
        # Read and write happen in one snapshot transaction: a racing writer makes it conflict and retry.
        changed.append(customer)
    if changed:
        await repos.customers.save_many(changed)
    if days:
        await repos.balances.record_days(days)
    await repos.outbox.add(events)
    return rejected


async def apply_incoming(
    *, service: Profile, repos: ProfileRepositories, items: list[Incoming[BalanceSnapshot]]
) -> list[Rejection]:
    """A batch of the core-banking feed, in the consumer's transaction: the snapshots that cannot be applied go to
    the dead letters with the reason."""
    rejected = await apply_balance_batch(
        service=service, repos=repos, snapshots=[(item, item.payload) for item in items]
    )
    return [Rejection(item=item, reason=reason) for item, reason in rejected]


async def post_balances(*, service: Profile, snapshots: list[BalanceSnapshot]) -> dict[str, Any]:
    async def work(repos: ProfileRepositories) -> list[tuple[Any, str]]:
        return await apply_balance_batch(service=service, repos=repos, snapshots=list(enumerate(snapshots)))

    rejected = await service.uow.run(work)
    service.published()
    return {
        "accepted": len(snapshots) - len(rejected),
        "rejected": [{"index": i, "core_customer_no": snapshots[i].core_customer_no, "reason": r} for i, r in rejected],
    }
