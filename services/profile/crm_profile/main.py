"""The profile service: the customer archive (BRIEF §2)."""

from __future__ import annotations

from fastapi import FastAPI
from faststream import FastStream

from crm_contracts.profile import EVENTS
from crm_contracts.topics import COREBANK_BALANCES, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from crm_kit.http import create_http_app
from crm_kit.runtime import Runtime, docs_settings
from crm_kit.unit_of_work import MongoUnitOfWork
from crm_profile.adapters.repositories import binder
from crm_profile.adapters.store import ProfileStore, SensitiveFields
from crm_profile.entrypoints import http, subscribers
from crm_profile.service.context import Profile
from crm_profile.settings import ProfileSettings

DESCRIPTION = """The customer archive of the bank CRM: individual and corporate customers, their history,
relationships, consents and balances from core banking. Publishes on `crm.profile.customers`."""


def build(settings: ProfileSettings | None = None) -> Profile:
    settings = settings or ProfileSettings()
    rt = Runtime(settings, topics=[PROFILE_CUSTOMERS, COREBANK_BALANCES, TIERING_CUSTOMERS])
    store = ProfileStore(rt.mongo)
    service = Profile(
        rt=rt, uow=MongoUnitOfWork(rt.mongo, binder(store, rt.outbox)), sensitive=SensitiveFields(rt.cipher)
    )
    rt.startup_hooks.append(store.ensure_indexes)
    subscribers.register(service)
    # Documents what the outbox relay publishes (the relay itself publishes through the broker directly).
    rt.publishes(PROFILE_CUSTOMERS, EVENTS)
    return service


def create_app(settings: ProfileSettings | None = None) -> FastAPI:
    service = build(settings)
    app = create_http_app(service.rt, title="Bank CRM — profile", description=DESCRIPTION, routers=[http.router])
    app.state.profile = service
    return app


def asyncapi() -> FastStream:
    """AsyncAPI document: `faststream docs gen --factory crm_profile.main:asyncapi`."""
    return build(docs_settings(ProfileSettings)).rt.asyncapi(title="Bank CRM — profile events", description=DESCRIPTION)
