"""Kafka consumers of the complaints service."""

from __future__ import annotations

from crm_complaints.service import customer_events
from crm_complaints.service.context import Complaints
from crm_contracts.registry import read_known_event
from crm_contracts.topics import PROFILE_CUSTOMERS, TIERING_CUSTOMERS

PROFILE_GROUP = "crm-complaints.profile"
TIERING_GROUP = "crm-complaints.tiering"


def register(service: Complaints) -> None:
    size = service.rt.settings.event_batch_size
    service.rt.consume(
        topic=PROFILE_CUSTOMERS,
        group=PROFILE_GROUP,
        parse=read_known_event,
        handle=customer_events.handler(service),
        max_records=size,
        description="Registrations: the customer's branch and owner (data scope).",
    )
    service.rt.consume(
        topic=TIERING_CUSTOMERS,
        group=TIERING_GROUP,
        parse=read_known_event,
        handle=customer_events.handler(service),
        max_records=size,
        description="Tier changes (key and vip customers get priority) and owner changes.",
    )
