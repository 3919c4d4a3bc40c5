"""Data scope (BRIEF §6.1) on engagement's records: a customer is seen by their owner, their branch's
supervisors and managers, and head office; a task also by the staff member it is assigned to."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_engagement.adapters.store import customer_from_doc
from crm_engagement.domain.customer import EngagedCustomer
from crm_engagement.service.context import Engagement
from crm_kit.auth import Principal
from crm_kit.errors import NotFound
from crm_kit.scope import CUSTOMERS, DataScope


async def customer_in_scope(
    e: Engagement, principal: Principal, customer_id: str, session: AsyncClientSession | None = None
) -> EngagedCustomer:
    """The customer, or 404 — also when they exist out of the caller's scope, so ids cannot be probed."""
    doc = await e.store.customers.find_one({"_id": customer_id}, session=session)
    if doc is None or not CUSTOMERS.allows(principal, doc):
        raise NotFound(f"customer {customer_id} not found")
    return customer_from_doc(doc)


TASKS = DataScope(personal=("assignee", "owner"))
"""A task: the staff member it is assigned to, the customer's owner, the branch's roles, head office."""
