"""The roster of complaint handlers per branch and category, and routing a new case to one of them. A roster change
catches the cases up: a branch's cases that found no handler get one, a leaving handler's open cases another."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crm_complaints.adapters.repositories import ComplaintsRepositories
from crm_complaints.domain.roster import choose_handler
from crm_complaints.schemas import HandlerUpsert
from crm_complaints.service.context import Complaints
from crm_kit.auth import ALL_SCOPE, Principal, Role
from crm_kit.errors import Forbidden, Invalid


async def route(repos: ComplaintsRepositories, *, complaint_id: str, branch: str | None, category: str) -> str | None:
    """The active handler of the branch who takes this category (or every category) of the highest stable rank
    for the case (crm_complaints.domain.roster). None when the branch has nobody."""
    roster = await repos.handlers.active_of_branch(branch)
    return choose_handler(roster, complaint_id=complaint_id, category=category)


async def must_handle(repos: ComplaintsRepositories, *, staff_id: str, branch: str | None) -> None:
    """A case goes only to an active handler of its branch (the roster): anyone else could not even see it."""
    handler = await repos.handlers.get(staff_id)
    if handler is None or not handler.get("active", True) or handler.get("branch") != branch:
        raise Invalid(f"handler: {staff_id} is not an active complaint handler of branch {branch}", field="handler")


async def put(*, service: Complaints, principal: Principal, staff_id: str, body: HandlerUpsert) -> dict[str, Any]:
    if principal.role not in ALL_SCOPE - {Role.AUDITOR} and not (
        principal.role == Role.BRANCH_MANAGER and principal.branch == body.branch
    ):
        raise Forbidden("handlers are set by head office, an admin, or the branch's manager")
    reading = service.uow.reading()
    policy, _ = await reading.policy.current()
    unknown = sorted(set(body.categories) - set(policy.categories))
    if unknown:
        raise Invalid(f"categories: {', '.join(unknown)} not in the taxonomy", field="categories")
    existing = await reading.handlers.get(staff_id)
    if principal.role == Role.BRANCH_MANAGER and existing is not None and existing.get("branch") != principal.branch:
        raise Forbidden(f"{staff_id} handles complaints of branch {existing.get('branch')}: head office moves them")
    fields = {
        "branch": body.branch,
        "categories": body.categories,
        "active": body.active,
        "updated_at": datetime.now(UTC),
        "updated_by": principal.staff_id,
    }

    async def put_handler(repos: ComplaintsRepositories) -> int:
        await repos.handlers.put(staff_id, fields)
        await repos.audit.record(
            staff_id=principal.staff_id,
            role=principal.role.value,
            action="handler.put",
            target=f"handler-{staff_id}",
            detail={"branch": body.branch, "active": body.active},
        )
        return await _roster_changed(service, repos, staff_id=staff_id, body=body, by=principal.staff_id)

    if await service.uow.run(put_handler):
        service.published()
    return {"staff_id": staff_id, **fields}


async def _roster_changed(
    service: Complaints, repos: ComplaintsRepositories, *, staff_id: str, body: HandlerUpsert, by: str
) -> int:
    """The roster arriving after the cases: open cases of the branch that found no handler get one now; the open
    cases of a handler who left the branch or was deactivated go to another handler of their branch (or none: the
    branch manager assigns). The number of cases given a new handler."""
    at = service.now()
    stranded = await repos.complaints.open_of_handler(staff_id, outside_branch=body.branch if body.active else None)
    unhandled = await repos.complaints.open_without_handler(body.branch) if body.active else []
    changed = []
    for case in stranded + unhandled:
        if case.takes_customer_branch():
            continue  # waits for its customer's branch (service.routing)
        handler = await route(repos, complaint_id=case.complaint_id, branch=case.branch, category=case.category)
        if handler == case.handler:
            continue
        case.hand_to(handler, by=by, at=at, reason="roster")
        changed.append(case)
    await repos.complaints.save_many(changed)
    return len(changed)


async def list_handlers(*, service: Complaints, principal: Principal, branch: str | None) -> list[dict[str, Any]]:
    handlers = service.uow.reading().handlers
    if principal.role in ALL_SCOPE and not branch:
        return await handlers.listed(None, every_branch=True)
    return await handlers.listed(branch or principal.branch)
