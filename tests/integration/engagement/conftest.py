"""Engagement under test: the service in-process against the real broker and database, fed with profile, tiering
and complaint events on the test's prefixed topics, with its business date pinned (CLOCK_DATE)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import pytest

from crm_engagement.adapters.store import EngagementStore
from crm_engagement.main import create_app
from crm_engagement.settings import EngagementSettings
from engagement_support import Feed
from support import running, settings_kwargs

TODAY = "2026-12-01"


@pytest.fixture
def engagement_env(make_service_env):
    return make_service_env()


@pytest.fixture
def feed(engagement_env) -> Feed:
    return Feed(engagement_env)


@pytest.fixture
def start_engagement(engagement_env):
    @asynccontextmanager
    async def _start(**overrides: Any):
        settings = EngagementSettings(
            **{**settings_kwargs(engagement_env), "clock_date": TODAY, "scheduler_interval_seconds": 0.5, **overrides}
        )
        app = create_app(settings)
        async with running(app) as client:
            client.settings = settings
            client.service = app.state.engagement
            client.store = EngagementStore(app.state.engagement.rt.mongo)  # the test's own look into the database
            yield client

    return _start


@pytest.fixture
async def engagement(start_engagement):
    async with start_engagement() as client:
        yield client


@pytest.fixture
def head_office(token_for) -> str:
    return token_for("head_office", "S-HO1", None)


@pytest.fixture
def admin(token_for) -> str:
    return token_for("admin", "S-ADMIN", None)
