"""HTTP routes: parse, call one application function, return."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, status

from crm_complaints.schemas import (
    Appraisal,
    Assign,
    ComplaintCreate,
    Confirm,
    Escalate,
    Extend,
    HandlerUpsert,
    Notify,
    PolicyRead,
    PolicyUpdate,
    Reopen,
    Resolve,
    Route,
    Step,
)
from crm_complaints.service import cases, handlers, policy, reports
from crm_complaints.service.context import Complaints
from crm_kit.auth import AuditReader, PolicyEditor, Reader, Writer, app_state
from crm_kit.calendar_http import calendar_router
from crm_kit.calendar_sync import ServiceCalendar
from crm_kit.errors import Invalid

router = APIRouter(prefix="/v1")
ComplaintId = Annotated[str, Path(min_length=1, max_length=40)]
StaffId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")]


C = Annotated[Complaints, Depends(app_state("complaints"))]
Conflicts: dict[int | str, dict[str, Any]] = {
    409: {"description": "not allowed from the case's current state (named in `state`) or by the rules"}
}
Report = dict[str, Any]


@router.post("/complaints", status_code=status.HTTP_201_CREATED, tags=["complaints"])
async def create(cx: C, principal: Writer, body: ComplaintCreate) -> dict[str, Any]:
    """Take in a complaint from any channel. A repeat (same customer, same category within 90 days) is linked to the
    earlier case; the case is routed to a complaint handler of the branch. A customer id complaints has not heard of
    yet is accepted (`routing: pending_customer`) and routed when the customer's event arrives; still unknown after
    the policy's wait (10 minutes), it is flagged `customer_unverified` for manual routing."""
    return await cases.create(cx=cx, principal=principal, body=body)


@router.get("/complaints", tags=["complaints"])
async def list_complaints(
    cx: C,
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
        cx=cx,
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
    cx: C,
    principal: Reader,
    complaint_id: ComplaintId,
    reveal: bool = False,
    purpose: str | None = Query(None, min_length=3, max_length=200),
) -> dict[str, Any]:
    """The case with its deadlines (acknowledge, first contact, decision), pauses, extensions and every step.
    `reveal=true&purpose=…` adds the description and the complainant's contact details (the case's handler, branch
    managers, head office; audited)."""
    return await cases.get(cx=cx, principal=principal, complaint_id=complaint_id, reveal=reveal, purpose=purpose)


def _action(name: str, model: type, doc: str) -> None:
    # A body with required fields must be sent; one without may be left out.
    needed = any(f.is_required() for f in model.model_fields.values())  # type: ignore[attr-defined]

    async def endpoint(
        cx: C,
        principal: Writer,
        complaint_id: ComplaintId,
        body: model = Body(...) if needed else Body(default_factory=model),  # type: ignore[valid-type]  # built per action
    ) -> dict[str, Any]:
        return await cases.act(cx=cx, principal=principal, complaint_id=complaint_id, action=name, body=body)

    endpoint.__doc__ = doc
    endpoint.__annotations__["body"] = model  # the body model of this action (a string under future annotations)
    router.add_api_route(
        f"/complaints/{{complaint_id}}/{name.replace('_', '-')}",
        endpoint,
        methods=["POST"],
        tags=["process"],
        responses=Conflicts,
        name=name,
    )


_action("acknowledge", Step, "received → acknowledged.")
_action("assign", Assign, "→ assigned, to the named handler or the one routed by branch and category.")
_action(
    "route",
    Route,
    "Route the case by hand to a branch and handler (no state change): the queue of cases whose "
    "customer is unverified. Outside head office, to the caller's branch only.",
)
_action("investigate", Step, "assigned/escalated/reopened → investigating.")
_action("contact", Step, "The handler reached the complainant (the first-contact target); no state change.")
_action("escalate", Escalate, "Any open step → escalated, with the reason.")
_action(
    "resolve",
    Resolve,
    "→ resolved: explanation, apology, compensation (above the approval amount it needs a "
    "branch manager or head office), root cause.",
)
_action("approve_compensation", Step, "A branch manager or head office approves the compensation.")
_action(
    "notify",
    Notify,
    "The decision was communicated to the complainant (告知): when (`notified_at`), how "
    "(`channel`), by the caller. Once per decision, after `resolve` (and any compensation approval); a case cannot "
    "close without it. On time when on or before the decision's due day.",
)
_action("confirm", Confirm, "resolved → closed: the customer confirmed (after the decision notice).")
_action("reopen", Reopen, "resolved/closed → reopened, with the reason.")
_action(
    "extend",
    Extend,
    "Extend the decision deadline: to 30 days by the handler with a reason; up to 60 by a branch "
    "manager or head office.",
)
_action("appraisal_start", Appraisal, "An external appraisal starts: the regulator's clock stops.")
_action(
    "appraisal_end",
    Appraisal,
    "The appraisal ended: the clock runs again; the decision is due later by the paused days.",
)


@router.get("/reports/complaints", response_model=Report, tags=["reports"])
async def complaints_report(
    cx: C,
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
    return await reports.complaints_report(cx=cx, principal=principal, start=from_, end=to, branch=branch)


@router.get("/handlers", tags=["handlers"])
async def list_handlers(
    cx: C, principal: Reader, branch: str | None = Query(None, max_length=20)
) -> list[dict[str, Any]]:
    return await handlers.list_handlers(cx=cx, principal=principal, branch=branch)


@router.put("/handlers/{staff_id}", tags=["handlers"])
async def put_handler(cx: C, principal: Writer, staff_id: StaffId, body: HandlerUpsert) -> dict[str, Any]:
    """A complaint handler of a branch and the categories they take (empty: all)."""
    return await handlers.put(cx=cx, principal=principal, staff_id=staff_id, body=body)


@router.get("/policy", response_model=PolicyRead, tags=["policy"])
async def get_policy(cx: C, principal: Reader) -> dict[str, Any]:  # noqa: ARG001 - authorisation only
    return await policy.read(cx=cx)


@router.put("/policy", response_model=PolicyRead, tags=["policy"])
async def put_policy(cx: C, principal: PolicyEditor, body: PolicyUpdate) -> dict[str, Any]:
    return await policy.publish_new(
        cx=cx, policy=body.policy, by=principal.staff_id, role=principal.role.value, note=body.note
    )


@router.get("/audit", tags=["audit"])
async def get_audit(
    cx: C,
    principal: AuditReader,  # noqa: ARG001 - authorisation only
    target: str | None = Query(None, max_length=60),
    staff_id: str | None = Query(None, max_length=40),
    limit: int = Query(200, ge=1, le=1000),
) -> list[dict[str, Any]]:
    return await cx.store.audit.read(target=target, staff_id=staff_id, limit=limit)


def complaints_calendar(cx: C) -> ServiceCalendar:
    service_calendar = cx.calendar
    assert service_calendar is not None
    return service_calendar


calendar_routes = calendar_router(complaints_calendar, recomputed="the open cases' targets")
