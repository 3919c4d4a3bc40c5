"""One shape for a consumer of another service's events: one typed function per event type, looked up by the event's
type, and one ordering rule, the publisher's per-customer sequence (CloudEvents `sequence`, crm_kit.outbox).

A service declares its handlers once:

    CUSTOMER_EVENTS = (
        EventHandlers[CustomerBatch]()
        .on(TierChanged, tier_changed, ordered=True)
        .on(CustomerRegistered, registered)
    )

and its batch handler loads what the batch needs (the repositories, the customers' last applied sequence numbers)
into the batch object, then calls `CUSTOMER_EVENTS.apply(batch, items, seen=...)`. An `ordered` event whose number is
not above the last one applied for its customer is older or a redelivery and changes nothing; events of a type
nobody handles are passed over (a topic carries more types than one consumer needs). The kit's consumer has already
parsed each message (bad ones to the dead letters) and records the batch in the inbox in the same transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from crm_contracts.envelope import CloudEvent, EventData
from crm_kit.logging import get_logger
from crm_kit.messaging import Incoming

log = get_logger(__name__)

Batch = TypeVar("Batch")
Event = TypeVar("Event", bound=EventData)
Message = Incoming[CloudEvent[Any] | None]


@dataclass(frozen=True)
class _Handler(Generic[Batch]):
    apply: Callable[[Batch, Message, Any], Awaitable[None]]
    ordered: bool


@dataclass(frozen=True)
class EventHandlers(Generic[Batch]):
    handlers: dict[type[EventData], _Handler[Batch]] = field(default_factory=dict)

    def on(
        self, event: type[Event], apply: Callable[[Batch, Message, Event], Awaitable[None]], *, ordered: bool = False
    ) -> EventHandlers[Batch]:
        """Handle `event` with `apply(batch, message, data)`; `ordered`: by the publisher's per-customer sequence."""
        return EventHandlers({**self.handlers, event: _Handler(apply, ordered)})

    def handles(self, item: Message) -> bool:
        return item.payload is not None and type(item.payload.data) in self.handlers

    def subjects(self, items: Iterable[Message], *, ordered_only: bool = False) -> set[str]:
        """The customers the batch's handled (or only its ordered) events are about."""
        return {
            item.payload.subject
            for item in items
            if item.payload is not None
            and type(item.payload.data) in self.handlers
            and (not ordered_only or self.handlers[type(item.payload.data)].ordered)
        }

    async def apply(
        self, batch: Batch, items: Iterable[Message], *, seen: MutableMapping[str, int] | None = None
    ) -> list[Message]:
        """Each handled event through its function, in order; `seen` (customer → last sequence applied) is read and
        moved on for ordered events. The events applied."""
        applied = []
        for item in items:
            event = item.payload
            if event is None or type(event.data) not in self.handlers:
                continue
            handler = self.handlers[type(event.data)]
            if handler.ordered and seen is not None and item.sequence is not None:
                last = seen.get(event.subject, 0)
                if item.sequence <= last:
                    if item.sequence < last:  # not a redelivery: an older event arriving late (a replayed dead letter)
                        log.info(
                            "event.older_than_applied",
                            event_type=event.type,
                            subject=event.subject,
                            sequence=item.sequence,
                            applied=last,
                        )
                    continue  # the publisher's order wins
                seen[event.subject] = item.sequence
            await handler.apply(batch, item, event.data)
            applied.append(item)
        return applied
