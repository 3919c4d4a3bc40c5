"""HTTP routes: parse, call one application function, return."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status

from crm_contracts.engagement import ContactRule, RiskLevel, TaskKind, TaskStatus
from crm_engagement.schemas import (
    Agenda,
    InteractionCreate,
    InteractionRead,
    PolicyRead,
    PolicyUpdate,
    ProductRead,
    ProductUpsert,
    RecommendationCreate,
    RecommendationRead,
    Redemption,
    SurveyResponse,
    TaskAssign,
    TaskComplete,
    TaskCreate,
    TaskPage,
    TaskRead,
)
from crm_engagement.service import interactions, points, policies, recommendations, reports, surveys, tasks
from crm_engagement.service.context import Engagement
from crm_kit.auth import (
    SUPERVISING,
    AuditReader,
    PolicyEditor,
    Principal,
    Reader,
    Role,
    Writer,
    app_state,
    require_roles,
)
from crm_kit.calendar_http import calendar_router
from crm_kit.calendar_sync import ServiceCalendar

router = APIRouter(prefix="/v1")
CustomerId = Annotated[str, Path(min_length=1, max_length=40)]
TaskId = Annotated[str, Path(min_length=1, max_length=200)]
Code = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")]


Service = Annotated[Engagement, Depends(app_state("engagement"))]
# Who may hand a task to another staff member.
TaskAssigner = Annotated[Principal, Depends(require_roles(*SUPERVISING))]
Overseer = Annotated[
    Principal,
    Depends(require_roles(Role.RM_SUPERVISOR, Role.BRANCH_MANAGER, Role.HEAD_OFFICE, Role.AUDITOR, Role.ADMIN)),
]
Blocked: dict[int | str, dict[str, Any]] = {
    409: {"description": "blocked by a contact or suitability rule, named in `rule`; the attempt is recorded"}
}


@router.get("/policy", response_model=PolicyRead, tags=["policy"])
async def get_policy(service: Service, principal: Reader) -> dict[str, Any]:  # noqa: ARG001 - any staff may read the rules
    """Cadence per tier, care moments, triggers, contact rules (caps, quiet hours), suitability, surveys, points."""
    return await policies.read(service=service)


@router.put("/policy", response_model=PolicyRead, tags=["policy"])
async def put_policy(service: Service, principal: PolicyEditor, body: PolicyUpdate) -> dict[str, Any]:
    """Store a new version (head office, admin); every customer's follow-ups are re-planned in the background."""
    return await policies.publish_new(
        service=service, policy=body.policy, by=principal.staff_id, role=principal.role.value, note=body.note
    )


@router.get("/tasks", response_model=TaskPage, tags=["tasks"])
async def list_tasks(
    service: Service,
    principal: Reader,
    assignee: str | None = Query(None, max_length=40),
    customer_id: str | None = Query(None, max_length=40),
    kind: TaskKind | None = None,
    status: TaskStatus | None = None,
    due_from: date | None = None,
    due_to: date | None = None,
    overdue: bool | None = None,
    after: str | None = Query(None, max_length=200),
    limit: int = Query(100, ge=1, le=500),
) -> dict[str, Any]:
    """Tasks in the caller's scope (own and own customers'; a branch for supervisors; all for head office)."""
    return await tasks.list_tasks(
        service=service,
        principal=principal,
        assignee=assignee,
        customer_id=customer_id,
        kind=kind,
        status=status,
        due_from=due_from,
        due_to=due_to,
        overdue=overdue,
        limit=limit,
        after=after,
    )


@router.post("/tasks", response_model=TaskRead, status_code=status.HTTP_201_CREATED, tags=["tasks"], responses=Blocked)
async def create_task(service: Service, principal: Writer, body: TaskCreate) -> dict[str, Any]:
    """A task made by hand (a call-back the customer asked for …)."""
    return await tasks.create(service=service, principal=principal, body=body)


@router.get("/tasks/{task_id}", response_model=TaskRead, tags=["tasks"])
async def get_task(service: Service, principal: Reader, task_id: TaskId) -> dict[str, Any]:
    return await tasks.get_task(service=service, principal=principal, task_id=task_id)


@router.post("/tasks/{task_id}/complete", response_model=TaskRead, tags=["tasks"], responses=Blocked)
async def complete_task(service: Service, principal: Writer, task_id: TaskId, body: TaskComplete) -> dict[str, Any]:
    """Record the contact the task stands for (outcome, channel, notes). The contact rules apply at this moment."""
    return await tasks.complete(service=service, principal=principal, task_id=task_id, body=body)


@router.post("/tasks/{task_id}/assign", response_model=TaskRead, tags=["tasks"])
async def assign_task(service: Service, principal: TaskAssigner, task_id: TaskId, body: TaskAssign) -> dict[str, Any]:
    """Reassignment by an RM supervisor or branch manager (their branch), head office or admin."""
    return await tasks.reassign(service=service, principal=principal, task_id=task_id, body=body)


@router.get("/agenda", response_model=Agenda, tags=["tasks"])
async def get_agenda(
    service: Service, principal: Reader, staff: str | None = Query(None, max_length=40), date: date | None = None
) -> dict[str, Any]:  # the query parameter's name
    """A staff member's day (default: the caller, today): open tasks due by then, overdue ones included, most
    important first — tier, then due date, then kind."""
    return await tasks.agenda(service=service, principal=principal, staff=staff, on=date)


