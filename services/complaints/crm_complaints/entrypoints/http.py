"""HTTP routes: parse, call one application function, return."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, status

from crm_complaints.schemas import (
    Acknowledge,
    AppraisalEnd,
    AppraisalStart,
    ApproveCompensation,
    Assign,
    CaseCommand,
    ComplaintCreate,
    Confirm,
    Contact,
    Escalate,
    Extend,
    HandlerUpsert,
    Investigate,
    Notify,
    PolicyRead,
    PolicyUpdate,
    Reopen,
    Resolve,
    Route,
)
from crm_complaints.service import cases, handlers, policy, reports
from crm_complaints.service.context import Complaints
from crm_kit.auth import AuditReader, PolicyEditor, Principal, Reader, Writer, app_state
from crm_kit.calendar_http import calendar_router
from crm_kit.calendar_sync import ServiceCalendar
from crm_kit.errors import Invalid

router = APIRouter(prefix="/v1")
ComplaintId = Annotated[str, Path(min_length=1, max_length=40)]
StaffId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")]


Service = Annotated[Complaints, Depends(app_state("complaints"))]
Conflicts: dict[int | str, dict[str, Any]] = {
    409: {"description": "not allowed from the case's current state (named in `state`) or by the rules"}
}
Report = dict[str, Any]


@router.post("/complaints", status_code=status.HTTP_201_CREATED, tags=["complaints"])
async def create(service: Service, principal: Writer, body: ComplaintCreate) -> dict[str, Any]:
    """Take in a complaint from any channel. A repeat (same customer, same category within 90 days) is linked to the
    earlier case; the case is routed to a complaint handler of the branch. A customer id complaints has not heard of
    yet is accepted (`routing: pending_customer`) and routed when the customer's event arrives; still unknown after
    the policy's wait (10 minutes), it is flagged `customer_unverified` for manual routing."""
    return await cases.create(service=service, principal=principal, body=body)


@router.get("/complaints", tags=["complaints"])
async def list_complaints(
    service: Service,
    principal: Reader,
    state: str | None = Query(None, max_length=20),
    branch: str | None = Query(None, max_length=20),
    customer_id: str | None = Query(None, max_length=40),
    handler: str | None = Query(None, max_length=40),
    category: str | None = Query(None, max_length=40),
    after: str | None = Query(None, max_length=40),
    limit: int = Query(100, ge=1, le=500),
    routing: Literal["routed", "pending_customer", "manual"] | None = Query(
        None, description="`pending_customer`: taken in before complaints knew the customer"
    ),
    customer_unverified: bool | None = Query(
        None, description="true: the queue for manual routing (customer id still unknown after the policy's wait)"
    ),
) -> dict[str, Any]:
    return await cases.list_cases(
        service=service,
        principal=principal,
        state=state,
        branch=branch,
        customer_id=customer_id,
        handler=handler,
        category=category,
        limit=limit,
        after=after,
        routing=routing,
        customer_unverified=customer_unverified,
    )


@router.get("/complaints/{complaint_id}", tags=["complaints"])
async def get_complaint(
    service: Service,
    principal: Reader,
    complaint_id: ComplaintId,
    reveal: bool = False,
    purpose: str | None = Query(None, min_length=3, max_length=200),
) -> dict[str, Any]:
    """The case with its deadlines (acknowledge, first contact, decision), pauses, extensions and every step.
    `reveal=true&purpose=…` adds the description and the complainant's contact details (the case's handler, branch
    managers, head office; audited)."""
    return await cases.get(
        service=service, principal=principal, complaint_id=complaint_id, reveal=reveal, purpose=purpose
    )


async def _step(service: Complaints, principal: Principal, complaint_id: str, command: CaseCommand) -> dict[str, Any]:
    return await cases.act(service=service, principal=principal, complaint_id=complaint_id, command=command)


# The steps of the standard process, one route and one command model each (service.cases.STEPS applies them). A
# command with required fields must be sent; one without may be left out.
@router.post("/complaints/{complaint_id}/acknowledge", tags=["process"], responses=Conflicts, name="acknowledge")
async def acknowledge(
    service: Service,
    principal: Writer,
    complaint_id: ComplaintId,
    command: Acknowledge = Body(default_factory=Acknowledge),
) -> dict[str, Any]:
    """received → acknowledged."""
    return await _step(service, principal, complaint_id, command)


