"""The tiering service: tiers, who is responsible, value, lifecycle and churn warning (BRIEF §3)."""

from __future__ import annotations

from fastapi import FastAPI
from faststream import FastStream

from crm_contracts.tiering import EVENTS
from crm_contracts.topics import COMPLAINTS_CASES, ENGAGEMENT_TASKS, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from crm_kit.http import create_http_app
from crm_kit.policies import PolicyVersions
from crm_kit.runtime import Runtime, docs_settings
from crm_kit.unit_of_work import MongoUnitOfWork
from crm_tiering.adapters.repositories import binding
from crm_tiering.adapters.store import TieringStore
from crm_tiering.domain.policy import DEFAULT_POLICY, Policy
from crm_tiering.entrypoints import http, subscribers
from crm_tiering.service import policies, sweep
from crm_tiering.service.context import Tiering
from crm_tiering.settings import TieringSettings

DESCRIPTION = """Tiers customers by the assets they hold under a versioned policy, keeps the right staff member
responsible for each, values them, follows their lifecycle and warns of churn. Consumes `crm.profile.customers`,
`crm.complaints.cases` and `crm.engagement.tasks` (survey answers); publishes on `crm.tiering.customers`."""


def build(settings: TieringSettings | None = None) -> Tiering:
    settings = settings or TieringSettings()
    rt = Runtime(settings, topics=[TIERING_CUSTOMERS, PROFILE_CUSTOMERS, COMPLAINTS_CASES, ENGAGEMENT_TASKS])
    store = TieringStore(rt.mongo)
    versions = PolicyVersions(store.policies, Policy, DEFAULT_POLICY, note="defaults of BRIEF §3.1")
    bind = binding(store, rt.outbox, versions)
    service = Tiering(rt=rt, uow=MongoUnitOfWork(rt.mongo, bind))
    rt.startup_hooks += [store.ensure_indexes, versions.ensure_default]
    service.rollout_job = rt.job("policy-rollout", lambda: policies.rollout_step(service), interval=2.0)
    rt.job("due-sweep", lambda: sweep.sweep_step(service), interval=settings.sweep_interval_seconds)
    subscribers.register(service)
    rt.publishes(TIERING_CUSTOMERS, EVENTS)
    return service


def create_app(settings: TieringSettings | None = None) -> FastAPI:
    service = build(settings)
    app = create_http_app(service.rt, title="Bank CRM — tiering", description=DESCRIPTION, routers=[http.router])
    app.state.tiering = service
    return app


def asyncapi() -> FastStream:
    """AsyncAPI document: `faststream docs gen --factory crm_tiering.main:asyncapi`."""
    return build(docs_settings(TieringSettings)).rt.asyncapi(title="Bank CRM — tiering events", description=DESCRIPTION)
