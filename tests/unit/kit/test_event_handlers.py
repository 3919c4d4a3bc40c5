"""The kit's one consumer shape: a typed function per event type, the publisher's per-customer sequence as the one
ordering rule, types nobody handles passed over."""

from datetime import UTC, datetime

from crm_contracts.envelope import CloudEvent
from crm_contracts.profile import CustomerUpdated
from crm_contracts.tiering import OwnerAssigned
from crm_kit.event_handlers import EventHandlers
from crm_kit.messaging import Incoming

AT = datetime(2026, 12, 1, 9, tzinfo=UTC)


def updated(customer_id: str, version: int) -> CloudEvent:
    data = CustomerUpdated(
        customer_id=customer_id,
        version=version,
        changed_fields=["email"],
        channel="service_process",
        changed_by="S-T1",
        changed_at=AT,
    )
    return CloudEvent.wrap(data, source="crm/profile", subject=customer_id)


def owner(customer_id: str, new_owner: str) -> CloudEvent:
    data = OwnerAssigned(
        customer_id=customer_id,
        previous_owner=None,
        new_owner=new_owner,
        reason="tier_responsibility",
        assigned_by="tiering",
        assigned_at=AT,
        tier="vip",
    )
    return CloudEvent.wrap(data, source="crm/tiering", subject=customer_id)


def message(event: CloudEvent | None, sequence: int | None = None) -> Incoming:
    return Incoming(
        topic="t", partition=0, offset=0, key=None, value=b"", message_id="m", payload=event, sequence=sequence
    )


async def record_update(log: list, _item, data: CustomerUpdated) -> None:
    log.append(("updated", data.customer_id, data.version))


async def record_owner(log: list, _item, data: OwnerAssigned) -> None:
    log.append(("owner", data.customer_id, data.new_owner))


HANDLERS = EventHandlers[list]().on(CustomerUpdated, record_update).on(OwnerAssigned, record_owner, ordered=True)


async def test_each_type_goes_to_its_function_in_order_and_others_are_passed_over():
    log: list = []
    items = [message(updated("C1", 2)), message(None), message(owner("C1", "S-RM1"), 1), message(updated("C2", 1))]
    applied = await HANDLERS.apply(log, items, seen={})
    assert log == [("updated", "C1", 2), ("owner", "C1", "S-RM1"), ("updated", "C2", 1)]
    assert len(applied) == 3
    assert HANDLERS.subjects(items) == {"C1", "C2"}
    assert HANDLERS.subjects(items, ordered_only=True) == {"C1"}


async def test_an_ordered_event_not_above_the_last_applied_changes_nothing():
    log: list = []
    seen = {"C1": 5}
    items = [
        message(owner("C1", "S-OLD"), 4),  # a dead letter replayed late
        message(owner("C1", "S-NEW"), 6),
        message(owner("C1", "S-NEW"), 6),  # redelivered
        message(owner("C2", "S-RM2"), 1),
    ]
    await HANDLERS.apply(log, items, seen=seen)
    assert log == [("owner", "C1", "S-NEW"), ("owner", "C2", "S-RM2")]
    assert seen == {"C1": 6, "C2": 1}


async def test_unordered_events_and_unnumbered_ones_always_apply():
    log: list = []
    await HANDLERS.apply(log, [message(updated("C1", 1), 1), message(updated("C1", 1), 1)], seen={"C1": 9})
    await HANDLERS.apply(log, [message(owner("C1", "S-RM3"), None)], seen={"C1": 9})
    assert log == [("updated", "C1", 1), ("updated", "C1", 1), ("owner", "C1", "S-RM3")]
