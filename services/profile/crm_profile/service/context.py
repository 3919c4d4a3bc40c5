"""What the profile's application functions work with: the kit's service context (runtime, the unit of work whose
repositories own every query: crm_profile.adapters.repositories) and the sealing of sensitive fields."""

from __future__ import annotations

from dataclasses import dataclass

from crm_contracts.envelope import EventData
from crm_contracts.topics import PROFILE_CUSTOMERS
from crm_kit.context import ServiceContext
from crm_kit.outbox import OutgoingMessage, in_sequence, outgoing_event
from crm_profile.adapters.repositories import ProfileRepositories
from crm_profile.adapters.store import SensitiveFields
from crm_profile.domain.customer import Customer
from crm_profile.settings import ProfileSettings

SOURCE = "crm/profile"


@dataclass
class Profile(ServiceContext[ProfileSettings, ProfileRepositories]):
    sensitive: SensitiveFields
    """How sensitive values are sealed, looked up and opened (the cipher's keys)."""

    def event(
        self, data: EventData, *, customer_id: str, causationid: str | None = None, correlationid: str | None = None
    ) -> OutgoingMessage:
        return outgoing_event(
            self.rt.topic(PROFILE_CUSTOMERS),
            data,
            source=SOURCE,
            customer_id=customer_id,
            causationid=causationid,
            correlationid=correlationid,
        )

    def messages(self, customer: Customer, *, event_seq_after: int | None = None) -> list[OutgoingMessage]:
        """The events a customer raised in this unit of work, as messages numbered up to `event_seq_after` (by
        default the event number the customer reached)."""
        return self.numbered(
            [
                self.event(
                    raised.data,
                    customer_id=customer.id,
                    causationid=raised.causationid,
                    correlationid=raised.correlationid,
                )
                for raised in customer.events
            ],
            event_seq_after=customer.event_seq if event_seq_after is None else event_seq_after,
        )

    @staticmethod
    def numbered(messages: list[OutgoingMessage], *, event_seq_after: int) -> list[OutgoingMessage]:
        """One customer's messages, numbered so the last is the customer's `event_seq` after this
        transaction's write (the counter lives on the customer's document; see crm_kit.outbox)."""
        return in_sequence(messages, first=event_seq_after - len(messages) + 1)
