import random
from contextlib import asynccontextmanager

import pytest

from crm_cli.demo_data import make_corporate, make_faker, make_individual
from crm_profile.main import create_app
from crm_profile.settings import ProfileSettings
from support import running, settings_kwargs


@pytest.fixture
def start_profile(service_env):
    """Start the profile service in-process (lifespan, broker, relay) against the real stack."""

    @asynccontextmanager
    async def _start(**overrides):
        settings = ProfileSettings(**{**settings_kwargs(service_env), **overrides})
        app = create_app(settings)
        async with running(app) as client:
            client.settings = settings
            client.app = app
            yield client

    return _start


@pytest.fixture
async def profile(start_profile):
    async with start_profile() as client:
        yield client


@pytest.fixture
def people():
    """A deterministic supply of valid demo customers."""
    rng, faker = random.Random(7), make_faker(7)

    def individual(branch="BR001", owner="S-RM1", **over):
        return {**make_individual(rng, faker, {"code": branch, "name": branch}, owner), **over}

    def corporate(branch="BR001", owner="S-RM1", **over):
        return {**make_corporate(rng, faker, {"code": branch, "name": branch}, owner), **over}

    individual.corporate = corporate
    return individual


@pytest.fixture
def rm(token_for):
    return {"Authorization": token_for("relationship_manager", "S-RM1", "BR001")}
