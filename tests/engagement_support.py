"""Helpers for testing the engagement service: feeding it profile, tiering and complaint CloudEvents on the
test's prefixed topics (as those services publish them, with their per-customer `ce_sequence`) and reading
what it publishes on crm.engagement.tasks."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaProducer

from crm_contracts.complaints import ComplaintClosed, ComplaintOpened
from crm_contracts.envelope import CloudEvent, EventData
from crm_contracts.profile import AssetsChanged, ConsentChanged, CustomerRegistered
from crm_contracts.tiering import ChurnReason, ChurnRiskRaised, OwnerAssigned, TierChanged
from crm_contracts.topics import COMPLAINTS_CASES, ENGAGEMENT_TASKS, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from support import eventually, of_type, read_topic

TASK_CREATED = "crm.engagement.task.created.v1"
TASK_REASSIGNED = "crm.engagement.task.reassigned.v1"
TASK_OVERDUE = "crm.engagement.task.overdue.v1"
CONTACT_BLOCKED = "crm.engagement.contact.blocked.v1"
RECOMMENDATION = "crm.engagement.recommendation.recorded.v1"
SURVEY_ANSWERED = "crm.engagement.survey.answered.v1"
SOURCES = {PROFILE_CUSTOMERS: "crm/profile", TIERING_CUSTOMERS: "crm/tiering", COMPLAINTS_CASES: "crm/complaints"}


def registered(
    customer_id: str, *, branch: str = "BR001", owner: str = "S-RM1", since: date = date(2020, 3, 5), **extra: Any
) -> CustomerRegistered:
    return CustomerRegistered(
        customer_id=customer_id,
        kind="individual",
        branch=branch,
        owner=owner,
        registered_at=datetime(since.year, since.month, since.day, 9, tzinfo=UTC),
        registered_by=owner,
        channel="service_process",
        **extra,
    )


def tier_changed(
    customer_id: str,
    to_tier: str | None,
    *,
    from_tier: str | None = None,
    reason: str = "upgrade",
    as_of: date = date(2026, 12, 1),
    branch: str = "BR001",
) -> TierChanged:
    return TierChanged(
        customer_id=customer_id,
        branch=branch,
        from_tier=from_tier,
        to_tier=to_tier,
        reason=reason,  # type: ignore[arg-type]
        policy_version=1,
        as_of=as_of,
        basis_amount=Decimal("600000.00"),
    )


def owner_assigned(
    customer_id: str, new_owner: str, *, previous: str | None = "S-RM1", branch: str = "BR001", tier: str | None = "vip"
) -> OwnerAssigned:
    return OwnerAssigned(
        customer_id=customer_id,
        branch=branch,
        previous_owner=previous,
        new_owner=new_owner,
        reason="tier_responsibility",
        tier=tier,
        assigned_by="tiering",  # type: ignore[arg-type]
        assigned_at=datetime.now(UTC),
    )


def consent(customer_id: str, channel: str, granted: bool, *, at: datetime | None = None) -> ConsentChanged:
    return ConsentChanged(
        customer_id=customer_id,
        channel=channel,
        granted=granted,
        changed_at=at or datetime.now(UTC),  # type: ignore[arg-type]
        source="service_process",
        changed_by="S-RM1",
    )


def assets(customer_id: str, aum: str, previous: str | None, as_of: date = date(2026, 12, 1)) -> AssetsChanged:
    return AssetsChanged(
        customer_id=customer_id,
        core_customer_no=f"C{customer_id}",
        as_of=as_of,
        aum=Decimal(aum),
        previous_aum=Decimal(previous) if previous else None,
    )


def churn(customer_id: str, *rules: str, as_of: date = date(2026, 12, 1)) -> ChurnRiskRaised:
    return ChurnRiskRaised(
        customer_id=customer_id,
        branch="BR001",
        owner="S-RM1",
        as_of=as_of,
        reasons=[ChurnReason(rule=r, detail=f"{r} detail") for r in rules],
    )  # type: ignore[arg-type]


def complaint_closed(customer_id: str, complaint_id: str) -> ComplaintClosed:
    return ComplaintClosed(
        complaint_id=complaint_id, customer_id=customer_id, closed_at=datetime.now(UTC), outcome="resolved"
    )


def complaint_opened(customer_id: str, complaint_id: str) -> ComplaintOpened:
    return ComplaintOpened(complaint_id=complaint_id, customer_id=customer_id, opened_at=datetime.now(UTC))


class Feed:
    """Publishes other services' events for the engagement service under test and reads its topic."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
        self.prefix = env["KAFKA_TOPIC_PREFIX"]
        self.seqs: dict[tuple[str, str], int] = defaultdict(int)

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def send(self, topic: str, *events: EventData) -> list[tuple[bytes, str, int]]:
        """Events as CloudEvents numbered per customer like their producer does; returns (value, key, seq) sent."""
        out = []
        for data in events:
            subject = getattr(data, "customer_id", None) or data.survivor_id
            self.seqs[(topic, subject)] += 1
            value = CloudEvent.wrap(data, source=SOURCES[topic], subject=subject).model_dump_json().encode()
            out.append((value, subject, self.seqs[(topic, subject)]))
        await self.send_records(topic, out)
        return out

    async def send_records(self, topic: str, records: list[tuple[bytes, str, int | None]]) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        await producer.start()
        try:
            for value, key, seq in records:
                headers = [("ce_sequence", str(seq).encode())] if seq is not None else []
                await producer.send_and_wait(self.topic(topic), value, key=key.encode(), headers=headers)
        finally:
            await producer.stop()

    async def profile(self, *events: EventData) -> list[tuple[bytes, str, int]]:
        return await self.send(PROFILE_CUSTOMERS, *events)

    async def tiering(self, *events: EventData) -> list[tuple[bytes, str, int]]:
        return await self.send(TIERING_CUSTOMERS, *events)

    async def complaints(self, *events: EventData) -> list[tuple[bytes, str, int]]:
        return await self.send(COMPLAINTS_CASES, *events)

    async def published(
        self, event_type: str, subject: str | None = None, *, count: int = 1, timeout: float = 20.0, settle: float = 0.0
    ) -> list[dict[str, Any]]:
        records = await read_topic(
            self.bootstrap,
            self.topic(ENGAGEMENT_TASKS),
            until=lambda r: len(of_type(r, event_type, subject)) >= count,
            timeout=timeout,
            settle=settle,
        )
        return of_type(records, event_type, subject)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": token}


async def wait_tasks(
    client, token: str, *, count: int = 1, timeout: float = 20.0, **params: Any
) -> list[dict[str, Any]]:
    """Tasks matching the query once at least `count` are there."""

    async def probe():
        r = await client.get(
            "/v1/tasks", params={k: v for k, v in params.items() if v is not None}, headers=auth(token)
        )
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        return items if len(items) >= count else None

    return await eventually(probe, timeout=timeout)


async def register(client, feed: Feed, *customer_ids: str, **kwargs: Any) -> None:
    """Register customers through the profile's topic and wait until engagement knows their owner, as happens before
    tiering has anything to say about them (topics are not ordered with each other)."""
    await feed.profile(*[registered(cid, **kwargs) for cid in customer_ids])
    for cid in customer_ids:
        await wait_customer(client, cid, lambda d: d.get("owner") is not None)


async def wait_customer(client, customer_id: str, check=lambda _doc: True, timeout: float = 20.0) -> dict[str, Any]:
    """Engagement's stored view of a customer once `check` holds."""

    async def probe():
        doc = await client.store.customers.find_one({"_id": customer_id})
        return doc if doc is not None and check(doc) else None

    return await eventually(probe, timeout=timeout)
