"""Decisions of the tiering service kept in the archive: who is responsible for a customer, and its tier.

Tiering is the source of both: the archive records them and their history, so data scope follows the
owner at once, but publishes no event of its own and leaves the customer's event numbering (event_seq)
alone. One database round trip per step per batch, like the balances feed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.envelope import CloudEvent, EventData, read_event
from crm_contracts.tiering import OwnerAssigned, TierChanged
from crm_kit.logging import get_logger
from crm_kit.messaging import BatchHandler, Incoming, Rejection
from crm_profile.domain.customer import TierStamp, supersedes
from crm_profile.service.context import Profile

log = get_logger(__name__)

TieringEvent = CloudEvent[OwnerAssigned] | CloudEvent[TierChanged]
# Lifecycle stages and churn warnings are tiering's own view, not the archive's to keep.
APPLIED: dict[str, type[EventData]] = {OwnerAssigned.event_type: OwnerAssigned, TierChanged.event_type: TierChanged}
# The SourceChannel closest to a decision taken by the bank's own tiering process (服务过程); the row's
# `by` and `action` say it was tiering.
CHANNEL = "service_process"
FIELDS = {
    "_id": 1,
    "status": 1,
    "version": 1,
    "owner": 1,
    "owner_assigned_at": 1,
    "tier": 1,
    "tier_since": 1,
    "tier_policy_version": 1,
    "tier_decided_at": 1,
}


def parse_tiering_event(raw: bytes) -> TieringEvent | None:
    """The CloudEvent if the archive acts on its type, None for the other tiering events."""
    return read_event(raw, APPLIED)


def _as_stored(moment: datetime) -> datetime:
    """A time as MongoDB gives it back (UTC, milliseconds), so a decision compares equal to itself
    once stored and a repeat is recognised as one."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _tier_stamp(cust: dict[str, Any]) -> TierStamp | None:
    if cust.get("tier_policy_version") is None:
        return None  # never tiered
    return TierStamp(cust["tier_policy_version"], date.fromisoformat(cust["tier_since"]), cust["tier_decided_at"])


def _history_row(
    cust: dict[str, Any], event: TieringEvent, *, action: str, by: str, field: str, before: Any, after: Any, note: str
) -> dict[str, Any]:
    # The shape of service.records.history_row; the version is the customer's current one, since
    # tiering's decisions do not bump it (like balances, they never conflict with a staff member's PATCH).
    return {
        "customer_id": cust["_id"],
        "version": cust["version"],
        "action": action,
        "at": datetime.now(UTC),
        "by": by,
        "role": None,  # decided in tiering: the event does not say in which role
        "channel": CHANNEL,
        "fields": [field],
        "changes": {field: {"from": before, "to": after}},
        "note": note,
        "event_id": str(event.id),
    }


def _owner_assigned(
    cust: dict[str, Any], event: CloudEvent[OwnerAssigned]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    d = event.data
    assigned_at = _as_stored(d.assigned_at)
    if not supersedes(assigned_at, cust.get("owner_assigned_at")):
        return {}, None
    change = {"owner": d.new_owner, "owner_assigned_at": assigned_at}
    row = None
    if d.new_owner != cust.get("owner"):
        row = _history_row(
            cust,
            event,
            action="owner_assigned",
            by=d.assigned_by,
            field="owner",
            before=cust.get("owner"),
            after=d.new_owner,
            note=d.reason + (f": {d.note}" if d.note else ""),
        )
    return change, row


def _tier_changed(cust: dict[str, Any], event: CloudEvent[TierChanged]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    d = event.data
    stamp = TierStamp(d.policy_version, d.as_of, _as_stored(event.time))
    if not supersedes(stamp, _tier_stamp(cust)):
        return {}, None
    change = {
        "tier": d.to_tier,
        "tier_since": d.as_of.isoformat(),
        "tier_policy_version": d.policy_version,
        "tier_decided_at": stamp.decided_at,
    }
    row = None
    if d.to_tier != cust.get("tier"):
        row = _history_row(
            cust,
            event,
            action="tier_changed",
            by="tiering",
            field="tier",
            before=cust.get("tier"),
            after=d.to_tier,
            note=f"{d.reason}: policy v{d.policy_version}, as of {d.as_of.isoformat()}",
        )
    return change, row


async def apply_tiering_batch(
    *, p: Profile, session: AsyncClientSession, events: list[tuple[Any, TieringEvent]]
) -> list[tuple[Any, str]]:
    """Apply tiering's decisions inside the caller's transaction, in the order given. `events` pairs a
    caller's reference with each event; the references of those that cannot be applied come back with
    the reason. An older decision than the one held is skipped, not refused."""
    ids = sorted({e.data.customer_id for _, e in events})
    by_id = {
        c["_id"]: c
        for c in await p.store.customers.find(
            {"_id": {"$in": ids}}, FIELDS, session=session, batch_size=max(1, len(ids))
        ).to_list()
    }
    rejected: list[tuple[Any, str]] = []
    changes: dict[str, dict[str, Any]] = {}
    history: list[dict[str, Any]] = []
    for ref, event in events:
        cust = by_id.get(event.data.customer_id)
        if cust is None:
            rejected.append((ref, f"customer_id: unknown customer {event.data.customer_id}"))
            continue
        if cust["status"] != "active":
            # A merged record is frozen; its survivor is tiered in its own right.
            log.info(
                "tiering event for an inactive customer skipped",
                customer_id=cust["_id"],
                status=cust["status"],
                event_type=event.type,
            )
            continue
        if isinstance(event.data, OwnerAssigned):
            change, row = _owner_assigned(cust, event)
        else:
            change, row = _tier_changed(cust, event)
        # Later events of the same batch compare against what this one left.
        cust.update(change)
        changes.setdefault(cust["_id"], {}).update(change)
        if row:
            history.append(row)
    updates = [UpdateOne({"_id": cid}, {"$set": change}) for cid, change in changes.items() if change]
    if updates:
        # Read and write happen in one snapshot transaction: a racing PATCH makes it conflict and retry.
        await p.store.customers.bulk_write(updates, ordered=False, session=session)
    if history:
        await p.store.history.insert_many(history, ordered=True, session=session)
    return rejected


def handler(p: Profile) -> BatchHandler[TieringEvent | None]:
    async def handle(session: AsyncClientSession, items: list[Incoming[TieringEvent | None]]) -> list[Rejection]:
        applied = [(i, i.payload) for i in items if i.payload is not None]
        rejected = await apply_tiering_batch(p=p, session=session, events=applied) if applied else []
        return [Rejection(item=i, reason=r) for i, r in rejected]

    return handle
