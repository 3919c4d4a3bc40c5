"""Complaints through the API: intake (with repeat linking and routing to a handler), every step of the standard
process, extensions, appraisal pauses, compensation approval, and the reads — all within data scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from crm_complaints.adapters.repositories import ComplaintsRepositories
from crm_complaints.adapters.store import complaint_from_doc, with_calendar
from crm_complaints.domain import deadlines
from crm_complaints.domain.complaint import Complaint
from crm_complaints.domain.policy import ComplaintsPolicy
from crm_complaints.domain.workflow import OPEN_STATES
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
    Investigate,
    Notify,
    Reopen,
    Resolve,
    Route,
)
from crm_complaints.service import handlers, routing
from crm_complaints.service.context import Complaints
from crm_kit.auth import ALL_SCOPE, BRANCH_SCOPE, Principal, Role
from crm_kit.clock import local_day, past_instant
from crm_kit.errors import Conflict, Forbidden, Invalid, NotFound, RuleBroken, must_exist
from crm_kit.masking import mask_email, mask_name, mask_phone
from crm_kit.scope import DataScope

HANDLING = frozenset({Role.COMPLAINT_HANDLER, Role.BRANCH_MANAGER, Role.HEAD_OFFICE, Role.ADMIN})


COMPLAINTS = DataScope(personal=("owner", "received_by"), branch_roles=BRANCH_SCOPE | {Role.COMPLAINT_HANDLER})
"""Complaint handlers and branch roles see their branch; head office, auditors and admins all; other staff the
complaints of their own customers and those they took in."""


def view(service: Complaints, doc: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """The case; the description and the complainant's contact details only with `full` (the handling roles, audited
    by the caller), masked or left out otherwise."""
    case = complaint_from_doc(doc, calendar=service.rt.calendar)
    today = service.today()
    out = {k: v for k, v in doc.items() if k not in ("_id", "description", "complainant", "open", "events")}
    out["id"] = doc["_id"]
    out["decision_due"] = case.decision_due(today=today) if case.state != "closed" else None
    out["paused_days"] = case.paused_days(today=today)
    out["overdue"] = sorted(t for t, due in case.open_targets(today=today).items() if due < today)
    # `provisional_targets` (from the document) lists the targets resting on provisional calendar days.
    out["provisional"] = bool(case.provisional_targets)
    cipher = service.rt.cipher
    if doc.get("complainant"):
        contact = {k: cipher.decrypt(v, field=f"complainant.{k}") for k, v in doc["complainant"].items() if v}
        out["complainant"] = (
            contact
            if full
            else {
                "name": mask_name(contact["name"]),
                "phone": mask_phone(contact["phone"]) if contact.get("phone") else None,
                "email": mask_email(contact["email"]) if contact.get("email") else None,
            }
        )
    out["description"] = (
        cipher.decrypt(doc["description"], field="description") if full and doc.get("description") else None
    )
    return out


def _received_at(service: Complaints, value: datetime | None) -> datetime:
    return past_instant(
        value,
        now=service.now(),
        max_age=timedelta(days=366),
        field="received_at",
        what="a complaint is taken in when it arrives",
    )


async def create(*, service: Complaints, principal: Principal, body: ComplaintCreate) -> dict[str, Any]:
    received_at = _received_at(service, body.received_at)
    cal = service.rt.calendar

    async def take_in(repos: ComplaintsRepositories) -> dict[str, Any]:
        policy, _ = await repos.policy.current()
        if body.category not in policy.categories:
            raise Invalid(
                f"category: {body.category} is not in the taxonomy ({', '.join(policy.categories)})", field="category"
            )
        customer_id = body.customer_id
        customer = await repos.customers.get(customer_id) if customer_id else None
        # A record merged away: the complaint is the survivor's (repeats, owner, events); the id given is kept.
        for _ in range(routing.MERGE_DEPTH):
            if customer is None or not customer.get("merged_into"):
                break
            customer_id = customer["merged_into"]
            customer = await repos.customers.get(customer_id)
        # A customer complaints has not heard of yet (the registration may be seconds behind): accepted all the same,
        # waiting for the customer's event to be routed (service.routing); the receiver's branch meanwhile.
        waits = customer_id is not None and not (customer or {}).get("branch")
        branch: str | None
        if body.branch:
            branch, branch_source = body.branch, "intake"
        elif not waits and customer is not None:
            branch, branch_source = customer["branch"], "customer"
        else:  # provisional while the customer is unknown; final for a complainant who is not a customer
            branch, branch_source = principal.branch, "receiver" if waits else "intake"
        if branch is None and not waits:
            raise Invalid("branch: the complainant is not a customer; give the branch", field="branch")
        if principal.role not in ALL_SCOPE and branch != principal.branch:
            raise Forbidden(f"you may take in complaints for your branch {principal.branch} only")
        tier = (customer or {}).get("tier")
        repeat = None
        if customer_id:
            since = received_at - timedelta(days=policy.repeat_window_days)
            repeat = await repos.complaints.latest_repeat(
                [customer_id, *(customer or {}).get("merged_ids", [])], body.category, since, received_at
            )
        case = Complaint(
            complaint_id=f"CMP-{ObjectId()}",
            customer_id=customer_id,
            channel=body.channel,
            category=body.category,
            severity=body.severity,
            received_at=received_at,
            received_on=local_day(received_at),
            branch=branch,
            tier=tier,
            priority=deadlines.is_priority(channel=body.channel, tier=tier, policy=policy),
            repeat_of=repeat,
        )
        with_calendar(case, cal)
        # Never refused for want of a calendar: a year no official schedule covers is provisional, and the targets
        # resting on it are flagged and recomputed when the schedule is loaded (service/calendar.py).
        case.set_targets(
            policy,
            add_working_days=cal.add_working_days,
            next_workday=cal.next_workday,
            depends_on_provisional=cal.depends_on_provisional,
            calendar_revision=cal.revision,
        )
        if body.handler:
            await handlers.must_handle(repos, staff_id=body.handler, branch=branch)
        if waits:
            case.routing, case.pending_since = "pending_customer", service.now()
        case.branch_source = branch_source if branch else None
        # A waiting case is routed now only when the intake named its branch; else when the customer's branch is known.
        case.handler = body.handler or (
            await handlers.route(repos, complaint_id=case.complaint_id, branch=branch, category=body.category)
            if branch_source in ("intake", "customer")
            else None
        )
        case.opened(by=principal.staff_id, today=service.today())
        cipher = service.rt.cipher
        beside: dict[str, Any] = {
            "received_by": principal.staff_id,
            "owner": (customer or {}).get("owner"),
            "named_customer_id": body.customer_id,
            "description": cipher.encrypt(body.description, field="description"),
        }
        if body.complainant:
            beside["complainant"] = {
                k: cipher.encrypt(v, field=f"complainant.{k}") for k, v in body.complainant.model_dump().items() if v
            }
        await repos.complaints.add(case, beside)
        return must_exist(await repos.complaints.document(case.complaint_id), f"complaint {case.complaint_id}")

    doc = await service.uow.run(take_in)
    service.published()
    return view(service, doc)


async def get(
    *, service: Complaints, principal: Principal, complaint_id: str, reveal: bool = False, purpose: str | None = None
) -> dict[str, Any]:
    """A case; `reveal` shows the description and the complainant's contact details in full to the roles that handle
    complaints, for a stated purpose, and writes the audit row first."""
    reading = service.uow.reading()
    doc = await reading.complaints.document(complaint_id)
    if doc is None or not COMPLAINTS.allows(principal, doc):
        raise NotFound(f"complaint {complaint_id} not found")
    if not reveal:
        return view(service, doc)
    if principal.role not in HANDLING - {Role.ADMIN} or (
        principal.role == Role.COMPLAINT_HANDLER and doc.get("handler") not in (None, principal.staff_id)
    ):
        raise Forbidden(
            "the description and contact details are shown to the case's handler, branch managers and head office"
        )
    if not purpose:
        raise Invalid("purpose: say why the full details are needed", field="purpose")
    await reading.audit.record(
        staff_id=principal.staff_id,
        role=principal.role.value,
        action="complaint.revealed",
        target=complaint_id,
        detail={"purpose": purpose},
    )
    return view(service, doc, full=True)


async def list_cases(
    *,
    service: Complaints,
    principal: Principal,
    state: str | None,
    branch: str | None,
    customer_id: str | None,
    handler: str | None,
    category: str | None,
    limit: int,
    after: str | None,
    routing: str | None = None,
    customer_unverified: bool | None = None,
) -> dict[str, Any]:
    equal = {
        name: value
        for name, value in (
            ("state", state),
            ("branch", branch),
            ("customer_id", customer_id),
            ("handler", handler),
            ("category", category),
            ("routing", routing),
        )
        if value
    }
    docs = await service.uow.reading().complaints.listed(
        COMPLAINTS, principal, equal=equal, customer_unverified=customer_unverified, after=after, limit=limit + 1
    )
    more = len(docs) > limit
    docs = docs[:limit]
    return {"items": [view(service, doc) for doc in docs], "next": docs[-1]["_id"] if more else None}


async def _route_by_hand(
    repos: ComplaintsRepositories, principal: Principal, case: Complaint, body: Route, *, at: datetime
) -> None:
    """Manual routing (a case whose customer is unverified, or any open case): its branch and handler, no step of the
    process. Outside head office, only to the caller's own branch."""
    if case.state not in OPEN_STATES:
        raise RuleBroken(f"a complaint that is {case.state} is not routed any more")
    branch = body.branch or case.branch
    if branch is None:
        raise Invalid("branch: the case has no branch yet; give the branch that handles it", field="branch")
    if principal.role not in ALL_SCOPE and branch != principal.branch:
        raise Forbidden(f"you route complaints to your branch {principal.branch} only")
    if body.handler:
        await handlers.must_handle(repos, staff_id=body.handler, branch=branch)
    handler = (
        body.handler
        or (case.handler if branch == case.branch else None)
        or await handlers.route(repos, complaint_id=case.complaint_id, branch=branch, category=case.category)
    )
    case.route(branch=branch, handler=handler, by=principal.staff_id, at=at, reason="manual", note=body.note)


