"""Kafka consumers of the engagement service."""

from __future__ import annotations

from crm_contracts.registry import read_known_event
from crm_contracts.topics import COMPLAINTS_CASES, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from crm_engagement.service import complaint_events, profile_events, tiering_events
from crm_engagement.service.context import Engagement

PROFILE_GROUP = "crm-engagement.profile"
TIERING_GROUP = "crm-engagement.tiering"
COMPLAINTS_GROUP = "crm-engagement.complaints"


def register(e: Engagement) -> None:
    size = e.rt.settings.event_batch_size
    e.rt.consume(
        topic=PROFILE_CUSTOMERS,
        group=PROFILE_GROUP,
        parse=read_known_event,
        handle=profile_events.handler(e),
        max_records=size,
        description="Registrations (branch, owner, birthday month-day, risk assessment), consent per "
        "channel, merges and AUM crossing the idle-funds amount. Invalid events go to crm.profile.customers.dlt.",
    )
    e.rt.consume(
        topic=TIERING_CUSTOMERS,
        group=TIERING_GROUP,
        parse=read_known_event,
        handle=tiering_events.handler(e),
        max_records=size,
        description="Tier changes re-plan follow-ups (upgrade: welcome call), owner changes move open "
        "tasks, churn warnings bring a retention call.",
    )
    e.rt.consume(
        topic=COMPLAINTS_CASES,
        group=COMPLAINTS_GROUP,
        parse=read_known_event,
        handle=complaint_events.handler(e),
        max_records=size,
        description="A closed complaint brings a follow-up call and a satisfaction survey.",
    )
