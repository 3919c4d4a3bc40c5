"""What the profile's application functions work with."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from crm_contracts.envelope import CloudEvent, EventData
from crm_contracts.topics import PROFILE_CUSTOMERS
from crm_kit.outbox import OutgoingMessage, event_message, in_sequence
from crm_kit.runtime import Runtime
from crm_profile.adapters.store import ProfileStore
from crm_profile.settings import ProfileSettings

SOURCE = "crm/profile"


@dataclass
class Profile:
    rt: Runtime[ProfileSettings]
    store: ProfileStore

    def event(self, data: EventData, *, customer_id: str, causationid: str | None = None,
              correlationid: str | None = None) -> OutgoingMessage:
        """The outbox message for an event; the correlation id defaults to the request's or message's."""
        ctx = structlog.contextvars.get_contextvars()
        envelope = CloudEvent.wrap(
            data,
            source=SOURCE,
            subject=customer_id,
            correlationid=correlationid or ctx.get("correlation_id"),
            causationid=causationid,
        )
        return event_message(self.rt.topic(PROFILE_CUSTOMERS), envelope)

    @staticmethod
    def numbered(messages: list[OutgoingMessage], *, event_seq_after: int) -> list[OutgoingMessage]:
        """One customer's messages, numbered so the last is the customer's `event_seq` after this
        transaction's write (the counter lives on the customer's document; see crm_kit.outbox)."""
        return in_sequence(messages, first=event_seq_after - len(messages) + 1)