@dataclass
class CaseStep:
    """One step being taken on a case: who takes it, when, under which policy, with the repositories of its
    transaction."""

    service: Complaints
    repos: ComplaintsRepositories
    principal: Principal
    case: Complaint
    policy: ComplaintsPolicy
    at: datetime

    @property
    def who(self) -> str:
        return self.principal.staff_id

    @property
    def role(self) -> str:
        return self.principal.role.value


async def _acknowledge(step: CaseStep, command: Acknowledge) -> None:
    step.case.move("acknowledged", by=step.who, at=step.at, note=command.note)


async def _assign(step: CaseStep, command: Assign) -> None:
    case = step.case
    if command.handler:
        await handlers.must_handle(step.repos, staff_id=command.handler, branch=case.branch)
    handler = (
        command.handler
        or case.handler
        or await handlers.route(step.repos, complaint_id=case.complaint_id, branch=case.branch, category=case.category)
    )
    if handler is None:
        raise Conflict(f"no active complaint handler for branch {case.branch}: name one", state=case.state)
    case.assign(handler, by=step.who, at=step.at, note=command.note)


async def _route(step: CaseStep, command: Route) -> None:
    await _route_by_hand(step.repos, step.principal, step.case, command, at=step.at)


async def _investigate(step: CaseStep, command: Investigate) -> None:
    step.case.move("investigating", by=step.who, at=step.at, note=command.note)


