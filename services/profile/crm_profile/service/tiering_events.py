"""Decisions of the tiering service kept in the archive: who is responsible for a customer, and its tier.

Tiering is the source of both: the archive records them and their history, so data scope follows the
owner at once, but publishes no event of its own and leaves the customer's event numbering (event_seq)
alone. The decisions are applied in the order tiering took them, its per-customer sequence (CloudEvents
`sequence`): the last one applied is kept on the customer (`tiering_seq`), so a redelivery or an older decision
(a dead letter replayed late) changes nothing, as in tiering's other consumers. One database round trip per step
per batch, like the balances feed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crm_contracts.envelope import CloudEvent, EventData, read_event
from crm_contracts.tiering import OwnerAssigned, TierChanged
from crm_kit.event_handlers import EventHandlers, Message
from crm_kit.logging import get_logger
from crm_kit.messaging import Rejection
from crm_profile.adapters.repositories import ProfileRepositories
from crm_profile.domain.customer import Customer
from crm_profile.service.context import Profile

log = get_logger(__name__)

TieringEvent = CloudEvent[OwnerAssigned] | CloudEvent[TierChanged]
# The SourceChannel closest to a decision taken by the bank's own tiering process (服务过程); the row's
# `by` and `action` say it was tiering.
CHANNEL = "service_process"


@dataclass
class TieringBatch:
    """What one batch of tiering's decisions works on: the customers it is about, as loaded, and what it changes."""

    customers: dict[str, Customer]
    changed: dict[str, Customer] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def decided_for(self, item: Message, data: OwnerAssigned | TierChanged) -> Customer | None:
        """The active customer a decision is about; an unknown one is refused, a merged one passed over."""
        customer = self.customers.get(data.customer_id)
        if customer is None:
            self.rejected.append(Rejection(item=item, reason=f"customer_id: unknown customer {data.customer_id}"))
            return None
        if customer.status != "active":
            # A merged record is frozen; its survivor is tiered in its own right.
            log.info(
                "tiering event for an inactive customer skipped",
                customer_id=customer.id,
                status=customer.status,
                event_type=data.event_type,
            )
            return None
        return customer

    def record(self, customer: Customer, item: Message, change: dict[str, Any], row: dict[str, Any] | None) -> None:
        """Set what a decision changed, with the tiering sequence it reached when numbered (an unnumbered one, a
        hand-made replay, is applied as it comes and leaves the numbering alone); later decisions of the same batch
        see what this one left."""
        if item.sequence is not None:
            change = {**change, "tiering_seq": item.sequence}
        customer.set(change)
        self.changed.setdefault(customer.id, customer)
        if row:
            self.history.append(row)


def _history_row(
    record: dict[str, Any],
    event: CloudEvent[Any],
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


async def owner_assigned(batch: TieringBatch, item: Message, decision: OwnerAssigned) -> None:
    """Tiering gave the customer to a new owner: data scope follows at once."""
    customer = batch.decided_for(item, decision)
    if customer is None or item.payload is None:
        return
    record = customer.record
    row = None
    if decision.new_owner != record.get("owner"):
        row = _history_row(
            record,
            item.payload,
            action="owner_assigned",
            by=decision.assigned_by,
            field="owner",
            before=record.get("owner"),
            after=decision.new_owner,
            note=decision.reason + (f": {decision.note}" if decision.note else ""),
        )
    batch.record(customer, item, {"owner": decision.new_owner, "owner_assigned_at": decision.assigned_at}, row)


async def tier_changed(batch: TieringBatch, item: Message, decision: TierChanged) -> None:
    """Tiering counted the customer in a tier, under a policy, as of a snapshot day."""
    customer = batch.decided_for(item, decision)
    if customer is None or item.payload is None:
        return
    record = customer.record
    row = None
    if decision.to_tier != record.get("tier"):
        row = _history_row(
            record,
            item.payload,
            action="tier_changed",
            by="tiering",
            field="tier",
            before=record.get("tier"),
            after=decision.to_tier,
            note=f"{decision.reason}: policy v{decision.policy_version}, as of {decision.as_of.isoformat()}",
        )
    change = {
        "tier": decision.to_tier,
        "tier_since": decision.as_of.isoformat(),
        "tier_policy_version": decision.policy_version,
        "tier_decided_at": item.payload.time,
    }
    batch.record(customer, item, change, row)


# Lifecycle stages and churn warnings are tiering's own view, not the archive's to keep.
TIERING_EVENTS = (
    EventHandlers[TieringBatch]()
    .on(OwnerAssigned, owner_assigned, ordered=True)
    .on(TierChanged, tier_changed, ordered=True)
)
APPLIED: dict[str, type[EventData]] = {event.event_type: event for event in TIERING_EVENTS.handlers}


def parse_tiering_event(raw: bytes) -> TieringEvent | None:
    """The CloudEvent if the archive acts on its type, None for the other tiering events."""
    return read_event(raw, APPLIED)


async def apply_tiering_events(
    *,
    service: Profile,  # noqa: ARG001 - every consumer's one signature (crm_kit.context.ApplyBatch)
    repos: ProfileRepositories,
    items: list[Message],
) -> list[Rejection]:
    """A batch of tiering's decisions, in the consumer's transaction and in the order given: the customers are loaded
    first, each decision goes to its function, what changed is saved once. The types the archive does not act on
    (None) are passed over; the decisions that cannot be applied go to the dead letters with the reason."""
    ids = sorted({item.payload.data.customer_id for item in items if item.payload and TIERING_EVENTS.handles(item)})
    if not ids:
        return []
    customers = await repos.customers.tiering_state_of(ids)
    batch = TieringBatch(customers={customer.id: customer for customer in customers})
    seen = {customer.id: int(customer.record.get("tiering_seq", 0)) for customer in customers}
    await TIERING_EVENTS.apply(batch, items, seen=seen)
    updates = [customer for customer in batch.changed.values() if customer.changes]
    if updates:
        # Read and write happen in one snapshot transaction: a racing PATCH makes it conflict and retry.
        await repos.customers.save_many(updates)
    if batch.history:
        await repos.history.add_many(batch.history)
    return batch.rejected
