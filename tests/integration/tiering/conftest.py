"""Tiering under test: the service in-process against the real broker and database, fed with profile
(and complaint) events on the test's prefixed topics, as the profile service publishes them."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from crm_contracts.complaints import ComplaintClosed, ComplaintOpened
from crm_contracts.envelope import CloudEvent, EventData
from crm_contracts.profile import AssetsChanged, CustomerRegistered
from crm_contracts.topics import COMPLAINTS_CASES, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from crm_tiering.main import create_app
from crm_tiering.settings import TieringSettings
from support import eventually, of_type, produce, read_topic, running, settings_kwargs


def envelope(data: EventData, subject: str) -> bytes:
    return CloudEvent.wrap(data, source="crm/profile", subject=subject).model_dump_json().encode()


class Feed:
    """Publishes profile and complaint events for the tiering service under test."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
        self.prefix = env["KAFKA_TOPIC_PREFIX"]

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def send(self, topic: str, *events: tuple[EventData, str]) -> None:
        for data, subject in events:
            await produce(self.bootstrap, self.topic(topic), [envelope(data, subject)], key=subject.encode())

    async def register(self, customer_id: str, *, branch: str = "BR001", owner: str = "S-RM1",
                       registered: date = date(2024, 1, 2), **extra: Any) -> None:
        await self.send(PROFILE_CUSTOMERS, (CustomerRegistered(
            customer_id=customer_id, kind="individual", branch=branch, owner=owner,
            registered_at=datetime(registered.year, registered.month, registered.day, 9, tzinfo=UTC),
            registered_by=owner, channel="service_process", **extra), customer_id))

    async def balance(self, customer_id: str, as_of: date, aum: str | Decimal, **extra: Any) -> None:
        await self.send(PROFILE_CUSTOMERS, (AssetsChanged(
            customer_id=customer_id, core_customer_no=f"C{customer_id}", as_of=as_of, aum=Decimal(aum), **extra),
            customer_id))

    async def complaint_opened(self, customer_id: str, complaint_id: str, at: datetime) -> None:
        await self.send(COMPLAINTS_CASES, (ComplaintOpened(complaint_id=complaint_id, customer_id=customer_id,
                                                           opened_at=at), customer_id))

    async def complaint_closed(self, customer_id: str, complaint_id: str, at: datetime) -> None:
        await self.send(COMPLAINTS_CASES, (ComplaintClosed(complaint_id=complaint_id, customer_id=customer_id,
                                                           closed_at=at), customer_id))

    async def published(self, event_type: str, subject: str | None = None, *, count: int = 1,
                        timeout: float = 20.0, settle: float = 0.0) -> list[dict[str, Any]]:
        """Tiering's events of a type (and customer), once at least `count` are there (or after `timeout`)."""
        records = await read_topic(self.bootstrap, self.topic(TIERING_CUSTOMERS),
                                   until=lambda r: len(of_type(r, event_type, subject)) >= count,
                                   timeout=timeout, settle=settle)
        return of_type(records, event_type, subject)


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
            client.t = app.state.tiering
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
            r = await client.put(f"/v1/staff/{staff_id}", headers=admin,
                                 json={"name": staff_id, "branch": branch, "roles": roles, "active": active})
            assert r.status_code == 200, r.text

    return put


async def tier_of(client, customer_id: str, token: str) -> dict[str, Any] | None:
    r = await client.get(f"/v1/customers/{customer_id}/tier", headers={"Authorization": token})
    return r.json() if r.status_code == 200 else None


async def wait_tier(client, customer_id: str, token: str, check, timeout: float = 20.0) -> dict[str, Any]:
    async def probe():
        body = await tier_of(client, customer_id, token)
        return body if body is not None and check(body) else None

    return await eventually(probe, timeout=timeout)
