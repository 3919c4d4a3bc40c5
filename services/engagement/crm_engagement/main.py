"""The engagement service: follow-ups, care moments, contact rules, suitability, surveys and points (BRIEF §4)."""

from __future__ import annotations

from fastapi import FastAPI
from faststream import FastStream

from crm_contracts.engagement import EVENTS
from crm_contracts.topics import COMPLAINTS_CASES, ENGAGEMENT_TASKS, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from crm_engagement.adapters.repositories import bind_to
from crm_engagement.adapters.store import EngagementStore
from crm_engagement.domain.policy import DEFAULT_POLICY, EngagementPolicy
from crm_engagement.entrypoints import http, subscribers
from crm_engagement.service import calendar, scheduler
from crm_engagement.service.context import Engagement
from crm_engagement.settings import EngagementSettings
from crm_kit.http import create_http_app
from crm_kit.policies import PolicyVersions
from crm_kit.runtime import Runtime, docs_settings
from crm_kit.unit_of_work import MongoUnitOfWork

DESCRIPTION = """Makes sure the right person contacts each customer at the right time, for the right reason, and
never in a way the customer refused or the rules forbid: follow-up tasks by tier cadence, care moments, triggers,
contact rules, suitability, surveys and loyalty points. Consumes `crm.profile.customers`, `crm.tiering.customers`
and `crm.complaints.cases`; publishes on `crm.engagement.tasks`."""


def build(settings: EngagementSettings | None = None) -> Engagement:
    settings = settings or EngagementSettings()
    rt = Runtime(settings, topics=[ENGAGEMENT_TASKS, PROFILE_CUSTOMERS, TIERING_CUSTOMERS, COMPLAINTS_CASES])
    store = EngagementStore(rt.mongo)
    versions = PolicyVersions(store.policies, EngagementPolicy, DEFAULT_POLICY, note="defaults of BRIEF §4")
    bind = bind_to(store, rt.outbox, versions)
    service = Engagement(rt=rt, uow=MongoUnitOfWork(rt.mongo, bind))
    rt.startup_hooks += [store.ensure_indexes, versions.ensure_default]
    service.scheduler_job = rt.job(
        "scheduler", lambda: scheduler.step(service), interval=settings.scheduler_interval_seconds
    )
    service.calendar = calendar.service_calendar(service, audit=store.audit)
    subscribers.register(service)
    rt.publishes(ENGAGEMENT_TASKS, EVENTS)
    return service


def create_app(settings: EngagementSettings | None = None) -> FastAPI:
    service = build(settings)
    app = create_http_app(
        service.rt, title="Bank CRM — engagement", description=DESCRIPTION, routers=[http.router, http.calendar_routes]
    )
    app.state.engagement = service
    return app


def asyncapi() -> FastStream:
    """AsyncAPI document: `faststream docs gen --factory crm_engagement.main:asyncapi`."""
    service = build(docs_settings(EngagementSettings))
    return service.rt.asyncapi(title="Bank CRM — engagement events", description=DESCRIPTION)
