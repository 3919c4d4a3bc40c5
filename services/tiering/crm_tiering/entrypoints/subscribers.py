"""Kafka consumers of the tiering service."""

from __future__ import annotations

from crm_contracts.registry import read_known_event
from crm_contracts.topics import COMPLAINTS_CASES, ENGAGEMENT_TASKS, PROFILE_CUSTOMERS
from crm_tiering.service import complaint_events, engagement_events, profile_events
from crm_tiering.service.context import Tiering

PROFILE_GROUP = "crm-tiering.profile"
COMPLAINTS_GROUP = "crm-tiering.complaints"
ENGAGEMENT_GROUP = "crm-tiering.engagement"


def register(t: Tiering) -> None:
    t.rt.consume(
        topic=PROFILE_CUSTOMERS,
        group=PROFILE_GROUP,
        parse=read_known_event,
        handle=profile_events.handler(t),
        max_records=t.rt.settings.event_batch_size,
        dedupe="handler",
        description="Profile events: registrations (branch, owner, bands) and assets-changed drive tiers, owners, "
        "lifecycle and churn warning. Invalid events go to crm.profile.customers.dlt.",
    )
    t.rt.consume(
        topic=COMPLAINTS_CASES,
        group=COMPLAINTS_GROUP,
        parse=read_known_event,
        handle=complaint_events.handler(t),
        max_records=t.rt.settings.event_batch_size,
        description="Complaint opened / closed: an open complaint is a churn-warning reason.",
    )
    t.rt.consume(
        topic=ENGAGEMENT_TASKS,
        group=ENGAGEMENT_GROUP,
        parse=read_known_event,
        handle=engagement_events.handler(t),
        max_records=t.rt.settings.event_batch_size,
        description="Survey answered: a low CSAT or NPS is a churn-warning reason for a while, a later answer that "
        "is not low clears it. The other engagement events (tasks, contacts, recommendations, points) are skipped.",
    )
