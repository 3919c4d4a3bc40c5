"""Complaints into the churn warning: an open complaint is a reason, its closing clears it."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.complaints import ComplaintClosed, ComplaintOpened
from crm_contracts.envelope import CloudEvent
from crm_kit.messaging import BatchHandler, Incoming, Rejection
from crm_tiering.service import policies
from crm_tiering.service.context import Tiering, load, save


async def apply_complaint_events(
    *, t: Tiering, session: AsyncClientSession, items: list[Incoming[CloudEvent[Any] | None]]
) -> list[Rejection]:
    policy, _ = await policies.current(t, session)
    relevant = [
        (i, i.payload.data)
        for i in items
        if i.payload is not None and isinstance(i.payload.data, (ComplaintOpened, ComplaintClosed))
    ]
    loaded = await load(t, session, {data.customer_id for _, data in relevant})
    rejections: list[Rejection] = []
    for item, data in relevant:
        c = loaded.customers.get(data.customer_id)
        if c is None:
            # The complaint may overtake the registration (another topic): keep it, the registration fills in
            # branch and owner when it arrives.
            c = loaded.add_new(data.customer_id)
        if isinstance(data, ComplaintOpened):
            c.complaint_opened(data.complaint_id, on=data.opened_at.date(), policy=policy)
        elif isinstance(data, ComplaintClosed):
            c.complaint_closed(data.complaint_id, on=data.closed_at.date(), policy=policy)
        loaded.causes[c.customer_id] = (item.message_id, item.correlation_id)
    await save(t, session, loaded, only=set(loaded.causes))
    return rejections


def handler(t: Tiering) -> BatchHandler[CloudEvent[Any] | None]:
    async def handle(session: AsyncClientSession, items: list[Incoming[CloudEvent[Any] | None]]) -> list[Rejection]:
        return await apply_complaint_events(t=t, session=session, items=items)

    return handle
