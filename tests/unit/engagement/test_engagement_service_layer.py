"""Engagement's application functions (the ones the HTTP routes, the consumers and the scheduler call) on the fake
unit of work: in-memory repositories, the outbox and the audit trail as lists. What is saved, published and audited;
the rule a request breaks; a failed run leaves everything as it was; a run repeated (a transaction retried after a
write conflict) has its effects once."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from engagement_fakes import fake_repositories

from crm_contracts.complaints import ComplaintClosed
from crm_contracts.engagement import (
    ContactBlocked,
    InteractionLogged,
    PointsChanged,
    RecommendationRecorded,
    SurveyAnswered,
    TaskCompleted,
    TaskCreated,
    TaskOverdue,
    TaskReassigned,
)
from crm_contracts.envelope import CloudEvent
from crm_contracts.topics import ENGAGEMENT_TASKS
from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.domain.customer import EngagedCustomer
from crm_engagement.domain.policy import DEFAULT_POLICY
from crm_engagement.domain.tasks import Task
from crm_engagement.schemas import (
    InteractionCreate,
    RecommendationCreate,
    Redemption,
    SurveyResponse,
    TaskAssign,
    TaskComplete,
    TaskCreate,
)
from crm_engagement.service import (
    complaint_events,
    interactions,
    points,
    policies,
    recommendations,
    scheduler,
    surveys,
    tasks,
)
from crm_engagement.service.context import Engagement
from crm_engagement.settings import EngagementSettings
from crm_kit.auth import Principal, Role
from crm_kit.clock import BANK_TZ
from crm_kit.errors import RuleBroken
from crm_kit.fakes import FakeUnitOfWork
from crm_kit.messaging import Incoming
from crm_kit.runtime import Runtime

TODAY = date(2026, 12, 1)  # a Tuesday
YESTERDAY_MORNING = datetime(2026, 11, 30, 10, 0, tzinfo=BANK_TZ)  # before any "now" of the pinned day
RM = Principal("S-RM1", Role.RELATIONSHIP_MANAGER, "BR001")
OTHER_RM = Principal("S-RM2", Role.RELATIONSHIP_MANAGER, "BR001")
SUPERVISOR = Principal("S-SUP1", Role.RM_SUPERVISOR, "BR001")
CALL_CENTRE = Principal("S-CC1", Role.HEAD_OFFICE, None)


def engagement(repos: EngagementRepositories) -> tuple[Engagement, FakeUnitOfWork[EngagementRepositories]]:
    settings = EngagementSettings(
        crm_data_key="A" * 43 + "=", crm_lookup_key="A" * 43 + "=", crm_jwt_secret="unit-tests", clock_date=TODAY
    )
    uow = FakeUnitOfWork(repos)
    return Engagement(rt=Runtime(settings, topics=[ENGAGEMENT_TASKS]), uow=uow), uow


def customer(customer_id: str = "C1", **fields: Any) -> EngagedCustomer:
    return EngagedCustomer(
        customer_id=customer_id,
        **{"branch": "BR001", "owner": "S-RM1", "tier": "vip", "consents": {"phone": True}, **fields},
    )


def open_task(task_id: str = "C1:manual:1", **fields: Any) -> Task:
    return Task(
        **{
            "task_id": task_id,
            "customer_id": "C1",
            "kind": "manual",
            "purpose": "service",
            "channel": "call",
            "due_on": date(2026, 12, 3),
            "assignee": "S-RM1",
            "branch": "BR001",
            "tier": "vip",
            "owner": "S-RM1",
            "status": "open",
            "created_at": datetime(2026, 11, 20, 9, 0, tzinfo=BANK_TZ),
            **fields,
        }
    )


def snapshot(repos: EngagementRepositories) -> dict[str, Any]:
    """Everything stored, to compare before and after a run."""
    return {name: repr(vars(value)) for name, value in vars(repos).items()}


async def test_a_task_made_by_hand_is_stored_for_the_caller_and_published() -> None:
    repos = fake_repositories()
    repos.customers.add(customer())
    service, uow = engagement(repos)

    view = await tasks.create(
        service=service,
        principal=RM,
        body=TaskCreate(customer_id="C1", channel="call", due_on=date(2026, 12, 4), note="call back about the card"),
    )

    assert view["assignee"] == "S-RM1" and view["kind"] == "manual" and view["status"] == "open"
    assert view["note"] == "call back about the card" and view["overdue"] is False
    assert repos.tasks.docs[view["id"]]["due_on"] == "2026-12-04"
    assert repos.outbox.types() == [TaskCreated.event_type]
    assert uow.commits == 1


async def test_a_task_for_a_colleague_who_owns_nobody_in_the_branch_is_refused_and_nothing_is_stored() -> None:
    repos = fake_repositories()
    repos.customers.add(customer())
    service, uow = engagement(repos)
    before = snapshot(repos)

    with pytest.raises(RuleBroken) as refused:
        await tasks.create(
            service=service,
            principal=SUPERVISOR,
            body=TaskCreate(customer_id="C1", channel="call", due_on=date(2026, 12, 4), assignee="S-STRANGER"),
        )

    assert (refused.value.kind, refused.value.field) == ("invalid", "assignee")
    assert uow.rollbacks == 1
    assert snapshot(uow.repositories) == before


async def test_completing_a_task_closes_it_frees_its_occasion_and_logs_the_contact() -> None:
    repos = fake_repositories()
    repos.customers.add(customer())
    task = open_task("C1:welcome:vip", kind="welcome", occasion="upgrade_to_vip")
    repos.tasks.add(task)
    assert "C1:welcome" in repos.tasks.open_keys
    service, uow = engagement(repos)

    view = await tasks.complete(
        service=service,
        principal=RM,
        task_id=task.task_id,
        body=TaskComplete(outcome="reached", occurred_at=YESTERDAY_MORNING, notes="welcomed"),
    )

    assert (view["status"], view["outcome"], view["on_time"], view["completed_by"]) == (
        "done",
        "reached",
        True,
        "S-RM1",
    )
    assert [h["action"] for h in repos.tasks.docs[task.task_id]["history"]] == ["created", "completed"]
    assert "C1:welcome" not in repos.tasks.open_keys
    [contact] = repos.interactions.docs.values()
    assert (contact["task_id"], contact["channel"], contact["occurred_at"]) == (task.task_id, "call", YESTERDAY_MORNING)
    assert repos.outbox.types() == [InteractionLogged.event_type, TaskCompleted.event_type]

    with pytest.raises(RuleBroken) as again:
        await tasks.complete(service=service, principal=RM, task_id=task.task_id, body=TaskComplete(outcome="reached"))
    assert again.value.kind == "conflict" and uow.rollbacks == 1


async def test_a_contact_the_customer_refused_is_recorded_as_a_blocked_attempt_and_answers_with_the_rule() -> None:
    repos = fake_repositories()
    repos.customers.add(customer(consents={"phone": False}))
    service, uow = engagement(repos)

    with pytest.raises(RuleBroken) as blocked:
        await interactions.log_interaction(
            service=service,
            principal=RM,
            body=InteractionCreate(customer_id="C1", channel="call", purpose="service", occurred_at=YESTERDAY_MORNING),
        )

    assert blocked.value.kind == "conflict" and blocked.value.extra["rule"] == "consent.opt_out"
    # The attempt commits before the refusal is answered: it is kept and published, no contact is logged.
    assert uow.commits == 1 and uow.rollbacks == 0
    [attempt] = repos.attempts.docs.values()
    assert attempt["_id"] == blocked.value.extra["attempt_id"]
    assert (attempt["rule"], attempt["context"], attempt["branch"]) == ("consent.opt_out", "interaction", "BR001")
    assert repos.interactions.docs == {}
    assert repos.outbox.types() == [ContactBlocked.event_type]


async def test_reassignment_moves_the_task_audits_and_publishes_once_even_when_the_transaction_is_retried() -> None:
    repos = fake_repositories()
    repos.customers.add(customer(), customer("C2", owner="S-RM2"))
    task = open_task()
    repos.tasks.add(task)
    service, uow = engagement(repos)
    uow.retry_once = True

    view = await tasks.reassign(
        service=service, principal=SUPERVISOR, task_id=task.task_id, body=TaskAssign(assignee="S-RM2", reason="leave")
    )

    repos = uow.repositories
    assert view["assignee"] == "S-RM2"
    assert [h["action"] for h in repos.tasks.docs[task.task_id]["history"]] == ["created", "reassigned"]
    assert repos.outbox.types() == [TaskReassigned.event_type]
    assert [(row["action"], row["target"], row["detail"]["to"]) for row in repos.audit.rows] == [
        ("task.reassigned", task.task_id, "S-RM2")
    ]
    assert uow.commits == 1


async def test_points_redeemed_once_per_request_and_never_below_zero() -> None:
    repos = fake_repositories()
    repos.customers.add(customer())
    repos.points.accounts["C1"] = {"_id": "C1", "balance": 100, "earned": 100}
    service, uow = engagement(repos)
    uow.retry_once = True
    request = Redemption(points=60, reason="gift", request_id="APP-1")

    first = await points.redeem(service=service, principal=RM, customer_id="C1", body=request)
    replay = await points.redeem(service=service, principal=RM, customer_id="C1", body=request)

    assert (first["balance"], first["replayed"]) == (40, False)
    assert (replay["balance"], replay["replayed"]) == (40, True)
    repos = uow.repositories
    assert repos.points.accounts["C1"]["balance"] == 40
    assert repos.points.ledger["C1:redeem:APP-1"]["change"] == -60
    assert repos.outbox.types() == [PointsChanged.event_type]

    before = snapshot(repos)
    with pytest.raises(RuleBroken) as too_many:
        await points.redeem(
            service=service, principal=RM, customer_id="C1", body=Redemption(points=50, reason="tv", request_id="APP-2")
        )
    assert too_many.value.kind == "conflict" and too_many.value.extra["balance"] == 40
    assert snapshot(uow.repositories) == before


async def test_a_survey_answer_is_published_and_earns_points_but_not_when_the_owner_records_it() -> None:
    repos = fake_repositories()
    repos.customers.add(customer())
    repos.surveys.docs["complaint:CMP-1"] = {
        "_id": "complaint:CMP-1",
        "customer_id": "C1",
        "trigger": "complaint_closed",
        "complaint_id": "CMP-1",
        "status": "open",
        "created_at": datetime(2026, 11, 28, tzinfo=BANK_TZ),
        "expires_on": "2026-12-28",
        "csat": None,
        "nps": None,
    }
    service, uow = engagement(repos)
    before = snapshot(repos)

    with pytest.raises(RuleBroken) as own:
        await surveys.answer(service=service, principal=RM, survey_id="complaint:CMP-1", body=SurveyResponse(csat=5))
    assert own.value.kind == "forbidden"
    assert snapshot(uow.repositories) == before

    view = await surveys.answer(
        service=service, principal=CALL_CENTRE, survey_id="complaint:CMP-1", body=SurveyResponse(csat=4, nps=9)
    )

    repos = uow.repositories
    assert (view["status"], view["csat"], view["nps"], view["recorded_by"]) == ("answered", 4, 9, "S-CC1")
    assert repos.outbox.types() == [SurveyAnswered.event_type, PointsChanged.event_type]
    entry = repos.points.ledger["C1:survey:complaint:CMP-1"]
    assert (entry["change"], entry["balance"]) == (DEFAULT_POLICY.points.per_survey, DEFAULT_POLICY.points.per_survey)


async def test_an_unsuitable_product_is_refused_by_the_suitability_rule_and_the_attempt_is_kept() -> None:
    repos = fake_repositories()
    repos.customers.add(customer(risk_tolerance="C2", risk_assessed_on=date(2026, 6, 1)))
    repos.products.docs["FUND-R4"] = {"_id": "FUND-R4", "name": "Equity fund", "risk_level": "R4", "active": True}
    service, uow = engagement(repos)

    with pytest.raises(RuleBroken) as refused:
        await recommendations.recommend(
            service=service,
            principal=RM,
            body=RecommendationCreate(customer_id="C1", product_code="FUND-R4", channel="visit"),
        )

    assert refused.value.kind == "conflict" and refused.value.extra["rule"] == "suitability"
    [kept] = repos.recommendations.docs.values()
    assert (kept["allowed"], kept["product_risk"], kept["customer_tolerance"]) == (False, "R4", "C2")
    assert repos.outbox.types() == [RecommendationRecorded.event_type]
    assert repos.interactions.docs == {}  # no contact was made
    assert uow.commits == 1


async def test_a_closed_complaint_brings_one_follow_up_and_one_survey_even_when_delivered_twice() -> None:
    repos = fake_repositories()
    repos.customers.add(customer())
    service, uow = engagement(repos)
    closed = ComplaintClosed(
        complaint_id="CMP-9",
        customer_id="C1",
        closed_at=datetime(2026, 11, 30, 15, 0, tzinfo=BANK_TZ),
        outcome="refund",
    )
    event = CloudEvent.wrap(closed, source="crm/complaints", subject="C1")
    item = Incoming(
        topic="crm.complaints.cases", partition=0, offset=7, key="C1", value=b"", message_id="m-7", payload=event
    )

    async def deliver(repos: EngagementRepositories) -> Any:
        return await complaint_events.apply_complaint_events(service=service, repos=repos, items=[item])

    await uow.run(deliver)
    uow.retry_once = True
    await uow.run(deliver)

    repos = uow.repositories
    [follow_up] = [doc for doc in repos.tasks.docs.values() if doc["kind"] == "complaint_follow_up"]
    assert (follow_up["_id"], follow_up["occasion"], follow_up["assignee"]) == (
        "C1:complaint_follow_up:CMP-9",
        "CMP-9",
        "S-RM1",
    )
    assert list(repos.surveys.docs) == ["complaint:CMP-9"]
    assert repos.outbox.types() == [TaskCreated.event_type]
    assert uow.commits == 2


async def test_the_scheduler_flags_overdue_tasks_once_and_records_its_progress() -> None:
    repos = fake_repositories()
    repos.tasks.add(
        open_task("C1:manual:late", due_on=date(2026, 11, 27)),
        open_task("C1:manual:due-today", due_on=TODAY),
        open_task("C1:manual:done", due_on=date(2026, 11, 20), status="done"),
    )
    service, uow = engagement(repos)

    while await scheduler.step(service):
        pass
    assert not await scheduler.step(service)  # today's work is done: nothing is flagged twice

    repos = uow.repositories
    assert repos.tasks.docs["C1:manual:late"]["overdue"] is True
    assert repos.tasks.docs["C1:manual:late"]["overdue_since"] == "2026-12-01"
    assert repos.tasks.docs["C1:manual:due-today"]["overdue"] is False
    assert repos.outbox.types() == [TaskOverdue.event_type]
    progress = repos.scheduler.docs["overdue:2026-12-01"]
    assert (progress["done"], progress["visited"], progress["cursor"]) == (True, 1, "C1:manual:late")


async def test_a_new_policy_version_is_audited_and_becomes_the_one_in_force() -> None:
    repos = fake_repositories()
    service, uow = engagement(repos)
    stricter = DEFAULT_POLICY.model_copy(update={"points": DEFAULT_POLICY.points.model_copy(update={"per_survey": 50})})
    uow.retry_once = True

    read = await policies.publish_new(service=service, policy=stricter, by="S-HO1", role="head_office", note="more")

    repos = uow.repositories
    assert read["version"] == 2 and read["policy"]["points"]["per_survey"] == 50
    assert [(row["action"], row["target"]) for row in repos.audit.rows] == [("policy.published", "policy-2")]
    assert (await repos.policies.current())[1] == 2
