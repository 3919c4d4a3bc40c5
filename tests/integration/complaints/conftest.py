"""Complaints under test: the service in-process against the real broker and database, business date pinned."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import pytest

from crm_complaints.adapters.store import ComplaintsStore
from crm_complaints.main import create_app
from crm_complaints.settings import ComplaintsSettings
from support import running, settings_kwargs


@pytest.fixture
def complaints_env(make_service_env):
    return make_service_env()


@pytest.fixture
def start_complaints(complaints_env):
    @asynccontextmanager
    async def _start(**overrides: Any):
        settings = ComplaintsSettings(
            **{
                **settings_kwargs(complaints_env),
                "clock_date": "2026-12-01",
                "scheduler_interval_seconds": 0.3,
                **overrides,
            }
        )
        app = create_app(settings)
        async with running(app) as client:
            client.settings = settings
            client.service = app.state.complaints
            client.store = ComplaintsStore(client.service.rt.mongo)  # the test's own look into the database
            yield client

    return _start


@pytest.fixture
async def complaints(start_complaints):
    async with start_complaints() as client:
        yield client


@pytest.fixture
def roles(token_for):
    """Headers for the roles the process involves, all of branch BR001."""

    def h(role, staff_id, branch="BR001"):
        return {"Authorization": token_for(role, staff_id, branch)}

    return {
        "handler": h("complaint_handler", "S-CH1"),
        "handler2": h("complaint_handler", "S-CH2"),
        "manager": h("branch_manager", "S-BM1"),
        "teller": h("high_counter_teller", "S-T1"),
        "rm": h("relationship_manager", "S-RM1"),
        "head_office": h("head_office", "S-HO1", None),
        "admin": h("admin", "S-ADMIN", None),
        "other_branch": h("complaint_handler", "S-CH9", "BR009"),
    }
