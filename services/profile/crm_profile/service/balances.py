"""Core-banking balance snapshots into the archive: one database round trip per step per batch."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.corebank import BalanceSnapshot
from crm_contracts.profile import AssetsChanged
from crm_kit.messaging import BatchHandler, Incoming, Rejection
from crm_profile.domain.balances import Position, apply_snapshots
from crm_profile.service.context import Profile


def _position(aum: dict[str, Any] | None) -> Position | None:
    if not aum:
        return None
    return Position(
        aum=aum["amount"], as_of=date.fromisoformat(aum["as_of"]), breakdown=dict(aum.get("breakdown") or {})
    )


async def apply_balance_batch(
    *, p: Profile, session: AsyncClientSession, snapshots: list[tuple[Any, BalanceSnapshot]]
) -> list[tuple[Any, str]]:
    """Apply snapshots inside the caller's transaction. `snapshots` pairs a caller's reference with each
    snapshot; the references of those that cannot be applied come back with the reason."""
    core_nos = sorted({s.core_customer_no for _, s in snapshots})
    customers = await p.store.customers.find(
        {"core_customer_no": {"$in": core_nos}},
        {"_id": 1, "core_customer_no": 1, "aum": 1, "event_seq": 1},
        session=session,
        batch_size=max(1, len(core_nos)),  # the whole batch in one reply
    ).to_list()
    by_core = {c["core_customer_no"]: c for c in customers}
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

    customer_updates: list[UpdateOne] = []
    history_updates: list[UpdateOne] = []
    events = []
    now = datetime.now(UTC)
    for core_no, positions in grouped.items():
        cust = by_core[core_no]
        current = _position(cust.get("aum"))
        outcome = apply_snapshots(current, positions)
        for h in outcome.history:
            history_updates.append(
                UpdateOne(
                    {"_id": f"{cust['_id']}:{h.as_of.isoformat()}"},
                    {
                        "$set": {
                            "customer_id": cust["_id"],
                            "as_of": h.as_of.isoformat(),
                            "aum": h.aum,
                            "breakdown": h.breakdown,
                            "received_at": now,
                        }
                    },
                    upsert=True,
                )
            )
        if outcome.latest is None:
            continue
        latest = outcome.latest
        change: dict[str, Any] = {
            "aum": {
                "amount": latest.aum,
                "as_of": latest.as_of.isoformat(),
                "breakdown": latest.breakdown,
                "updated_at": now,
            }
        }
        if outcome.changes:
            # One event per day whose AUM changed, in `as_of` order, each with the day before it: what the same
            # days sent one a night would have published, so tiering evaluates every day (grace, owners, churn,
            # watch). They take the customer's next event numbers, set by the same write.
            change["event_seq"] = cust.get("event_seq", 0) + len(outcome.changes)
            events += p.numbered(
                [
                    p.event(
                        AssetsChanged(
                            customer_id=cust["_id"],
                            core_customer_no=core_no,
                            as_of=day.as_of,
                            aum=day.aum,
                            previous_aum=prev.aum if prev else None,
                            previous_as_of=prev.as_of if prev else None,
                            breakdown=day.breakdown,
                        ),
                        customer_id=cust["_id"],
                        causationid=getattr(causes[(core_no, day.as_of)], "message_id", None),
                        correlationid=getattr(causes[(core_no, day.as_of)], "correlation_id", None),
                    )
                    for prev, day in outcome.changes
                ],
                event_seq_after=change["event_seq"],
            )
        # Read and write happen in one snapshot transaction: a racing writer makes it conflict and retry.
        customer_updates.append(UpdateOne({"_id": cust["_id"]}, {"$set": change}))
    if customer_updates:
        await p.store.customers.bulk_write(customer_updates, ordered=False, session=session)
    if history_updates:
        await p.store.balances.bulk_write(history_updates, ordered=False, session=session)
    await p.rt.outbox.add(session, events)
    return rejected


def handler(p: Profile) -> BatchHandler[BalanceSnapshot]:
    async def handle(session: AsyncClientSession, items: list[Incoming[BalanceSnapshot]]) -> list[Rejection]:
        rejected = await apply_balance_batch(p=p, session=session, snapshots=[(i, i.payload) for i in items])
        return [Rejection(item=i, reason=r) for i, r in rejected]

    return handle


async def post_balances(*, p: Profile, snapshots: list[BalanceSnapshot]) -> dict[str, Any]:
    async def txn(s: AsyncClientSession) -> list[tuple[Any, str]]:
        return await apply_balance_batch(p=p, session=s, snapshots=list(enumerate(snapshots)))

    rejected = await p.rt.mongo.transaction(txn)
    p.rt.outbox.notify()
    return {
        "accepted": len(snapshots) - len(rejected),
        "rejected": [{"index": i, "core_customer_no": snapshots[i].core_customer_no, "reason": r} for i, r in rejected],
    }