@router.post("/complaints/{complaint_id}/assign", tags=["process"], responses=Conflicts, name="assign")
async def assign(
    service: Service, principal: Writer, complaint_id: ComplaintId, command: Assign = Body(default_factory=Assign)
) -> dict[str, Any]:
    """→ assigned, to the named handler or the one routed by branch and category."""
    return await _step(service, principal, complaint_id, command)


@router.post("/complaints/{complaint_id}/route", tags=["process"], responses=Conflicts, name="route")
async def route(
    service: Service, principal: Writer, complaint_id: ComplaintId, command: Route = Body(default_factory=Route)
) -> dict[str, Any]:
    """Route the case by hand to a branch and handler (no state change): the queue of cases whose customer is
    unverified. Outside head office, to the caller's branch only."""
    return await _step(service, principal, complaint_id, command)


@router.post("/complaints/{complaint_id}/investigate", tags=["process"], responses=Conflicts, name="investigate")
async def investigate(
    service: Service,
    principal: Writer,
    complaint_id: ComplaintId,
    command: Investigate = Body(default_factory=Investigate),
) -> dict[str, Any]:
    """assigned/escalated/reopened → investigating."""
    return await _step(service, principal, complaint_id, command)


@router.post("/complaints/{complaint_id}/contact", tags=["process"], responses=Conflicts, name="contact")
async def contact(
    service: Service, principal: Writer, complaint_id: ComplaintId, command: Contact = Body(default_factory=Contact)
) -> dict[str, Any]:
    """The handler reached the complainant (the first-contact target); no state change."""
    return await _step(service, principal, complaint_id, command)


@router.post("/complaints/{complaint_id}/escalate", tags=["process"], responses=Conflicts, name="escalate")
async def escalate(
    service: Service, principal: Writer, complaint_id: ComplaintId, command: Escalate = Body()
) -> dict[str, Any]:
    """Any open step → escalated, with the reason."""
    return await _step(service, principal, complaint_id, command)


@router.post("/complaints/{complaint_id}/resolve", tags=["process"], responses=Conflicts, name="resolve")
async def resolve(
    service: Service, principal: Writer, complaint_id: ComplaintId, command: Resolve = Body()
) -> dict[str, Any]:
    """→ resolved: explanation, apology, compensation (above the approval amount it needs a branch manager or
    head office), root cause."""
    return await _step(service, principal, complaint_id, command)


@router.post(
    "/complaints/{complaint_id}/approve-compensation",
    tags=["process"],
    responses=Conflicts,
    name="approve_compensation",
)
async def approve_compensation(
    service: Service,
    principal: Writer,
    complaint_id: ComplaintId,
    command: ApproveCompensation = Body(default_factory=ApproveCompensation),
) -> dict[str, Any]:
    """A branch manager or head office approves the compensation."""
    return await _step(service, principal, complaint_id, command)


@router.post("/complaints/{complaint_id}/notify", tags=["process"], responses=Conflicts, name="notify")
async def notify(
    service: Service, principal: Writer, complaint_id: ComplaintId, command: Notify = Body()
) -> dict[str, Any]:
    """The decision was communicated to the complainant (告知): when (`notified_at`), how (`channel`), by the
    caller. Once per decision, after `resolve` (and any compensation approval); a case cannot close without it. On
    time when on or before the decision's due day."""
    return await _step(service, principal, complaint_id, command)


@router.post("/complaints/{complaint_id}/confirm", tags=["process"], responses=Conflicts, name="confirm")
async def confirm(
    service: Service, principal: Writer, complaint_id: ComplaintId, command: Confirm = Body(default_factory=Confirm)
) -> dict[str, Any]:
    """resolved → closed: the customer confirmed (after the decision notice)."""
    return await _step(service, principal, complaint_id, command)


@router.post("/complaints/{complaint_id}/reopen", tags=["process"], responses=Conflicts, name="reopen")
async def reopen(
    service: Service, principal: Writer, complaint_id: ComplaintId, command: Reopen = Body()
) -> dict[str, Any]:
    """resolved/closed → reopened, with the reason."""
    return await _step(service, principal, complaint_id, command)


