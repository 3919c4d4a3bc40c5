"""Tiering under test: the service in-process against the real broker and database, fed with profile
(and complaint) events on the test's prefixed topics, as the profile service publishes them."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import pytest

from crm_tiering.adapters.store import TieringStore
from crm_tiering.main import create_app
from crm_tiering.settings import TieringSettings
from support import running, settings_kwargs
from tiering_support import Feed, tier_of, wait_tier  # noqa: F401 - re-exported for older imports


def tiering_env_for(service_env: dict[str, str]) -> dict[str, str]:
    """Same topics as the test's other services, its own database (collection names would clash)."""
    return {**service_env, "MONGODB_DATABASE": service_env["MONGODB_DATABASE"] + "_tiering"}


@pytest.fixture
def tiering_env(service_env):
    env = tiering_env_for(service_env)
    yield env
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(env["MONGODB_URI"], serverSelectionTimeoutMS=3000)
    try:
        client.drop_database(env["MONGODB_DATABASE"])
    except Exception:  # noqa: BLE001 - best effort clean-up
        pass
    finally:
        client.close()


@pytest.fixture
def feed(tiering_env) -> Feed:
    return Feed(tiering_env)


@pytest.fixture
def start_tiering(tiering_env):
    """Start the tiering service in-process (lifespan, consumers, relay, background jobs)."""

    @asynccontextmanager
    async def _start(**overrides: Any):
        settings = TieringSettings(**{**settings_kwargs(tiering_env), "sweep_interval_seconds": 0.5, **overrides})
        app = create_app(settings)
        async with running(app) as client:
            client.settings = settings
            client.app = app
            client.service = app.state.tiering
            client.store = TieringStore(client.service.rt.mongo)  # the test's own look into the database
            yield client

    return _start


@pytest.fixture
async def tiering(start_tiering):
    async with start_tiering() as client:
        yield client


@pytest.fixture
def staff_directory(token_for):
    """Put staff into the directory as an admin: `await staff_directory(client, [(id, branch, [roles]), ...])`."""

    async def put(client, members, *, active: bool = True):
        admin = {"Authorization": token_for("admin", "S-ADMIN", None)}
        for staff_id, branch, roles in members:
            r = await client.put(
                f"/v1/staff/{staff_id}",
                headers=admin,
                json={"name": staff_id, "branch": branch, "roles": roles, "active": active},
            )
            assert r.status_code == 200, r.text

    return put


@pytest.fixture
def head_office(token_for) -> str:
    """A head-office token ("Bearer …"): sees every customer."""
    return token_for("head_office", "S-HO1", None)
