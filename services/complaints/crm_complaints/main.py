"""The complaints service: intake from every channel, one standard process, regulator deadlines and escalation,
reports (BRIEF §5)."""

from __future__ import annotations

from typing import Union

from fastapi import FastAPI
from faststream import FastStream
from faststream.specification import AsyncAPI

from crm_complaints.adapters.store import ComplaintsStore
from crm_complaints.domain.policy import DEFAULT_POLICY, ComplaintsPolicy
from crm_complaints.entrypoints import http, subscribers
from crm_complaints.service import scheduler
from crm_complaints.service.context import Complaints
from crm_complaints.settings import ComplaintsSettings
from crm_contracts.complaints import EVENTS
from crm_contracts.envelope import CloudEvent
from crm_contracts.topics import COMPLAINTS_CASES, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from crm_kit.http import create_http_app
from crm_kit.policies import PolicyVersions
from crm_kit.runtime import Runtime

DESCRIPTION = """Takes complaints from every channel, walks each through one standard process, keeps the regulator's
deadlines (15 days, 30 extended, 60 with approval; appraisal pauses) and the internal working-day targets, and
escalates before they are missed. Consumes `crm.profile.customers` and `crm.tiering.customers`; publishes on
`crm.complaints.cases`."""


def build(settings: ComplaintsSettings | None = None) -> Complaints:
    settings = settings or ComplaintsSettings()
    rt = Runtime(settings, topics=[COMPLAINTS_CASES, PROFILE_CUSTOMERS, TIERING_CUSTOMERS])
    store = ComplaintsStore(rt.mongo)
    cx = Complaints(rt=rt, store=store, policies=PolicyVersions(store.policies, ComplaintsPolicy, DEFAULT_POLICY,
                                                                 note="defaults of BRIEF §5"))
    rt.startup_hooks += [store.ensure_indexes, cx.policies.ensure_default]
    cx.scheduler_job = rt.job("deadlines", lambda: scheduler.step(cx), interval=settings.scheduler_interval_seconds)
    subscribers.register(cx)
    rt.broker.publisher(
        rt.topic(COMPLAINTS_CASES), title="crm.complaints.cases",
        description="CloudEvents: " + ", ".join(e.event_type for e in EVENTS) + ". Key: customer id (complaint id for "
        "a complainant who is not a customer).",
        schema=Union[tuple(CloudEvent[e] for e in EVENTS)],  # type: ignore[misc]  # noqa: UP007
    )
    return cx


def create_app(settings: ComplaintsSettings | None = None) -> FastAPI:
    cx = build(settings)
    app = create_http_app(cx.rt, title="Bank CRM — complaints", description=DESCRIPTION, routers=[http.router])
    app.state.complaints = cx
    return app


def asyncapi() -> FastStream:
    """AsyncAPI document: `faststream docs gen --factory crm_complaints.main:asyncapi`."""
    cx = build(ComplaintsSettings(crm_data_key="A" * 43 + "=", crm_lookup_key="A" * 43 + "=", crm_jwt_secret="docs"))
    return FastStream(cx.rt.broker, specification=AsyncAPI(title="Bank CRM — complaints events", version="1.0.0",
                                                         description=DESCRIPTION))
