"""Complaints into engagement: a closed complaint brings a follow-up call by the customer's owner and a
satisfaction survey (BRIEF §4.3). Both are keyed by the complaint id, so a redelivery makes neither twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from crm_contracts.complaints import ComplaintClosed
from crm_contracts.envelope import CloudEvent
from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.service import surveys
from crm_engagement.service.context import Engagement, load, save
from crm_kit.messaging import Incoming, Rejection


async def apply_complaint_events(
    *, service: Engagement, repos: EngagementRepositories, items: list[Incoming[CloudEvent[Any] | None]]
) -> list[Rejection]:
    closed = [
        (item, item.payload.data)
        for item in items
        if item.payload is not None and isinstance(item.payload.data, ComplaintClosed)
    ]
    if not closed:
        return []
    policy, _ = await repos.policies.current()
    loaded = await load(repos, {data.customer_id for _, data in closed})
    # A complaint on a record merged away is followed up with the surviving record.
    survivors = {known.merged_into for known in loaded.customers.values() if known.merged_into} - set(loaded.customers)
    if survivors:
        more = await load(repos, survivors)
        loaded.customers.update(more.customers)
        loaded.open_tasks.update(more.open_tasks)
    today, now = service.today(), service.now()
    for item, data in closed:
        customer = loaded.get_or_new(data.customer_id)
        if customer.merged_into:
            customer = loaded.get_or_new(customer.merged_into)
        counted_from, working_days = (
            service.trigger_day(data.closed_at),
            policy.triggers.complaint_follow_up_working_days,
        )
        due = service.due_in_working_days(counted_from, working_days)
        customer.plan_task(
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
                repos,
                survey_id=f"complaint:{data.complaint_id}",
                customer_id=customer.customer_id,
                trigger="complaint_closed",
                complaint_id=data.complaint_id,
                now=now,
                expires_on=today + timedelta(days=policy.surveys.expires_days),
            )
        loaded.causes[customer.customer_id] = (item.message_id, item.correlation_id)
    await save(service, repos, loaded, only=set(loaded.causes))
    return []