@router.post("/complaints/{complaint_id}/extend", tags=["process"], responses=Conflicts, name="extend")
async def extend(
    service: Service, principal: Writer, complaint_id: ComplaintId, command: Extend = Body()
) -> dict[str, Any]:
    """Extend the decision deadline: to 30 days by the handler with a reason; up to 60 by a branch manager or
    head office."""
    return await _step(service, principal, complaint_id, command)


@router.post(
    "/complaints/{complaint_id}/appraisal-start", tags=["process"], responses=Conflicts, name="appraisal_start"
)
async def appraisal_start(
    service: Service,
    principal: Writer,
    complaint_id: ComplaintId,
    command: AppraisalStart = Body(default_factory=AppraisalStart),
) -> dict[str, Any]:
    """An external appraisal starts: the regulator's clock stops."""
    return await _step(service, principal, complaint_id, command)


@router.post("/complaints/{complaint_id}/appraisal-end", tags=["process"], responses=Conflicts, name="appraisal_end")
async def appraisal_end(
    service: Service,
    principal: Writer,
    complaint_id: ComplaintId,
    command: AppraisalEnd = Body(default_factory=AppraisalEnd),
) -> dict[str, Any]:
    """The appraisal ended: the clock runs again; the decision is due later by the paused days."""
    return await _step(service, principal, complaint_id, command)


@router.get("/reports/complaints", response_model=Report, tags=["reports"])
async def complaints_report(
    service: Service,
    principal: Reader,
    from_: Annotated[date, Query(alias="from")],
    to: date,
    branch: str | None = Query(None, max_length=20),
) -> dict[str, Any]:
    """Cases received from `from` to `to` (inclusive) in the caller's scope: volume by category, channel and branch;
    on-time rate; median and 90th-percentile days to resolve; compensation total; repeat rate; decisions notified
    (告知) on time — told on or before the decision's due day — and their rate (decided cases not told by then count
    against it)."""
    if to < from_:
        raise Invalid("to: is before from", field="to")
    if from_ < date(2000, 1, 1) or to > date(2100, 12, 31) or (to - from_).days > 3660:
        raise Invalid("from, to: a period within 2000–2100 and at most ten years", field="from")
    return await reports.complaints_report(service=service, principal=principal, start=from_, end=to, branch=branch)


@router.get("/handlers", tags=["handlers"])
async def list_handlers(
    service: Service, principal: Reader, branch: str | None = Query(None, max_length=20)
) -> list[dict[str, Any]]:
    return await handlers.list_handlers(service=service, principal=principal, branch=branch)


@router.put("/handlers/{staff_id}", tags=["handlers"])
async def put_handler(service: Service, principal: Writer, staff_id: StaffId, body: HandlerUpsert) -> dict[str, Any]:
    """A complaint handler of a branch and the categories they take (empty: all)."""
    return await handlers.put(service=service, principal=principal, staff_id=staff_id, body=body)


@router.get("/policy", response_model=PolicyRead, tags=["policy"])
async def get_policy(service: Service, principal: Reader) -> dict[str, Any]:  # noqa: ARG001 - authorisation only
    return await policy.read(service=service)


@router.put("/policy", response_model=PolicyRead, tags=["policy"])
async def put_policy(service: Service, principal: PolicyEditor, body: PolicyUpdate) -> dict[str, Any]:
    return await policy.publish_new(
        service=service, policy=body.policy, by=principal.staff_id, role=principal.role.value, note=body.note
    )


@router.get("/audit", tags=["audit"])
async def get_audit(
    service: Service,
    principal: AuditReader,  # noqa: ARG001 - authorisation only
    target: str | None = Query(None, max_length=60),
    staff_id: str | None = Query(None, max_length=40),
    limit: int = Query(200, ge=1, le=1000),
) -> list[dict[str, Any]]:
    return await service.uow.reading().audit.read(target=target, staff_id=staff_id, limit=limit)


def complaints_calendar(service: Service) -> ServiceCalendar:
    service_calendar = service.calendar
    assert service_calendar is not None
    return service_calendar


calendar_routes = calendar_router(complaints_calendar, recomputed="the open cases' targets")
