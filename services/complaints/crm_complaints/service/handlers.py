"""The roster of complaint handlers per branch and category, and routing a new case to one of them. A roster change
catches the cases up: a branch's cases that found no handler get one, a leaving handler's open cases another."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_complaints.adapters.store import complaint_from_doc
from crm_complaints.domain.roster import choose_handler
from crm_complaints.schemas import HandlerUpsert
from crm_complaints.service.context import Complaints, save
from crm_complaints.service.policy import current
from crm_kit.auth import ALL_SCOPE, Principal, Role
from crm_kit.errors import Forbidden, Invalid


async def route(
    cx: Complaints, s: AsyncClientSession | None, *, complaint_id: str, branch: str | None, category: str
) -> str | None:
    """The active handler of the branch who takes this category (or every category) of the highest stable rank
    for the case (crm_complaints.domain.roster). None when the branch has nobody."""
    docs = await cx.store.handlers.find({"branch": branch, "active": True}, session=s).to_list()
    return choose_handler({d["_id"]: d.get("categories") for d in docs}, complaint_id=complaint_id, category=category)


async def must_handle(cx: Complaints, s: AsyncClientSession | None, *, staff_id: str, branch: str | None) -> None:
    """A case goes only to an active handler of its branch (the roster): anyone else could not even see it."""
    doc = await cx.store.handlers.find_one({"_id": staff_id}, session=s)
    if doc is None or not doc.get("active", True) or doc.get("branch") != branch:
        raise Invalid(f"handler: {staff_id} is not an active complaint handler of branch {branch}", field="handler")


async def put(*, cx: Complaints, principal: Principal, staff_id: str, body: HandlerUpsert) -> dict[str, Any]:
    if principal.role not in ALL_SCOPE - {Role.AUDITOR} and not (
        principal.role == Role.BRANCH_MANAGER and principal.branch == body.branch
    ):
        raise Forbidden("handlers are set by head office, an admin, or the branch's manager")
    policy, _ = await current(cx)
    unknown = sorted(set(body.categories) - set(policy.categories))
    if unknown:
        raise Invalid(f"categories: {', '.join(unknown)} not in the taxonomy", field="categories")
    existing = await cx.store.handlers.find_one({"_id": staff_id})
    if principal.role == Role.BRANCH_MANAGER and existing is not None and existing.get("branch") != principal.branch:
        raise Forbidden(f"{staff_id} handles complaints of branch {existing.get('branch')}: head office moves them")
    doc = {
        "branch": body.branch,
        "categories": body.categories,
        "active": body.active,
        "updated_at": datetime.now(UTC),
        "updated_by": principal.staff_id,
    }

    async def txn(s: AsyncClientSession) -> int:
        await cx.store.handlers.update_one({"_id": staff_id}, {"$set": doc}, upsert=True, session=s)
        await cx.store.audit.record(
            s,
            staff_id=principal.staff_id,
            role=principal.role.value,
            action="handler.put",
            target=f"handler-{staff_id}",
            detail={"branch": body.branch, "active": body.active},
        )
        return await _roster_changed(cx, s, staff_id=staff_id, body=body, by=principal.staff_id)

    if await cx.rt.mongo.transaction(txn):
        cx.rt.outbox.notify()
    return {"staff_id": staff_id, **doc}


async def _roster_changed(cx: Complaints, s: AsyncClientSession, *, staff_id: str, body: HandlerUpsert, by: str) -> int:
    """The roster arriving after the cases: open cases of the branch that found no handler get one now; the open
    cases of a handler who left the branch or was deactivated go to another handler of their branch (or none: the
    branch manager assigns). The number of cases given a new handler."""
    at = cx.now()
    stranded = (
        await cx.store.complaints.find(
            {"open": True, "handler": staff_id, **({"branch": {"$ne": body.branch}} if body.active else {})},
            {"description": 0, "complainant": 0},
            session=s,
        )
        .sort("_id", 1)
        .to_list()
    )
    unhandled = (
        (
            await cx.store.complaints.find(
                {"open": True, "branch": body.branch, "handler": None}, {"description": 0, "complainant": 0}, session=s
            )
            .sort("_id", 1)
            .to_list()
        )
        if body.active
        else []
    )
    changed = 0
    for doc in stranded + unhandled:
        c = complaint_from_doc(doc)
        if c.takes_customer_branch():
            continue  # waits for its customer's branch (service.routing)
        handler = await route(cx, s, complaint_id=c.complaint_id, branch=c.branch, category=c.category)
        if handler == c.handler:
            continue
        c.hand_to(handler, by=by, at=at, reason="roster")
        await save(cx, s, c)
        changed += 1
    return changed


async def list_handlers(*, cx: Complaints, principal: Principal, branch: str | None) -> list[dict[str, Any]]:
    query = {"branch": branch or principal.branch} if principal.role not in ALL_SCOPE or branch else {}
    return [{"staff_id": d.pop("_id"), **d} for d in await cx.store.handlers.find(query).sort("_id", 1).to_list()]
