"""Helpers for testing the tiering service: feeding it profile, complaint and engagement CloudEvents on the
test's prefixed topics (as the profile, complaints and engagement services publish them) and reading what it
publishes.

Importable from any test module as `tiering_support` (it sits beside `support.py`, which pytest puts on
sys.path through tests/conftest.py); the fixtures are in tests/integration/tiering/conftest.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaProducer

from crm_contracts.complaints import ComplaintClosed, ComplaintOpened
from crm_contracts.engagement import SurveyAnswered
from crm_contracts.envelope import CloudEvent, EventData
from crm_contracts.profile import AssetsChanged, CustomerRegistered
from crm_contracts.topics import COMPLAINTS_CASES, ENGAGEMENT_TASKS, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from support import eventually, of_type, read_topic

TIER_CHANGED = "crm.tiering.customer.tier-changed.v1"
OWNER_ASSIGNED = "crm.tiering.customer.owner-assigned.v1"
CHURN_RAISED = "crm.tiering.customer.churn-risk-raised.v1"
CHURN_CLEARED = "crm.tiering.customer.churn-risk-cleared.v1"
LIFECYCLE_CHANGED = "crm.tiering.customer.lifecycle-changed.v1"

SOURCES = {COMPLAINTS_CASES: "crm/complaints", ENGAGEMENT_TASKS: "crm/engagement"}
"""The CloudEvents source of each topic's producer (the profile's otherwise)."""

Event = tuple[EventData, str]
"""An event's data and its subject (the customer id, also the Kafka key)."""


def envelope(data: EventData, subject: str, *, source: str = "crm/profile") -> bytes:
    return CloudEvent.wrap(data, source=source, subject=subject).model_dump_json().encode()


def registered(
    customer_id: str, *, branch: str = "BR001", owner: str = "S-RM1", registered: date = date(2024, 1, 2), **extra: Any
) -> Event:
    return CustomerRegistered(
        customer_id=customer_id,
        kind="individual",
        branch=branch,
        owner=owner,
        registered_at=datetime(registered.year, registered.month, registered.day, 9, tzinfo=UTC),
        registered_by=owner,
        channel="service_process",
        **extra,
    ), customer_id


def assets(customer_id: str, as_of: date, aum: str | Decimal, **extra: Any) -> Event:
    return AssetsChanged(
        customer_id=customer_id, core_customer_no=f"C{customer_id}", as_of=as_of, aum=Decimal(aum), **extra
    ), customer_id


def survey(
    customer_id: str,
    survey_id: str,
    at: datetime,
    *,
    csat: int | None = None,
    nps: int | None = None,
    trigger: str = "interaction_sample",
    complaint_id: str | None = None,
) -> Event:
    return SurveyAnswered(
        survey_id=survey_id,
        customer_id=customer_id,
        trigger=trigger,  # type: ignore[arg-type]
        complaint_id=complaint_id,
        csat=csat,
        nps=nps,
        answered_at=at,
    ), customer_id


class Feed:
    """Publishes profile, complaint and engagement events for the tiering service under test and reads its topic."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
        self.prefix = env["KAFKA_TOPIC_PREFIX"]

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def send_raw(self, topic: str, records: list[tuple[bytes, str]]) -> None:
        """Records (value, key) on a contract topic, in this order, through one producer."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        await producer.start()
        try:
            futures = [await producer.send(self.topic(topic), value, key=key.encode()) for value, key in records]
            for f in futures:
                await f
        finally:
            await producer.stop()

    async def send(self, topic: str, *events: Event) -> list[bytes]:
        """Events as CloudEvents, in this order; returns the envelopes sent (to send one again)."""
        source = SOURCES.get(topic, "crm/profile")
        raw = [(envelope(data, subject, source=source), subject) for data, subject in events]
        await self.send_raw(topic, raw)
        return [value for value, _ in raw]

    async def profile(self, *events: Event) -> list[bytes]:
        return await self.send(PROFILE_CUSTOMERS, *events)

    async def register(self, customer_id: str, **kwargs: Any) -> None:
        await self.profile(registered(customer_id, **kwargs))

    async def balance(self, customer_id: str, as_of: date, aum: str | Decimal, **extra: Any) -> None:
        await self.profile(assets(customer_id, as_of, aum, **extra))

    async def complaint_opened(self, customer_id: str, complaint_id: str, at: datetime) -> None:
        await self.send(
            COMPLAINTS_CASES,
            (ComplaintOpened(complaint_id=complaint_id, customer_id=customer_id, opened_at=at), customer_id),
        )

    async def complaint_closed(self, customer_id: str, complaint_id: str, at: datetime) -> None:
        await self.send(
            COMPLAINTS_CASES,
            (ComplaintClosed(complaint_id=complaint_id, customer_id=customer_id, closed_at=at), customer_id),
        )

    async def engagement(self, *events: Event) -> list[bytes]:
        return await self.send(ENGAGEMENT_TASKS, *events)

    async def records(self, *, until=lambda _r: False, timeout: float = 20.0, settle: float = 0.0) -> list[Any]:
        """Every record tiering published so far (read from the beginning)."""
        return await read_topic(
            self.bootstrap, self.topic(TIERING_CUSTOMERS), until=until, timeout=timeout, settle=settle
        )

    async def published(
        self, event_type: str, subject: str | None = None, *, count: int = 1, timeout: float = 20.0, settle: float = 0.0
    ) -> list[dict[str, Any]]:
        """Tiering's events of a type (and customer), once at least `count` are there (or after `timeout`)."""
        records = await self.records(
            until=lambda r: len(of_type(r, event_type, subject)) >= count, timeout=timeout, settle=settle
        )
        return of_type(records, event_type, subject)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": token}


async def tier_of(client, customer_id: str, token: str) -> dict[str, Any] | None:
    r = await client.get(f"/v1/customers/{customer_id}/tier", headers=auth(token))
    return r.json() if r.status_code == 200 else None


async def wait_tier(client, customer_id: str, token: str, check, timeout: float = 20.0) -> dict[str, Any]:
    async def probe():
        body = await tier_of(client, customer_id, token)
        return body if body is not None and check(body) else None

    return await eventually(probe, timeout=timeout)


async def wait_known(
    client, customer_ids, token: str, *, timeout: float = 30.0, check=lambda body: body["as_of"] is not None
) -> dict[str, dict[str, Any]]:
    """Wait until every customer is visible (and `check` holds for each); returns their tier views."""
    pending = list(customer_ids)
    seen: dict[str, dict[str, Any]] = {}

    async def probe():
        for cid in list(pending):
            body = await tier_of(client, cid, token)
            if body is None or not check(body):
                return None
            seen[cid] = body
            pending.remove(cid)
        return True

    await eventually(probe, timeout=timeout)
    return seen


async def stored(client, customer_id: str) -> dict[str, Any] | None:
    """The customer's document in tiering's database (for what the API does not show, e.g. evaluated_on)."""
    return await client.store.customers.find_one({"_id": customer_id})


async def sweep_caught_up(client, latest: date) -> bool:
    """True once the latest snapshot date seen is `latest` and the sweep has evaluated every customer due by the
    last complete day (the day before `latest`, see crm_tiering.service.sweep): none is left due by then."""
    customers = client.store.customers
    newest = await customers.find_one({"as_of": {"$ne": None}}, {"as_of": 1}, sort=[("as_of", -1)])
    if newest is None or newest["as_of"] != latest.isoformat():
        return False
    complete = (latest - timedelta(days=1)).isoformat()
    return await customers.count_documents({"due_on": {"$ne": None, "$lte": complete}, "merged_into": None}) == 0
