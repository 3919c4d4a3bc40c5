"""Engagement's three consumers (the profile's, tiering's and complaints' events) on the fake unit of work: each
event type reaches its function; an ordered event older than the last one applied for its customer, or delivered
again, changes nothing; the types a consumer does not handle are passed over."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from engagement_fakes import fake_repositories

from crm_contracts.complaints import ComplaintClosed, ComplaintOpened
from crm_contracts.engagement import TaskCreated, TaskReassigned
from crm_contracts.envelope import CloudEvent, EventData
from crm_contracts.profile import AssetsChanged, ConsentChanged, CustomerMerged, CustomerRegistered, CustomerUpdated
from crm_contracts.tiering import (
    ChurnReason,
    ChurnRiskCleared,
    ChurnRiskRaised,
    LifecycleChanged,
    OwnerAssigned,
    TierChanged,
)
from crm_contracts.topics import COMPLAINTS_CASES, ENGAGEMENT_TASKS, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.domain.customer import EngagedCustomer
from crm_engagement.service import complaint_events, profile_events, tiering_events
from crm_engagement.service.context import Engagement
from crm_engagement.settings import EngagementSettings
from crm_kit.clock import BANK_TZ
from crm_kit.event_handlers import Message
from crm_kit.fakes import FakeUnitOfWork
from crm_kit.messaging import Incoming, Rejection
from crm_kit.runtime import Runtime

TODAY = date(2026, 12, 1)  # a Tuesday
AT = datetime(2026, 11, 30, 10, 0, tzinfo=BANK_TZ)
SOURCES = {PROFILE_CUSTOMERS: "crm/profile", TIERING_CUSTOMERS: "crm/tiering", COMPLAINTS_CASES: "crm/complaints"}

Apply = Callable[..., Awaitable[list[Rejection]]]


def engagement(repos: EngagementRepositories) -> tuple[Engagement, FakeUnitOfWork[EngagementRepositories]]:
    settings = EngagementSettings(
        crm_data_key="A" * 43 + "=", crm_lookup_key="A" * 43 + "=", crm_jwt_secret="unit-tests", clock_date=TODAY
    )
    uow = FakeUnitOfWork(repos)
    return Engagement(rt=Runtime(settings, topics=[ENGAGEMENT_TASKS]), uow=uow), uow


def customer(customer_id: str = "C1", **fields: Any) -> EngagedCustomer:
    return EngagedCustomer(
        customer_id=customer_id, **{"branch": "BR001", "owner": "S-RM1", "consents": {"phone": True}, **fields}
    )


def message(topic: str, data: EventData, subject: str, sequence: int | None) -> Message:
    event = CloudEvent.wrap(data, source=SOURCES[topic], subject=subject)
    offset = sequence or 0
    return Incoming(
        topic=topic,
        partition=0,
        offset=offset,
        key=subject,
        value=b"",
        message_id=f"{topic}:{subject}:{offset}:{type(data).__name__}",
        payload=event,
        sequence=sequence,
    )


async def deliver(
    uow: FakeUnitOfWork[EngagementRepositories], service: Engagement, apply: Apply, *items: Message
) -> None:
    async def work(repos: EngagementRepositories) -> list[Rejection]:
        return await apply(service=service, repos=repos, items=list(items))

    assert await uow.run(work) == []


def stored(uow: FakeUnitOfWork[EngagementRepositories], customer_id: str = "C1") -> EngagedCustomer:
    return uow.repositories.customers.stored[customer_id]


# --- the profile's events ------------------------------------------------------------------------------------


def registered(customer_id: str = "C1") -> CustomerRegistered:
    return CustomerRegistered(
        customer_id=customer_id,
        kind="individual",
        branch="BR002",
        owner="S-RM2",
        registered_at=datetime(2020, 3, 5, 9, tzinfo=BANK_TZ),
        registered_by="S-RM2",
        channel="service_process",
    )


def birthday(customer_id: str = "C1", month_day: str = "12-03") -> CustomerUpdated:
    return CustomerUpdated(
        customer_id=customer_id,
        version=2,
        changed_fields=["birthday"],
        channel="service_process",
        changed_by="S-RM1",
        changed_at=AT,
        birth_month_day=month_day,
    )


def consent(customer_id: str = "C1", channel: str = "sms", granted: bool = True) -> ConsentChanged:
    return ConsentChanged(
        customer_id=customer_id,
        channel=channel,
        granted=granted,
        changed_at=AT,
        source="service_process",
        changed_by="S-RM1",
    )


def assets(aum: str, customer_id: str = "C1") -> AssetsChanged:
    return AssetsChanged(customer_id=customer_id, core_customer_no=f"K{customer_id}", as_of=TODAY, aum=Decimal(aum))


def profile(data: EventData, sequence: int | None, subject: str = "C1") -> Message:
    return message(PROFILE_CUSTOMERS, data, subject, sequence)


async def test_each_profile_event_reaches_its_function_and_moves_the_profile_sequence() -> None:
    repos = fake_repositories()
    repos.customers.add(customer("C2"))
    service, uow = engagement(repos)
    merged = CustomerMerged(survivor_id="C1", merged_id="C2", merged_by="S-HO1", merged_at=AT)

    await deliver(
        uow,
        service,
        profile_events.apply_profile_events,
        profile(registered(), 1),
        profile(birthday(), 2),
        profile(consent(channel="sms"), 3),
        profile(assets("1000.00"), 4),
        profile(merged, 5),
    )

    c1 = stored(uow)
    assert (c1.kind, c1.branch, c1.owner, c1.customer_since) == ("individual", "BR002", "S-RM2", date(2020, 3, 5))
    assert c1.birth_month_day == "12-03"
    assert c1.consents["sms"] is True
    assert c1.aum == Decimal("1000.00")
    assert stored(uow, "C2").merged_into == "C1"
    assert c1.profile_seq == 5


async def test_an_older_or_redelivered_profile_event_changes_nothing() -> None:
    repos = fake_repositories()
    repos.customers.add(customer(aum=Decimal("100.00"), profile_seq=3))
    service, uow = engagement(repos)

    # The one applied last delivered again, and an older one (a dead letter replayed late): nothing changes.
    await deliver(
        uow,
        service,
        profile_events.apply_profile_events,
        profile(assets("999.00"), 3),
        profile(assets("5.00"), 2),
        profile(consent(channel="phone", granted=False), 1),
    )
    assert (stored(uow).aum, stored(uow).profile_seq, stored(uow).consents) == (
        Decimal("100.00"),
        3,
        {"phone": True},
    )
    assert uow.repositories.outbox.types() == []

    # The next one applies, once, even when the batch carries it twice.
    await deliver(
        uow, service, profile_events.apply_profile_events, profile(assets("200.00"), 4), profile(assets("7.00"), 4)
    )
    assert (stored(uow).aum, stored(uow).profile_seq) == (Decimal("200.00"), 4)


async def test_an_event_the_profile_consumer_does_not_handle_is_passed_over() -> None:
    repos = fake_repositories()
    repos.customers.add(customer())
    service, uow = engagement(repos)
    before = repr(stored(uow))

    lifecycle = LifecycleChanged(customer_id="C1", to_stage="growing", as_of=TODAY, policy_version=1)
    await deliver(uow, service, profile_events.apply_profile_events, profile(lifecycle, 9))

    assert repr(stored(uow)) == before  # profile_seq not moved either
    assert uow.repositories.outbox.types() == []


# --- tiering's events ----------------------------------------------------------------------------------------


def tier_changed(to_tier: str | None, from_tier: str | None = None) -> TierChanged:
    return TierChanged(
        customer_id="C1",
        branch="BR001",
        from_tier=from_tier,
        to_tier=to_tier,
        reason="upgrade",
        policy_version=1,
        as_of=TODAY,
        basis_amount=Decimal("600000.00"),
    )


def owner_assigned(new_owner: str, previous: str | None = "S-RM1") -> OwnerAssigned:
    return OwnerAssigned(
        customer_id="C1",
        branch="BR001",
        previous_owner=previous,
        new_owner=new_owner,
        reason="tier_responsibility",
        tier="vip",
        assigned_by="tiering",
        assigned_at=AT,
    )


def churn_raised() -> ChurnRiskRaised:
    return ChurnRiskRaised(
        customer_id="C1", as_of=TODAY, reasons=[ChurnReason(rule="outflow", detail="half the deposits moved out")]
    )


def tiering(data: EventData, sequence: int | None) -> Message:
    return message(TIERING_CUSTOMERS, data, "C1", sequence)


def open_kinds(uow: FakeUnitOfWork[EngagementRepositories]) -> dict[str, str]:
    docs = uow.repositories.tasks.docs.values()
    return {doc["_id"]: doc["assignee"] for doc in docs if doc["status"] == "open"}


async def test_each_tiering_event_reaches_its_function_and_moves_the_tiering_sequence() -> None:
    repos = fake_repositories()
    repos.customers.add(customer())
    service, uow = engagement(repos)

    await deliver(uow, service, tiering_events.apply_tiering_events, tiering(tier_changed("vip", "potential"), 1))
    assert stored(uow).tier == "vip"
    kinds = {doc["kind"] for doc in uow.repositories.tasks.docs.values()}
    assert {"welcome", "follow_up"} <= kinds

    await deliver(uow, service, tiering_events.apply_tiering_events, tiering(owner_assigned("S-RM2"), 2))
    assert stored(uow).owner == "S-RM2"
    assert set(open_kinds(uow).values()) == {"S-RM2"}

    await deliver(uow, service, tiering_events.apply_tiering_events, tiering(churn_raised(), 3))
    retention = [doc for doc in uow.repositories.tasks.docs.values() if doc["kind"] == "retention"]
    assert [(doc["occasion"], doc["assignee"]) for doc in retention] == [("outflow", "S-RM2")]
    assert stored(uow).tiering_seq == 3


async def test_an_older_or_redelivered_tiering_event_changes_nothing() -> None:
    repos = fake_repositories()
    repos.customers.add(customer(tier="vip", tiering_seq=5))
    service, uow = engagement(repos)
    before = repr(stored(uow))

    await deliver(
        uow,
        service,
        tiering_events.apply_tiering_events,
        tiering(owner_assigned("S-RM9"), 5),  # the one applied last, again
        tiering(tier_changed("ordinary", "vip"), 4),  # older than what was applied
        tiering(churn_raised(), 2),
    )

    assert repr(stored(uow)) == before
    assert uow.repositories.tasks.docs == {}
    assert uow.repositories.outbox.types() == []

    await deliver(uow, service, tiering_events.apply_tiering_events, tiering(owner_assigned("S-RM9"), 6))
    assert (stored(uow).owner, stored(uow).tiering_seq) == ("S-RM9", 6)


async def test_tiering_events_engagement_does_not_handle_are_passed_over_without_moving_the_sequence() -> None:
    repos = fake_repositories()
    repos.customers.add(customer(tier="vip", tiering_seq=1))
    service, uow = engagement(repos)
    before = repr(stored(uow))

    lifecycle = LifecycleChanged(customer_id="C1", to_stage="growing", as_of=TODAY, policy_version=1)
    cleared = ChurnRiskCleared(customer_id="C1", as_of=TODAY, resolved=["outflow"])
    await deliver(uow, service, tiering_events.apply_tiering_events, tiering(lifecycle, 7), tiering(cleared, 8))
    assert repr(stored(uow)) == before
    assert uow.repositories.outbox.types() == []

    # Tiering's number moved only with the events engagement applies: the owner change numbered 2 still applies.
    await deliver(uow, service, tiering_events.apply_tiering_events, tiering(owner_assigned("S-RM2"), 2))
    assert (stored(uow).owner, stored(uow).tiering_seq) == ("S-RM2", 2)


async def test_an_owner_change_moves_the_open_tasks_once_even_when_delivered_twice_in_a_batch() -> None:
    repos = fake_repositories()
    repos.customers.add(customer())
    service, uow = engagement(repos)
    await deliver(uow, service, tiering_events.apply_tiering_events, tiering(tier_changed("vip", "potential"), 1))
    uow.repositories.outbox.messages.clear()

    moved = tiering(owner_assigned("S-RM2"), 2)
    await deliver(uow, service, tiering_events.apply_tiering_events, moved, moved)

    types = uow.repositories.outbox.types()
    assert types and set(types) == {TaskReassigned.event_type}
    assert len(types) == len(open_kinds(uow))  # each open task moved once


# --- complaints' events --------------------------------------------------------------------------------------


async def test_a_closed_complaint_reaches_its_function_and_other_complaint_events_are_passed_over() -> None:
    repos = fake_repositories()
    repos.customers.add(customer(tier="vip"))
    service, uow = engagement(repos)
    opened = ComplaintOpened(complaint_id="CMP-1", customer_id="C1", opened_at=AT)
    closed = ComplaintClosed(complaint_id="CMP-1", customer_id="C1", closed_at=AT, outcome="refund")

    await deliver(uow, service, complaint_events.apply_complaint_events, message(COMPLAINTS_CASES, opened, "C1", 1))
    assert uow.repositories.tasks.docs == {}
    assert uow.repositories.surveys.docs == {}

    await deliver(uow, service, complaint_events.apply_complaint_events, message(COMPLAINTS_CASES, closed, "C1", 2))
    assert list(uow.repositories.tasks.docs) == ["C1:complaint_follow_up:CMP-1"]
    assert list(uow.repositories.surveys.docs) == ["complaint:CMP-1"]
    assert uow.repositories.outbox.types() == [TaskCreated.event_type]
