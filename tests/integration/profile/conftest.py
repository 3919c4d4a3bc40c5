from contextlib import asynccontextmanager

import pytest

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
