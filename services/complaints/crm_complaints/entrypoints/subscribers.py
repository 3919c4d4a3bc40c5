"""Kafka consumers of the complaints service."""

from __future__ import annotations

from crm_complaints.service import profile_events, tiering_events
from crm_complaints.service.context import Complaints
from crm_contracts.registry import read_known_event
from crm_contracts.topics import PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from crm_kit.context import consumer

PROFILE_GROUP = "crm-complaints.profile"
TIERING_GROUP = "crm-complaints.tiering"


def register(service: Complaints) -> None:
    size = service.rt.settings.event_batch_size
    service.rt.consume(
        topic=PROFILE_CUSTOMERS,
        group=PROFILE_GROUP,
        parse=read_known_event,
        handle=consumer(service, profile_events.apply_profile_events),
        max_records=size,
        description="Registrations: the customer's branch and owner (data scope); merges: cases follow the survivor.",
    )
    service.rt.consume(
        topic=TIERING_CUSTOMERS,
        group=TIERING_GROUP,
        parse=read_known_event,
        handle=consumer(service, tiering_events.apply_tiering_events),
        max_records=size,
        description="Tier changes (key and vip customers get priority) and owner changes.",
    )
