"""Complaints into the churn warning: an open complaint is a reason, its closing clears it."""

from __future__ import annotations

from typing import Any

from crm_contracts.complaints import ComplaintClosed, ComplaintOpened
from crm_contracts.envelope import CloudEvent
from crm_kit.messaging import Incoming, Rejection
from crm_tiering.adapters.repositories import TieringRepositories
from crm_tiering.service.context import Tiering, save


async def apply_complaint_events(
    *, service: Tiering, repos: TieringRepositories, items: list[Incoming[CloudEvent[Any] | None]]
) -> list[Rejection]:
    """One consumed batch, in the consumer's transaction."""
    policy, _ = await repos.policies.current()
    relevant = [
        (i, i.payload.data)
        for i in items
        if i.payload is not None and isinstance(i.payload.data, (ComplaintOpened, ComplaintClosed))
    ]
    loaded = await repos.customers.load({data.customer_id for _, data in relevant})
    rejections: list[Rejection] = []
    for item, data in relevant:
        customer = loaded.customers.get(data.customer_id)
        if customer is None:
            # The complaint may overtake the registration (another topic): keep it, the registration fills in
            # branch and owner when it arrives.
            customer = loaded.add_new(data.customer_id)
        if isinstance(data, ComplaintOpened):
            customer.complaint_opened(data.complaint_id, on=data.opened_at.date(), policy=policy)
        elif isinstance(data, ComplaintClosed):
            customer.complaint_closed(data.complaint_id, on=data.closed_at.date(), policy=policy)
        loaded.causes[customer.customer_id] = (item.message_id, item.correlation_id)
    await save(service, repos, loaded, only=set(loaded.causes))
    return rejections