async def _contact(step: CaseStep, command: Contact) -> None:
    step.case.contacted(by=step.who, at=step.at, note=command.note)


async def _escalate(step: CaseStep, command: Escalate) -> None:
    step.case.move("escalated", by=step.who, at=step.at, note=command.reason)


async def _resolve(step: CaseStep, command: Resolve) -> None:
    step.case.resolve(
        by=step.who,
        at=step.at,
        explanation=command.explanation,
        apology=command.apology,
        compensation=command.compensation,
        root_cause=command.root_cause,
        policy=step.policy,
    )


async def _approve_compensation(step: CaseStep, command: ApproveCompensation) -> None:
    step.case.approve_compensation(by=step.who, role=step.role, at=step.at, note=command.note)


async def _notify(step: CaseStep, command: Notify) -> None:
    notified_at = past_instant(
        command.notified_at,
        now=step.at,
        max_age=timedelta(days=366),
        field="notified_at",
        what="a notice is recorded once it was given",
    )
    step.case.notify(
        at=notified_at, notified_on=local_day(notified_at), channel=command.channel, by=step.who, recorded_at=step.at
    )


async def _confirm(step: CaseStep, command: Confirm) -> None:
    step.case.close(by=step.who, at=step.at, how="customer_confirmed", note=command.note)


