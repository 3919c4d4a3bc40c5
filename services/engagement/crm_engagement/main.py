"""The engagement service: follow-ups, care moments, contact rules, suitability, surveys and points (BRIEF §4)."""

from __future__ import annotations

from fastapi import FastAPI
from faststream import FastStream

from crm_contracts.engagement import EVENTS
from crm_contracts.topics import COMPLAINTS_CASES, ENGAGEMENT_TASKS, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from crm_engagement.adapters.store import EngagementStore
from crm_engagement.domain.policy import DEFAULT_POLICY, EngagementPolicy
from crm_engagement.entrypoints import http, subscribers
from crm_engagement.service import calendar, policies, scheduler
from crm_engagement.service.context import Engagement
from crm_engagement.settings import EngagementSettings
from crm_kit.http import create_http_app
from crm_kit.policies import PolicyVersions
from crm_kit.runtime import Runtime, docs_settings

DESCRIPTION = """Makes sure the right person contacts each customer at the right time, for the right reason, and
never in a way the customer refused or the rules forbid: follow-up tasks by tier cadence, care moments, triggers,
contact rules, suitability, surveys and loyalty points. Consumes `crm.profile.customers`, `crm.tiering.customers`
and `crm.complaints.cases`; publishes on `crm.engagement.tasks`."""


def build(settings: EngagementSettings | None = None) -> Engagement:
    settings = settings or EngagementSettings()
    rt = Runtime(settings, topics=[ENGAGEMENT_TASKS, PROFILE_CUSTOMERS, TIERING_CUSTOMERS, COMPLAINTS_CASES])
    store = EngagementStore(rt.mongo)
    e = Engagement(
        rt=rt,
        store=store,
        policies=PolicyVersions(store.policies, EngagementPolicy, DEFAULT_POLICY, note="defaults of BRIEF §4"),
    )
    rt.startup_hooks += [e.store.ensure_indexes, lambda: policies.ensure_default(e)]
    e.scheduler_job = rt.job("scheduler", lambda: scheduler.step(e), interval=settings.scheduler_interval_seconds)
    e.calendar = calendar.service_calendar(e)
    subscribers.register(e)
    rt.publishes(ENGAGEMENT_TASKS, EVENTS)
    return e


def create_app(settings: EngagementSettings | None = None) -> FastAPI:
    e = build(settings)
    app = create_http_app(
        e.rt, title="Bank CRM — engagement", description=DESCRIPTION, routers=[http.router, http.calendar_routes]
    )
    app.state.engagement = e
    return app


def asyncapi() -> FastStream:
    """AsyncAPI document: `faststream docs gen --factory crm_engagement.main:asyncapi`."""
    return build(docs_settings(EngagementSettings)).rt.asyncapi(
        title="Bank CRM — engagement events", description=DESCRIPTION
    )
