"""Decisions of the tiering service kept in the archive: who is responsible for a customer, and its tier.

Tiering is the source of both: the archive records them and their history, so data scope follows the
owner at once, but publishes no event of its own and leaves the customer's event numbering (event_seq)
alone. One database round trip per step per batch, like the balances feed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from crm_contracts.envelope import CloudEvent, EventData, read_event
from crm_contracts.tiering import OwnerAssigned, TierChanged
from crm_kit.logging import get_logger
from crm_kit.messaging import Incoming, Rejection
from crm_profile.adapters.repositories import ProfileRepositories
from crm_profile.domain.customer import Customer, TierStamp, supersedes

log = get_logger(__name__)

TieringEvent = CloudEvent[OwnerAssigned] | CloudEvent[TierChanged]
# Lifecycle stages and churn warnings are tiering's own view, not the archive's to keep.
APPLIED: dict[str, type[EventData]] = {OwnerAssigned.event_type: OwnerAssigned, TierChanged.event_type: TierChanged}
# The SourceChannel closest to a decision taken by the bank's own tiering process (服务过程); the row's
# `by` and `action` say it was tiering.
CHANNEL = "service_process"


def parse_tiering_event(raw: bytes) -> TieringEvent | None:
    """The CloudEvent if the archive acts on its type, None for the other tiering events."""
    return read_event(raw, APPLIED)


def _as_stored(moment: datetime) -> datetime:
    """A time as MongoDB gives it back (UTC, milliseconds), so a decision compares equal to itself
    once stored and a repeat is recognised as one."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _tier_stamp(record: dict[str, Any]) -> TierStamp | None:
    if record.get("tier_policy_version") is None:
        return None  # never tiered
    return TierStamp(record["tier_policy_version"], date.fromisoformat(record["tier_since"]), record["tier_decided_at"])


def _history_row(
    record: dict[str, Any],
    event: TieringEvent,
    *,
    action: str,
    by: str,
    field: str,
    before: Any,
    after: Any,
    note: str,
) -> dict[str, Any]:
    # The shape of service.records.history_row; the version is the customer's current one, since
    # tiering's decisions do not bump it (like balances, they never conflict with a staff member's PATCH).
    return {
        "customer_id": record["_id"],
        "version": record["version"],
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
    record: dict[str, Any], event: CloudEvent[OwnerAssigned]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    decision = event.data
    assigned_at = _as_stored(decision.assigned_at)
    if not supersedes(assigned_at, record.get("owner_assigned_at")):
        return {}, None
    change = {"owner": decision.new_owner, "owner_assigned_at": assigned_at}
    row = None
    if decision.new_owner != record.get("owner"):
        row = _history_row(
            record,
            event,
            action="owner_assigned",
            by=decision.assigned_by,
            field="owner",
            before=record.get("owner"),
            after=decision.new_owner,
            note=decision.reason + (f": {decision.note}" if decision.note else ""),
        )
    return change, row


def _tier_changed(
    record: dict[str, Any], event: CloudEvent[TierChanged]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    decision = event.data
    stamp = TierStamp(decision.policy_version, decision.as_of, _as_stored(event.time))
    if not supersedes(stamp, _tier_stamp(record)):
        return {}, None
    change = {
        "tier": decision.to_tier,
        "tier_since": decision.as_of.isoformat(),
        "tier_policy_version": decision.policy_version,
        "tier_decided_at": stamp.decided_at,
    }
    row = None
    if decision.to_tier != record.get("tier"):
        row = _history_row(
            record,
            event,
            action="tier_changed",
            by="tiering",
            field="tier",
            before=record.get("tier"),
            after=decision.to_tier,
            note=f"{decision.reason}: policy v{decision.policy_version}, as of {decision.as_of.isoformat()}",
        )
    return change, row


async def apply_tiering_batch(
    *, repos: ProfileRepositories, events: list[tuple[Any, TieringEvent]]
) -> list[tuple[Any, str]]:
    """Apply tiering's decisions with the repositories of the caller's transaction, in the order given. `events`
    pairs a caller's reference with each event; the references of those that cannot be applied come back with
    the reason. An older decision than the one held is skipped, not refused."""
    ids = sorted({event.data.customer_id for _, event in events})
    by_id = {customer.id: customer for customer in await repos.customers.tiering_state_of(ids)}
    rejected: list[tuple[Any, str]] = []
    changed: dict[str, Customer] = {}
    history: list[dict[str, Any]] = []
    for ref, event in events:
        customer = by_id.get(event.data.customer_id)
        if customer is None:
            rejected.append((ref, f"customer_id: unknown customer {event.data.customer_id}"))
            continue
        record = customer.record
        if customer.status != "active":
            # A merged record is frozen; its survivor is tiered in its own right.
            log.info(
                "tiering event for an inactive customer skipped",
                customer_id=customer.id,
                status=customer.status,
                event_type=event.type,
            )
            continue
        if isinstance(event.data, OwnerAssigned):
            change, row = _owner_assigned(record, event)
        else:
            change, row = _tier_changed(record, event)
        # Later events of the same batch compare against what this one left.
        customer.set(change)
        changed.setdefault(customer.id, customer)
        if row:
            history.append(row)
    updates = [customer for customer in changed.values() if customer.changes]
    if updates:
        # Read and write happen in one snapshot transaction: a racing PATCH makes it conflict and retry.
        await repos.customers.save_many(updates)
    if history:
        await repos.history.add_many(history)
    return rejected


async def apply_incoming(*, repos: ProfileRepositories, items: list[Incoming[TieringEvent | None]]) -> list[Rejection]:
    """A batch of tiering's events, in the consumer's transaction; the types the archive does not act on (None) are
    passed over, the events that cannot be applied go to the dead letters with the reason."""
    applied = [(item, item.payload) for item in items if item.payload is not None]
    rejected = await apply_tiering_batch(repos=repos, events=applied) if applied else []
    return [Rejection(item=item, reason=reason) for item, reason in rejected]
