"""Complaints' application layer on a fake unit of work: intake, the steps of the process, routing a late customer,
the roster and the deadline clock, with no broker and no database (the same functions the HTTP routes, the
consumers and the leased jobs call)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from complaints_fakes import fake_repositories

from crm_complaints.adapters.repositories import ComplaintsRepositories
from crm_complaints.schemas import (
    Acknowledge,
    Assign,
    ComplaintCreate,
    HandlerUpsert,
    Investigate,
    Notify,
    Reopen,
    Resolve,
)
from crm_complaints.service import cases, handlers, profile_events, routing, scheduler, tiering_events
from crm_complaints.service.context import Complaints
from crm_complaints.settings import ComplaintsSettings
from crm_contracts.envelope import CloudEvent
from crm_contracts.profile import CustomerRegistered
from crm_contracts.tiering import TierChanged
from crm_contracts.topics import COMPLAINTS_CASES
from crm_kit.auth import Principal, Role
from crm_kit.context import consumer
from crm_kit.errors import RuleBroken
from crm_kit.fakes import FakeUnitOfWork
from crm_kit.messaging import Incoming
from crm_kit.runtime import Runtime

KEY = "A" * 43 + "="
HANDLER = Principal("S-CH1", Role.COMPLAINT_HANDLER, "BR001")
MANAGER = Principal("S-BM1", Role.BRANCH_MANAGER, "BR001")
TELLER = Principal("S-T1", Role.LOBBY_MANAGER, "BR001")
HEAD_OFFICE = Principal("S-HO1", Role.HEAD_OFFICE, None)


def complaints_service(clock_date: str = "2026-12-01") -> tuple[Complaints, ComplaintsRepositories]:
    settings = ComplaintsSettings(
        crm_data_key=KEY,
        crm_lookup_key=KEY,
        crm_jwt_secret="unit",
        clock_date=clock_date,
        mongodb_uri="mongodb://127.0.0.1:1",  # never reached: the unit of work is in memory
        scheduler_chunk_size=2,
    )
    rt = Runtime(settings, topics=[COMPLAINTS_CASES])
    repos = fake_repositories(rt.calendar)
    return Complaints(rt=rt, uow=FakeUnitOfWork(repos)), repos


@pytest.fixture
def fake():
    service, repos = complaints_service()
    repos.handlers.roster["S-CH1"] = {"_id": "S-CH1", "branch": "BR001", "categories": [], "active": True}
    repos.customers.records["C1"] = {"_id": "C1", "branch": "BR001", "owner": "S-RM1", "tier": "ordinary"}
    return service, repos


def intake(**fields) -> ComplaintCreate:
    return ComplaintCreate(
        **{"customer_id": "C1", "channel": "hotline", "category": "fees", "description": "charged twice", **fields}
    )


def incoming(event: CloudEvent, *, sequence: int | None) -> Incoming:
    return Incoming(
        topic="crm.test",
        partition=0,
        offset=0,
        key=event.subject,
        value=event.model_dump_json().encode(),
        message_id=str(event.id),
        payload=event,
        sequence=sequence,
    )


def received(service: Complaints, hours: float = 1) -> datetime:
    return service.now() - timedelta(hours=hours)


async def test_intake_routes_to_the_branch_handler_and_publishes_opened(fake):
    service, repos = fake
    case = await cases.create(service=service, principal=TELLER, body=intake(received_at=received(service)))
    assert case["handler"] == "S-CH1" and case["branch"] == "BR001" and case["owner"] == "S-RM1"
    assert case["complainant"] is None if "complainant" in case else True
    assert repos.outbox.types() == [
        "crm.complaints.complaint.status-changed.v1",  # → received
        "crm.complaints.complaint.opened.v1",
    ]
    assert {message.key for message in repos.outbox.messages} == {"C1"}
    stored = repos.complaints.docs[case["id"]]
    assert stored["description"] != "charged twice"  # encrypted at rest
    assert service.uow.commits == 1


async def test_a_second_complaint_in_the_window_is_a_repeat(fake):
    service, _ = fake
    first = await cases.create(service=service, principal=TELLER, body=intake(received_at=received(service, 5)))
    second = await cases.create(service=service, principal=TELLER, body=intake(received_at=received(service, 1)))
    other = await cases.create(
        service=service, principal=TELLER, body=intake(category="cards", received_at=received(service, 1))
    )
    assert second["repeat_of"] == first["id"]
    assert other["repeat_of"] is None


async def test_an_unknown_category_is_refused_naming_the_field_and_nothing_is_stored(fake):
    service, repos = fake
    with pytest.raises(RuleBroken) as refused:
        await cases.create(service=service, principal=TELLER, body=intake(category="weather"))
    assert refused.value.kind == "invalid" and refused.value.field == "category"
    assert repos.complaints.docs == {} and repos.outbox.messages == []
    assert service.uow.rollbacks == 1


async def test_a_teller_may_not_take_in_for_another_branch(fake):
    service, repos = fake
    with pytest.raises(RuleBroken) as refused:
        await cases.create(service=service, principal=TELLER, body=intake(branch="BR009"))
    assert refused.value.kind == "forbidden"
    assert repos.complaints.docs == {}


async def test_steps_move_the_case_publish_and_audit_what_the_bank_audits(fake):
    service, repos = fake
    case = await cases.create(service=service, principal=TELLER, body=intake(received_at=received(service)))
    cid = case["id"]
    acknowledged = await cases.act(service=service, principal=HANDLER, complaint_id=cid, command=Acknowledge())
    assert acknowledged["state"] == "acknowledged"
    assigned = await cases.act(service=service, principal=MANAGER, complaint_id=cid, command=Assign())
    assert assigned["state"] == "assigned" and assigned["handler"] == "S-CH1"
    await cases.act(service=service, principal=HANDLER, complaint_id=cid, command=Investigate())
    resolved = await cases.act(
        service=service,
        principal=HANDLER,
        complaint_id=cid,
        command=Resolve(explanation="fee refunded", apology=True, compensation=Decimal("0"), root_cause="fees"),
    )
    assert resolved["state"] == "resolved"
    notified = await cases.act(service=service, principal=HANDLER, complaint_id=cid, command=Notify(channel="phone"))
    assert notified["decision_notice"]["channel"] == "phone"
    # Acknowledging is not audited; assigning and the notice are.
    assert repos.audit.actions() == ["complaint.assign", "complaint.notify"]
    assert "crm.complaints.complaint.decision-notified.v1" in repos.outbox.types()


async def test_a_step_not_allowed_from_the_state_is_a_conflict_naming_the_state_and_changes_nothing(fake):
    service, repos = fake
    case = await cases.create(service=service, principal=TELLER, body=intake(received_at=received(service)))
    before = dict(repos.complaints.docs[case["id"]])
    published = len(repos.outbox.messages)
    with pytest.raises(RuleBroken) as refused:
        await cases.act(
            service=service, principal=HANDLER, complaint_id=case["id"], command=Reopen(reason="customer unhappy")
        )
    assert refused.value.kind == "conflict" and refused.value.extra["state"] == "received"
    assert repos.complaints.docs[case["id"]] == before
    assert len(repos.outbox.messages) == published


async def test_another_handlers_case_is_forbidden_and_an_unseen_case_is_not_found(fake):
    service, repos = fake
    repos.handlers.roster["S-CH2"] = {"_id": "S-CH2", "branch": "BR001", "categories": ["cards"], "active": True}
    case = await cases.create(service=service, principal=TELLER, body=intake(received_at=received(service)))
    with pytest.raises(RuleBroken) as refused:
        await cases.act(
            service=service,
            principal=Principal("S-CH2", Role.COMPLAINT_HANDLER, "BR001"),
            complaint_id=case["id"],
            command=Acknowledge(),
        )
    assert refused.value.kind == "forbidden"
    with pytest.raises(RuleBroken) as unseen:
        await cases.act(
            service=service,
            principal=Principal("S-CH9", Role.COMPLAINT_HANDLER, "BR009"),
            complaint_id=case["id"],
            command=Acknowledge(),
        )
    assert unseen.value.kind == "not_found"


async def test_a_rerun_transaction_gives_one_case_and_one_event(fake):
    service, repos = fake
    service.uow.retry_once = True  # the database retries the whole transaction after a write conflict
    case = await cases.create(service=service, principal=TELLER, body=intake(received_at=received(service)))
    assert list(repos.complaints.docs) == [case["id"]]
    assert repos.outbox.types().count("crm.complaints.complaint.opened.v1") == 1
    assert service.uow.commits == 1


async def test_a_complaint_before_its_customer_waits_and_is_routed_when_the_registration_arrives(fake):
    service, repos = fake
    case = await cases.create(
        service=service, principal=TELLER, body=intake(customer_id="C-NEW", received_at=received(service))
    )
    assert case["routing"] == "pending_customer" and case["handler"] is None
    registered = CloudEvent.wrap(
        CustomerRegistered(
            customer_id="C-NEW",
            kind="individual",
            branch="BR001",
            owner="S-RM2",
            registered_at=service.now(),
            registered_by="S-T1",
            channel="service_process",
        ),
        source="crm/profile",
        subject="C-NEW",
    )
    handle = consumer(service, profile_events.apply_profile_events)
    await handle(None, [incoming(registered, sequence=None)])
    routed = repos.complaints.docs[case["id"]]
    assert routed["routing"] == "routed" and routed["handler"] == "S-CH1" and routed["owner"] == "S-RM2"
    assert "crm.complaints.complaint.routed.v1" in repos.outbox.types()


async def test_an_older_tier_decision_changes_nothing(fake):
    service, repos = fake

    def tiered(to_tier: str) -> CloudEvent:
        return CloudEvent.wrap(
            TierChanged(
                customer_id="C1",
                branch="BR001",
                from_tier=None,
                to_tier=to_tier,
                reason="upgrade",
                policy_version=1,
                as_of=service.today(),
                basis_amount=Decimal("1000000"),
            ),
            source="crm/tiering",
            subject="C1",
        )

    apply = consumer(service, tiering_events.apply_tiering_events)
    await apply(None, [incoming(tiered("vip"), sequence=5)])
    await apply(None, [incoming(tiered("key"), sequence=4)])  # a dead letter replayed late
    assert repos.customers.records["C1"]["tier"] == "vip" and repos.customers.records["C1"]["tiering_seq"] == 5


async def test_a_deactivated_handlers_open_cases_go_to_another_handler_of_the_branch(fake):
    service, repos = fake
    case = await cases.create(service=service, principal=TELLER, body=intake(received_at=received(service)))
    await handlers.put(
        service=service,
        principal=MANAGER,
        staff_id="S-CH3",
        body=HandlerUpsert(branch="BR001", categories=[], active=True),
    )
    await handlers.put(
        service=service,
        principal=MANAGER,
        staff_id="S-CH1",
        body=HandlerUpsert(branch="BR001", categories=[], active=False),
    )
    assert repos.complaints.docs[case["id"]]["handler"] == "S-CH3"
    assert repos.audit.actions() == ["handler.put", "handler.put"]


async def test_the_deadline_clock_warns_once_and_walks_every_case_in_chunks():
    service, repos = complaints_service(clock_date="2026-12-01")
    repos.customers.records["C1"] = {"_id": "C1", "branch": "BR001", "owner": "S-RM1"}
    for hours in (1, 2, 3):
        await cases.create(
            service=service,
            principal=HEAD_OFFICE,
            body=intake(branch="BR001", received_at=datetime(2026, 11, 11, 9, tzinfo=UTC) + timedelta(hours=hours)),
        )
    while await scheduler.step(service):  # chunks of 2: two steps make one pass
        pass
    warned = [t for t in repos.outbox.types() if t.endswith("deadline-approaching.v1") or t.endswith("sla-breached.v1")]
    assert warned, "cases received three weeks ago are warned or breached"
    assert repos.clock.progress["deadlines"]["passes"] == 1
    published = len(repos.outbox.messages)
    while await scheduler.step(service):
        pass
    assert len(repos.outbox.messages) == published  # a second pass says nothing twice
    assert repos.clock.progress["deadlines"]["passes"] == 2


async def test_a_case_still_waiting_after_the_policys_wait_is_flagged_once(fake):
    service, repos = fake
    case = await cases.create(
        service=service, principal=TELLER, body=intake(customer_id="C-GHOST", received_at=received(service))
    )
    repos.complaints.docs[case["id"]]["pending_since"] = service.now() - timedelta(hours=1)
    await routing.unverified_step(service)
    await routing.unverified_step(service)
    assert repos.complaints.docs[case["id"]]["customer_unverified"] is True
    assert repos.outbox.types().count("crm.complaints.complaint.customer-unverified.v1") == 1
