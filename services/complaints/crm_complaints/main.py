"""The complaints service: intake from every channel, one standard process, regulator deadlines and escalation,
reports (BRIEF §5)."""

from __future__ import annotations

from fastapi import FastAPI
from faststream import FastStream

from crm_complaints.adapters.repositories import SOURCE, MongoComplaints
from crm_complaints.adapters.store import ComplaintsStore
from crm_complaints.domain.policy import DEFAULT_POLICY, ComplaintsPolicy
from crm_complaints.entrypoints import http, subscribers
from crm_complaints.service import calendar, routing, scheduler
from crm_complaints.service.context import Complaints
from crm_complaints.settings import ComplaintsSettings
from crm_contracts.complaints import EVENTS, CalendarChanged
from crm_contracts.topics import COMPLAINTS_CASES, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from crm_kit.calendar_sync import ServiceCalendar
from crm_kit.http import create_http_app
from crm_kit.policies import PolicyVersions
from crm_kit.runtime import Runtime, docs_settings
from crm_kit.unit_of_work import MongoUnitOfWork

DESCRIPTION = """Takes complaints from every channel, walks each through one standard process, keeps the regulator's
deadlines (15 days, 30 extended, 60 with approval; appraisal pauses) and the internal working-day targets, and
escalates before they are missed. Consumes `crm.profile.customers` and `crm.tiering.customers`; publishes on
`crm.complaints.cases`."""


def build(settings: ComplaintsSettings | None = None) -> Complaints:
    settings = settings or ComplaintsSettings()
    rt = Runtime(settings, topics=[COMPLAINTS_CASES, PROFILE_CUSTOMERS, TIERING_CUSTOMERS])
    store = ComplaintsStore(rt.mongo)
    policies = PolicyVersions(store.policies, ComplaintsPolicy, DEFAULT_POLICY, note="defaults of BRIEF §5")
    repositories = MongoComplaints(
        store, policies, outbox_writer=rt.outbox, calendar=rt.calendar, topic=rt.topic(COMPLAINTS_CASES)
    )
    service = Complaints(rt=rt, uow=MongoUnitOfWork(rt.mongo, repositories.bind))
    rt.startup_hooks += [store.ensure_indexes, policies.ensure_default]
    service.scheduler_job = rt.job(
        "deadlines", lambda: scheduler.step(service), interval=settings.scheduler_interval_seconds
    )
    service.unverified_job = rt.job(
        routing.KEY, lambda: routing.unverified_step(service), interval=settings.routing_interval_seconds
    )
    service.calendar = ServiceCalendar(
        rt,
        audit=store.audit,
        topic=rt.topic(COMPLAINTS_CASES),
        event_type=CalendarChanged,
        source=SOURCE,
        recompute=lambda revision: calendar.recompute(service, revision),
    )
    subscribers.register(service)
    rt.publishes(COMPLAINTS_CASES, EVENTS, key="customer id (complaint id for a complainant who is not a customer)")
    return service


def create_app(settings: ComplaintsSettings | None = None) -> FastAPI:
    service = build(settings)
    app = create_http_app(
        service.rt, title="Bank CRM — complaints", description=DESCRIPTION, routers=[http.router, http.calendar_routes]
    )
    app.state.complaints = service
    return app


def asyncapi() -> FastStream:
    """AsyncAPI document: `faststream docs gen --factory crm_complaints.main:asyncapi`."""
    return build(docs_settings(ComplaintsSettings)).rt.asyncapi(
        title="Bank CRM — complaints events", description=DESCRIPTION
    )
