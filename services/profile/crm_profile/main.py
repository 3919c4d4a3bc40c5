"""The profile service: the customer archive (BRIEF §2)."""

from __future__ import annotations

from fastapi import FastAPI
from faststream import FastStream

from crm_contracts.profile import EVENTS
from crm_contracts.topics import COREBANK_BALANCES, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from crm_kit.http import create_http_app
from crm_kit.runtime import Runtime, docs_settings
from crm_profile.adapters.store import ProfileStore
from crm_profile.entrypoints import http, subscribers
from crm_profile.service.context import Profile
from crm_profile.settings import ProfileSettings

DESCRIPTION = """The customer archive of the bank CRM: individual and corporate customers, their history,
relationships, consents and balances from core banking. Publishes on `crm.profile.customers`."""


def build(settings: ProfileSettings | None = None) -> Profile:
    settings = settings or ProfileSettings()
    rt = Runtime(settings, topics=[PROFILE_CUSTOMERS, COREBANK_BALANCES, TIERING_CUSTOMERS])
    p = Profile(rt=rt, store=ProfileStore(rt.mongo, rt.cipher))
    rt.startup_hooks.append(p.store.ensure_indexes)
    subscribers.register(p)
    # Documents what the outbox relay publishes (the relay itself publishes through the broker directly).
    rt.publishes(PROFILE_CUSTOMERS, EVENTS)
    return p


def create_app(settings: ProfileSettings | None = None) -> FastAPI:
    p = build(settings)
    app = create_http_app(p.rt, title="Bank CRM — profile", description=DESCRIPTION, routers=[http.router])
    app.state.profile = p
    return app


def asyncapi() -> FastStream:
    """AsyncAPI document: `faststream docs gen --factory crm_profile.main:asyncapi`."""
    return build(docs_settings(ProfileSettings)).rt.asyncapi(title="Bank CRM — profile events", description=DESCRIPTION)
