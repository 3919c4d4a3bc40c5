"""Complaints into engagement: a closed complaint brings a follow-up call by the customer's owner and a
satisfaction survey (BRIEF §4.3). Both are keyed by the complaint id, so a redelivery makes neither twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.complaints import ComplaintClosed
from crm_contracts.envelope import CloudEvent
from crm_engagement.service import policies, surveys
from crm_engagement.service.context import Engagement, load, save
from crm_kit.messaging import BatchHandler, Incoming, Rejection


async def apply_complaint_events(
    *, e: Engagement, session: AsyncClientSession, items: list[Incoming[CloudEvent[Any] | None]]
) -> list[Rejection]:
    closed = [
        (i, i.payload.data) for i in items if i.payload is not None and isinstance(i.payload.data, ComplaintClosed)
    ]
    if not closed:
        return []
    policy, _ = await policies.current(e, session)
    loaded = await load(e, session, {data.customer_id for _, data in closed})
    # A complaint on a record merged away is followed up with the surviving record.
    survivors = {c.merged_into for c in loaded.customers.values() if c.merged_into} - set(loaded.customers)
    if survivors:
        more = await load(e, session, survivors)
        loaded.customers.update(more.customers)
        loaded.states.update(more.states)
        loaded.open_tasks.update(more.open_tasks)
    today, now = e.today(), e.now()
    for item, data in closed:
        c = loaded.get_or_new(data.customer_id)
        if c.merged_into:
            c = loaded.get_or_new(c.merged_into)
        counted_from, working_days = e.trigger_day(data.closed_at), policy.triggers.complaint_follow_up_working_days
        due = e.due_in_working_days(counted_from, working_days)
        c.plan_task(
            kind="complaint_follow_up",
            due_on=due,
            channel="call",
            policy=policy,
            now=now,
            due_basis=(counted_from, working_days),
            parts=(data.complaint_id,),
            occasion=data.complaint_id,
            note=f"complaint {data.complaint_id} closed ({data.outcome or 'no outcome given'}): call back, "
            "check the customer is satisfied, ask the survey",
        )
        if policy.surveys.after_complaint:
            await surveys.open_survey(
                e,
                session,
                survey_id=f"complaint:{data.complaint_id}",
                customer_id=c.customer_id,
                trigger="complaint_closed",
                complaint_id=data.complaint_id,
                now=now,
                expires_on=today + timedelta(days=policy.surveys.expires_days),
            )
        loaded.causes[c.customer_id] = (item.message_id, item.correlation_id)
    await save(e, session, loaded, only=set(loaded.causes))
    return []


def handler(e: Engagement) -> BatchHandler[CloudEvent[Any] | None]:
    async def handle(session: AsyncClientSession, items: list[Incoming[CloudEvent[Any] | None]]) -> list[Rejection]:
        return await apply_complaint_events(e=e, session=session, items=items)

    return handle
