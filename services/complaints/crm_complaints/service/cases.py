"""Complaints through the API: intake (with repeat linking and routing to a handler), every step of the standard
process, extensions, appraisal pauses, compensation approval, and the reads — all within data scope."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_complaints.adapters.store import complaint_from_doc, with_calendar
from crm_complaints.domain import deadlines
from crm_complaints.domain.complaint import Complaint
from crm_complaints.domain.workflow import OPEN_STATES
from crm_complaints.schemas import ComplaintCreate
from crm_complaints.service import handlers, routing
from crm_complaints.service.context import Complaints, save
from crm_complaints.service.policy import current
from crm_kit.auth import ALL_SCOPE, BRANCH_SCOPE, Principal, Role
from crm_kit.clock import local_day, past_instant
from crm_kit.errors import Conflict, Forbidden, Invalid, NotFound, RuleBroken, must_exist
from crm_kit.masking import mask_email, mask_name, mask_phone
from crm_kit.scope import DataScope

HANDLING = frozenset({Role.COMPLAINT_HANDLER, Role.BRANCH_MANAGER, Role.HEAD_OFFICE, Role.ADMIN})


COMPLAINTS = DataScope(personal=("owner", "received_by"), branch_roles=BRANCH_SCOPE | {Role.COMPLAINT_HANDLER})
"""Complaint handlers and branch roles see their branch; head office, auditors and admins all; other staff the
complaints of their own customers and those they took in."""


def view(cx: Complaints, doc: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """The case; the description and the complainant's contact details only with `full` (the handling roles, audited
    by the caller), masked or left out otherwise."""
    c = complaint_from_doc(doc, calendar=cx.rt.calendar)
    today = cx.today()
    out = {k: v for k, v in doc.items() if k not in ("_id", "description", "complainant", "open", "events")}
    out["id"] = doc["_id"]
    out["decision_due"] = c.decision_due(today=today) if c.state != "closed" else None
    out["paused_days"] = c.paused_days(today=today)
    out["overdue"] = sorted(t for t, due in c.open_targets(today=today).items() if due < today)
    # `provisional_targets` (from the document) lists the targets resting on provisional calendar days.
    out["provisional"] = bool(c.provisional_targets)
    if doc.get("complainant"):
        p = {k: cx.rt.cipher.decrypt(v, field=f"complainant.{k}") for k, v in doc["complainant"].items() if v}
        out["complainant"] = (
            p
            if full
            else {
                "name": mask_name(p["name"]),
                "phone": mask_phone(p["phone"]) if p.get("phone") else None,
                "email": mask_email(p["email"]) if p.get("email") else None,
            }
        )
    out["description"] = (
        cx.rt.cipher.decrypt(doc["description"], field="description") if full and doc.get("description") else None
    )
    return out


def _received_at(cx: Complaints, value: datetime | None) -> datetime:
    return past_instant(
        value,
        now=cx.now(),
        max_age=timedelta(days=366),
        field="received_at",
        what="a complaint is taken in when it arrives",
    )


async def create(*, cx: Complaints, principal: Principal, body: ComplaintCreate) -> dict[str, Any]:
    received_at = _received_at(cx, body.received_at)
    cal = cx.rt.calendar

    async def txn(s: AsyncClientSession) -> dict[str, Any]:
        policy, _ = await current(cx, s)
        if body.category not in policy.categories:
            raise Invalid(
                f"category: {body.category} is not in the taxonomy ({', '.join(policy.categories)})", field="category"
            )
        customer_id = body.customer_id
        customer = await cx.store.customers.find_one({"_id": customer_id}, session=s) if customer_id else None
        # A record merged away: the complaint is the survivor's (repeats, owner, events); the id given is kept.
        for _ in range(routing.MERGE_DEPTH):
            if customer is None or not customer.get("merged_into"):
                break
            customer_id = customer["merged_into"]
            customer = await cx.store.customers.find_one({"_id": customer_id}, session=s)
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
            earlier = await cx.store.complaints.find_one(
                {
                    "customer_id": {"$in": [customer_id, *(customer or {}).get("merged_ids", [])]},
                    "category": body.category,
                    "received_at": {"$gte": since, "$lte": received_at},
                },
                {"_id": 1},
                sort=[("received_at", -1)],
                session=s,
            )
            repeat = earlier["_id"] if earlier else None
        c = Complaint(
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
        with_calendar(c, cal)
        # Never refused for want of a calendar: a year no official schedule covers is provisional, and the targets
        # resting on it are flagged and recomputed when the schedule is loaded (service/calendar.py).
        c.set_targets(
            policy,
            add_working_days=cal.add_working_days,
            next_workday=cal.next_workday,
            depends_on_provisional=cal.depends_on_provisional,
            calendar_revision=cal.revision,
        )
        if body.handler:
            await handlers.must_handle(cx, s, staff_id=body.handler, branch=branch)
        if waits:
            c.routing, c.pending_since = "pending_customer", cx.now()
        c.branch_source = branch_source if branch else None
        # A waiting case is routed now only when the intake named its branch; else when the customer's branch is known.
        c.handler = body.handler or (
            await handlers.route(cx, s, complaint_id=c.complaint_id, branch=branch, category=body.category)
            if branch_source in ("intake", "customer")
            else None
        )
        c.opened(by=principal.staff_id, today=cx.today())
        await save(cx, s, c, new=True)
        extra: dict[str, Any] = {
            "received_by": principal.staff_id,
            "owner": (customer or {}).get("owner"),
            "named_customer_id": body.customer_id,
            "description": cx.rt.cipher.encrypt(body.description, field="description"),
        }
        if body.complainant:
            extra["complainant"] = {
                k: cx.rt.cipher.encrypt(v, field=f"complainant.{k}")
                for k, v in body.complainant.model_dump().items()
                if v
            }
        await cx.store.complaints.update_one({"_id": c.complaint_id}, {"$set": extra}, session=s)
        return must_exist(
            await cx.store.complaints.find_one({"_id": c.complaint_id}, session=s), f"complaint {c.complaint_id}"
        )

    doc = await cx.rt.mongo.transaction(txn)
    cx.rt.outbox.notify()
    return view(cx, doc)


async def get(
    *, cx: Complaints, principal: Principal, complaint_id: str, reveal: bool = False, purpose: str | None = None
) -> dict[str, Any]:
    """A case; `reveal` shows the description and the complainant's contact details in full to the roles that handle
    complaints, for a stated purpose, and writes the audit row first."""
    doc = await cx.store.complaints.find_one({"_id": complaint_id})
    if doc is None or not COMPLAINTS.allows(principal, doc):
        raise NotFound(f"complaint {complaint_id} not found")
    if not reveal:
        return view(cx, doc)
    if principal.role not in HANDLING - {Role.ADMIN} or (
        principal.role == Role.COMPLAINT_HANDLER and doc.get("handler") not in (None, principal.staff_id)
    ):
        raise Forbidden(
            "the description and contact details are shown to the case's handler, branch managers and head office"
        )
    if not purpose:
        raise Invalid("purpose: say why the full details are needed", field="purpose")
    await cx.store.audit.record(
        None,
        staff_id=principal.staff_id,
        role=principal.role.value,
        action="complaint.revealed",
        target=complaint_id,
        detail={"purpose": purpose},
    )
    return view(cx, doc, full=True)


async def list_cases(
    *,
    cx: Complaints,
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
    query: dict[str, Any] = COMPLAINTS.query(principal)
    for k, v in (
        ("state", state),
        ("branch", branch),
        ("customer_id", customer_id),
        ("handler", handler),
        ("category", category),
        ("routing", routing),
    ):
        if v:
            query = {"$and": [query, {k: v}]}
    if customer_unverified is not None:  # cases written before the flag existed have none: not unverified
        query = {
            "$and": [
                query,
                {"customer_unverified": True} if customer_unverified else {"customer_unverified": {"$ne": True}},
            ]
        }
    if after:
        query = {"$and": [query, {"_id": {"$gt": after}}]}
    docs = await cx.store.complaints.find(query).sort("_id", 1).limit(limit + 1).to_list()
    more = len(docs) > limit
    docs = docs[:limit]
    return {"items": [view(cx, d) for d in docs], "next": docs[-1]["_id"] if more else None}


async def _route_by_hand(
    cx: Complaints, s: AsyncClientSession, principal: Principal, c: Complaint, body: Any, *, at: datetime
) -> None:
    """Manual routing (a case whose customer is unverified, or any open case): its branch and handler, no step of the
    process. Outside head office, only to the caller's own branch."""
    if c.state not in OPEN_STATES:
        raise RuleBroken(f"a complaint that is {c.state} is not routed any more")
    branch = body.branch or c.branch
    if branch is None:
        raise Invalid("branch: the case has no branch yet; give the branch that handles it", field="branch")
    if principal.role not in ALL_SCOPE and branch != principal.branch:
        raise Forbidden(f"you route complaints to your branch {principal.branch} only")
    if body.handler:
        await handlers.must_handle(cx, s, staff_id=body.handler, branch=branch)
    handler = (
        body.handler
        or (c.handler if branch == c.branch else None)
        or await handlers.route(cx, s, complaint_id=c.complaint_id, branch=branch, category=c.category)
    )
    c.route(branch=branch, handler=handler, by=principal.staff_id, at=at, reason="manual", note=body.note)


