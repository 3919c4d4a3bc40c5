"""Kafka consumers of the tiering service. The kit's consumer applies each batch in its own transaction (with
its inbox rows and dead letters); the batch's application function works on the repositories bound to it."""

from __future__ import annotations

from crm_contracts.registry import read_known_event
from crm_contracts.topics import COMPLAINTS_CASES, ENGAGEMENT_TASKS, PROFILE_CUSTOMERS
from crm_kit.context import consumer
from crm_tiering.service import complaint_events, engagement_events, profile_events
from crm_tiering.service.context import Tiering

PROFILE_GROUP = "crm-tiering.profile"
COMPLAINTS_GROUP = "crm-tiering.complaints"
ENGAGEMENT_GROUP = "crm-tiering.engagement"


def register(service: Tiering) -> None:
    service.rt.consume(
        topic=PROFILE_CUSTOMERS,
        group=PROFILE_GROUP,
        parse=read_known_event,
        handle=consumer(service, profile_events.apply_profile_events),
        max_records=service.rt.settings.event_batch_size,
        dedupe="handler",
        description="Profile events: registrations (branch, owner, bands) and assets-changed drive tiers, owners, "
        "lifecycle and churn warning. Invalid events go to crm.profile.customers.dlt.",
    )
    service.rt.consume(
        topic=COMPLAINTS_CASES,
        group=COMPLAINTS_GROUP,
        parse=read_known_event,
        handle=consumer(service, complaint_events.apply_complaint_events),
        max_records=service.rt.settings.event_batch_size,
        description="Complaint opened / closed: an open complaint is a churn-warning reason.",
    )
    service.rt.consume(
        topic=ENGAGEMENT_TASKS,
        group=ENGAGEMENT_GROUP,
        parse=read_known_event,
        handle=consumer(service, engagement_events.apply_engagement_events),
        max_records=service.rt.settings.event_batch_size,
        description="Survey answered: a low CSAT or NPS is a churn-warning reason for a while, a later answer that "
        "is not low clears it. The other engagement events (tasks, contacts, recommendations, points) are skipped.",
    )
