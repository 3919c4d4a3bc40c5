"""Data scope (BRIEF §6.1) on engagement's records: a customer is seen by their owner, their branch's
supervisors and managers, and head office; a task also by the staff member it is assigned to."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_engagement.adapters.store import customer_from_doc
from crm_engagement.domain.customer import EngagedCustomer
from crm_engagement.service.context import Engagement
from crm_kit.auth import ALL_SCOPE, BRANCH_SCOPE, Principal
from crm_kit.errors import NotFound


async def customer_in_scope(
    e: Engagement, principal: Principal, customer_id: str, session: AsyncClientSession | None = None
) -> EngagedCustomer:
    """The customer, or 404 — also when they exist out of the caller's scope, so ids cannot be probed."""
    doc = await e.store.customers.find_one({"_id": customer_id}, session=session)
    if doc is None or not principal.can_see(owner=doc.get("owner"), branch=doc.get("branch")):
        raise NotFound(f"customer {customer_id} not found")
    return customer_from_doc(doc)


def task_scope(principal: Principal) -> dict[str, Any]:
    if principal.role in ALL_SCOPE:
        return {}
    if principal.role in BRANCH_SCOPE:
        return {"branch": principal.branch}
    return {"$or": [{"assignee": principal.staff_id}, {"owner": principal.staff_id}]}


def may_see_task(principal: Principal, doc: dict[str, Any]) -> bool:
    if principal.role in ALL_SCOPE:
        return True
    if principal.role in BRANCH_SCOPE:
        return doc.get("branch") == principal.branch
    return principal.staff_id in (doc.get("assignee"), doc.get("owner"))
