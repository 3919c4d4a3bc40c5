"""Kafka consumers of the engagement service. The batch consumer holds the transaction (the inbox, the events and
the offsets commit together), so each batch's handler binds the repositories to that transaction."""

from __future__ import annotations

from crm_contracts.registry import read_known_event
from crm_contracts.topics import COMPLAINTS_CASES, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from crm_engagement.service import complaint_events, profile_events, tiering_events
from crm_engagement.service.context import Engagement
from crm_kit.context import consumer

PROFILE_GROUP = "crm-engagement.profile"
TIERING_GROUP = "crm-engagement.tiering"
COMPLAINTS_GROUP = "crm-engagement.complaints"


def register(service: Engagement) -> None:
    size = service.rt.settings.event_batch_size
    service.rt.consume(
        topic=PROFILE_CUSTOMERS,
        group=PROFILE_GROUP,
        parse=read_known_event,
        handle=consumer(service, profile_events.apply_profile_events),
        max_records=size,
        description="Registrations (branch, owner, birthday month-day, risk assessment), consent per "
        "channel, merges and AUM crossing the idle-funds amount. Invalid events go to crm.profile.customers.dlt.",
    )
    service.rt.consume(
        topic=TIERING_CUSTOMERS,
        group=TIERING_GROUP,
        parse=read_known_event,
        handle=consumer(service, tiering_events.apply_tiering_events),
        max_records=size,
        description="Tier changes re-plan follow-ups (upgrade: welcome call), owner changes move open "
        "tasks, churn warnings bring a retention call.",
    )
    service.rt.consume(
        topic=COMPLAINTS_CASES,
        group=COMPLAINTS_GROUP,
        parse=read_known_event,
        handle=consumer(service, complaint_events.apply_complaint_events),
        max_records=size,
        description="A closed complaint brings a follow-up call and a satisfaction survey.",
    )