async def _reopen(step: CaseStep, command: Reopen) -> None:
    step.case.reopen(by=step.who, at=step.at, reason=command.reason, today=step.service.today(), policy=step.policy)


async def _extend(step: CaseStep, command: Extend) -> None:
    step.case.extend(
        to_days=command.to_days,
        reason=command.reason,
        by=step.who,
        role=step.role,
        at=step.at,
        policy=step.policy,
        today=step.service.today(),
    )


async def _appraisal_start(step: CaseStep, command: AppraisalStart) -> None:
    today = step.service.today()
    step.case.start_appraisal(
        on=command.on or today, by=step.who, reason=command.reason or "external appraisal", at=step.at, today=today
    )


async def _appraisal_end(step: CaseStep, command: AppraisalEnd) -> None:
    today = step.service.today()
    step.case.end_appraisal(on=command.on or today, by=step.who, at=step.at, today=today, note=command.reason)


@dataclass(frozen=True)
class StepRule:
    """How a command is applied, the name it has on the API and in the audit trail, and whether it is audited."""

    action: str
    apply: Callable[[CaseStep, Any], Awaitable[None]]
    audited: bool = False


STEPS: dict[type[CaseCommand], StepRule] = {
    Acknowledge: StepRule("acknowledge", _acknowledge),
    Assign: StepRule("assign", _assign, audited=True),
    Route: StepRule("route", _route, audited=True),
    Investigate: StepRule("investigate", _investigate),
    Contact: StepRule("contact", _contact),
    Escalate: StepRule("escalate", _escalate),
    Resolve: StepRule("resolve", _resolve),
    ApproveCompensation: StepRule("approve_compensation", _approve_compensation, audited=True),
    Notify: StepRule("notify", _notify, audited=True),
    Confirm: StepRule("confirm", _confirm),
    Reopen: StepRule("reopen", _reopen, audited=True),
    Extend: StepRule("extend", _extend, audited=True),
    AppraisalStart: StepRule("appraisal_start", _appraisal_start, audited=True),
    AppraisalEnd: StepRule("appraisal_end", _appraisal_end, audited=True),
}
"""Each step of the standard process: its command and the function that applies it (audited: changes to the
deadline, the handler, the money, or the notice)."""


async def act(*, service: Complaints, principal: Principal, complaint_id: str, command: CaseCommand) -> dict[str, Any]:
    """One step on a case, by a handler of its branch, a branch manager, head office or an admin."""
    if principal.role not in HANDLING:
        raise Forbidden(f"role {principal.role.value} does not handle complaints")
    rule = STEPS[type(command)]
    at = service.now()

    async def take_step(repos: ComplaintsRepositories) -> dict[str, Any]:
        doc = await repos.complaints.document(complaint_id)
        if doc is None or not COMPLAINTS.allows(principal, doc):
            raise NotFound(f"complaint {complaint_id} not found")
        case = complaint_from_doc(doc, calendar=service.rt.calendar)
        policy, _ = await repos.policy.current()
        if principal.role == Role.COMPLAINT_HANDLER and case.handler not in (None, principal.staff_id):
            raise Forbidden(f"complaint {complaint_id} is handled by {case.handler}; a branch manager may reassign it")
        try:
            await rule.apply(CaseStep(service, repos, principal, case, policy, at), command)
        except RuleBroken as exc:
            if exc.kind == "conflict":
                exc.extra.setdefault("state", case.state)  # the answer names the state the case is in
            raise
        await repos.complaints.save_many([case])
        if rule.audited:
            await repos.audit.record(
                staff_id=principal.staff_id,
                role=principal.role.value,
                action=f"complaint.{rule.action}",
                target=complaint_id,
                detail={"to_days": getattr(command, "to_days", None), "branch": getattr(command, "branch", None)},
            )
        return must_exist(await repos.complaints.document(complaint_id), f"complaint {complaint_id}")

    doc = await service.uow.run(take_step)
    service.published()
    return view(service, doc)