async def act(*, cx: Complaints, principal: Principal, complaint_id: str, action: str, body: Any) -> dict[str, Any]:
    """One step on a case, by a handler of its branch, a branch manager, head office or an admin."""
    if principal.role not in HANDLING:
        raise Forbidden(f"role {principal.role.value} does not handle complaints")
    at = cx.now()

    async def txn(s: AsyncClientSession) -> dict[str, Any]:
        doc = await cx.store.complaints.find_one({"_id": complaint_id}, session=s)
        if doc is None or not COMPLAINTS.allows(principal, doc):
            raise NotFound(f"complaint {complaint_id} not found")
        c = complaint_from_doc(doc, calendar=cx.rt.calendar)
        policy, _ = await current(cx, s)
        who, role = principal.staff_id, principal.role.value
        if principal.role == Role.COMPLAINT_HANDLER and c.handler not in (None, who):
            raise Forbidden(f"complaint {complaint_id} is handled by {c.handler}; a branch manager may reassign it")
        try:
            match action:
                case "acknowledge":
                    c.move("acknowledged", by=who, at=at, note=body.note)
                case "assign":
                    if body.handler:
                        await handlers.must_handle(cx, s, staff_id=body.handler, branch=c.branch)
                    handler = (
                        body.handler
                        or c.handler
                        or await handlers.route(
                            cx, s, complaint_id=c.complaint_id, branch=c.branch, category=c.category
                        )
                    )
                    if handler is None:
                        raise Conflict(f"no active complaint handler for branch {c.branch}: name one", state=c.state)
                    c.assign(handler, by=who, at=at, note=body.note)
                case "route":
                    await _route_by_hand(cx, s, principal, c, body, at=at)
                case "investigate":
                    c.move("investigating", by=who, at=at, note=body.note)
                case "contact":
                    c.contacted(by=who, at=at, note=body.note)
                case "escalate":
                    c.move("escalated", by=who, at=at, note=body.reason)
                case "resolve":
                    c.resolve(
                        by=who,
                        at=at,
                        explanation=body.explanation,
                        apology=body.apology,
                        compensation=body.compensation,
                        root_cause=body.root_cause,
                        policy=policy,
                    )
                case "approve_compensation":
                    c.approve_compensation(by=who, role=role, at=at, note=body.note)
                case "notify":
                    notified_at = past_instant(
                        body.notified_at,
                        now=at,
                        max_age=timedelta(days=366),
                        field="notified_at",
                        what="a notice is recorded once it was given",
                    )
                    c.notify(
                        at=notified_at, notified_on=local_day(notified_at), channel=body.channel, by=who, recorded_at=at
                    )
                case "confirm":
                    c.close(by=who, at=at, how="customer_confirmed", note=body.note)
                case "reopen":
                    c.reopen(by=who, at=at, reason=body.reason, today=cx.today(), policy=policy)
                case "extend":
                    c.extend(
                        to_days=body.to_days,
                        reason=body.reason,
                        by=who,
                        role=role,
                        at=at,
                        policy=policy,
                        today=cx.today(),
                    )
                case "appraisal_start":
                    c.start_appraisal(
                        on=body.on or cx.today(),
                        by=who,
                        reason=body.reason or "external appraisal",
                        at=at,
                        today=cx.today(),
                    )
                case "appraisal_end":
                    c.end_appraisal(on=body.on or cx.today(), by=who, at=at, today=cx.today(), note=body.reason)
                case _:
                    raise NotFound(f"no action {action}")
        except RuleBroken as exc:
            if exc.kind == "conflict":
                exc.extra.setdefault("state", c.state)  # the answer names the state the case is in
            raise
        await save(cx, s, c)
        if action in (
            "extend",
            "approve_compensation",
            "reopen",
            "appraisal_start",
            "appraisal_end",
            "assign",
            "notify",
            "route",
        ):
            await cx.store.audit.record(
                s,
                staff_id=who,
                role=role,
                action=f"complaint.{action}",
                target=complaint_id,
                detail={"to_days": getattr(body, "to_days", None), "branch": getattr(body, "branch", None)},
            )
        return must_exist(
            await cx.store.complaints.find_one({"_id": complaint_id}, session=s), f"complaint {complaint_id}"
        )

    doc = await cx.rt.mongo.transaction(txn)
    cx.rt.outbox.notify()
    return view(cx, doc)