@router.post(
    "/interactions",
    response_model=InteractionRead,
    status_code=status.HTTP_201_CREATED,
    tags=["interactions"],
    responses=Blocked,
)
async def log_interaction(service: Service, principal: Writer, body: InteractionCreate) -> dict[str, Any]:
    """Log a contact on any channel. An outbound one is checked against consent, caps, quiet hours and holidays."""
    return await interactions.log_interaction(service=service, principal=principal, body=body)


@router.get("/customers/{customer_id}/interactions", response_model=list[InteractionRead], tags=["interactions"])
async def customer_interactions(
    service: Service,
    principal: Reader,
    customer_id: CustomerId,
    before: datetime | None = None,
    limit: int = Query(100, ge=1, le=500),
) -> list[dict[str, Any]]:
    """The customer's contact history across channels, newest first, shared by the team within data scope."""
    return await interactions.history(
        service=service, principal=principal, customer_id=customer_id, limit=limit, before=before
    )


@router.get("/contact-attempts", tags=["interactions"])
async def contact_attempts(
    service: Service,
    principal: Reader,
    customer_id: str | None = Query(None, max_length=40),
    rule: ContactRule | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Blocked contact attempts with the rule that blocked them (a customer's, or the caller's scope's)."""
    return await reports.blocked_attempts(
        service=service, principal=principal, customer_id=customer_id, rule=rule, limit=limit
    )


@router.get("/products", response_model=list[ProductRead], tags=["suitability"])
async def list_products(
    service: Service,
    principal: Reader,  # noqa: ARG001 - authorisation only: any staff may read the catalogue
    risk_level: RiskLevel | None = None,
    active: bool | None = None,
) -> list[dict[str, Any]]:
    """The product catalogue with risk levels R1–R5."""
    return await recommendations.list_products(service=service, risk_level=risk_level, active=active)


@router.put("/products/{code}", response_model=ProductRead, tags=["suitability"])
async def put_product(service: Service, principal: PolicyEditor, code: Code, body: ProductUpsert) -> dict[str, Any]:
    return await recommendations.put_product(service=service, principal=principal, code=code, body=body)


@router.post(
    "/recommendations",
    response_model=RecommendationRead,
    status_code=status.HTTP_201_CREATED,
    tags=["suitability"],
    responses=Blocked,
)
async def recommend(service: Service, principal: Writer, body: RecommendationCreate) -> dict[str, Any]:
    """Recommend a product: allowed only if the customer's current risk tolerance covers its risk level (Cn takes
    R1..Rn; professional investors all). Every attempt, allowed or not, is kept."""
    return await recommendations.recommend(service=service, principal=principal, body=body)


@router.get("/customers/{customer_id}/recommendations", response_model=list[RecommendationRead], tags=["suitability"])
async def customer_recommendations(
    service: Service, principal: Reader, customer_id: CustomerId, limit: int = Query(100, ge=1, le=500)
) -> list[dict[str, Any]]:
    return await recommendations.list_recommendations(
        service=service, principal=principal, customer_id=customer_id, limit=limit
    )


@router.get("/customers/{customer_id}/surveys", tags=["surveys"])
async def customer_surveys(
    service: Service,
    principal: Reader,
    customer_id: CustomerId,
    status: str | None = Query(None, pattern="^(open|answered)$"),
) -> list[dict[str, Any]]:
    return await surveys.list_surveys(service=service, principal=principal, customer_id=customer_id, status=status)


@router.post("/surveys/{survey_id}/responses", tags=["surveys"])
async def answer_survey(
    service: Service,
    principal: Writer,
    survey_id: Annotated[str, Path(min_length=1, max_length=200)],
    body: SurveyResponse,
) -> dict[str, Any]:
    """The customer's answer (CSAT 1–5, NPS 0–10), as the call centre or mobile banking records it; once per survey."""
    return await surveys.answer(service=service, principal=principal, survey_id=survey_id, body=body)


@router.get("/customers/{customer_id}/points", tags=["points"])
async def customer_points(
    service: Service, principal: Reader, customer_id: CustomerId, limit: int = Query(50, ge=1, le=500)
) -> dict[str, Any]:
    return await points.balance(service=service, principal=principal, customer_id=customer_id, limit=limit)


@router.post(
    "/customers/{customer_id}/points/redemptions",
    tags=["points"],
    responses={409: {"description": "the balance is too low (it never goes negative)"}},
)
async def redeem_points(
    service: Service, principal: Writer, customer_id: CustomerId, body: Redemption
) -> dict[str, Any]:
    return await points.redeem(service=service, principal=principal, customer_id=customer_id, body=body)


@router.get("/reports/follow-ups", tags=["reports"])
async def follow_up_report(
    service: Service, principal: Reader, branch: str | None = Query(None, max_length=20)
) -> dict[str, Any]:
    """Workload and follow-up completion per staff member in the caller's scope: open, overdue, done, on time."""
    return await reports.follow_ups(service=service, principal=principal, branch=branch)


@router.get("/audit", tags=["audit"])
async def get_audit(
    service: Service,
    principal: AuditReader,  # noqa: ARG001 - authorisation only
    target: str | None = Query(None, max_length=60),
    staff_id: str | None = Query(None, max_length=40),
    limit: int = Query(200, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Who changed the policy or the product catalogue or reassigned a task, newest first."""
    return await service.uow.reading().audit.read(target=target, staff_id=staff_id, limit=limit)


def engagement_calendar(service: Service) -> ServiceCalendar:
    service_calendar = service.calendar
    assert service_calendar is not None
    return service_calendar


calendar_routes = calendar_router(engagement_calendar, recomputed="the open tasks' due dates")
