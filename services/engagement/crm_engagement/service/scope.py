"""Data scope (BRIEF §6.1) on engagement's records: a customer is seen by their owner, their branch's
supervisors and managers, and head office; a task also by the staff member it is assigned to."""

from __future__ import annotations

from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.domain.customer import EngagedCustomer
from crm_engagement.domain.tasks import TASKS
from crm_kit.auth import Principal
from crm_kit.errors import NotFound
from crm_kit.scope import CUSTOMERS

__all__ = ["TASKS", "customer_in_scope"]


async def customer_in_scope(repos: EngagementRepositories, principal: Principal, customer_id: str) -> EngagedCustomer:
    """The customer, or 404 — also when they exist out of the caller's scope, so ids cannot be probed."""
    customer = await repos.customers.get(customer_id)
    if customer is None or not CUSTOMERS.allows(principal, {"owner": customer.owner, "branch": customer.branch}):
        raise NotFound(f"customer {customer_id} not found")
    return customer
