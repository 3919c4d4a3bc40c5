"""Complaints into engagement: a closed complaint brings a follow-up call by the customer's owner and a
satisfaction survey (BRIEF §4.3). Both are keyed by the complaint id, so a redelivery makes neither twice: the
closing is not ordered by complaints' per-customer sequence, there is nothing an older event could undo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from crm_contracts.complaints import ComplaintClosed
from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.domain.policy import EngagementPolicy
from crm_engagement.service import surveys
from crm_engagement.service.context import Engagement, Loaded, load, save
from crm_kit.event_handlers import EventHandlers, Message
from crm_kit.messaging import Rejection


@dataclass
class ComplaintNews:
    """What one batch of complaint events works on: the policy in force and the customers the complaints are about
    (with the records they were merged into), loaded with their open tasks."""

    service: Engagement
    repos: EngagementRepositories
    policy: EngagementPolicy
    loaded: Loaded
    today: date
    now: datetime


async def _complaint_closed(news: ComplaintNews, item: Message, data: ComplaintClosed) -> None:
    service, policy, now = news.service, news.policy, news.now
    customer = news.loaded.get_or_new(data.customer_id)
    if customer.merged_into:
        customer = news.loaded.get_or_new(customer.merged_into)
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
            news.repos,
            survey_id=f"complaint:{data.complaint_id}",
            customer_id=customer.customer_id,
            trigger="complaint_closed",
            complaint_id=data.complaint_id,
            now=now,
            expires_on=news.today + timedelta(days=policy.surveys.expires_days),
        )
    news.loaded.causes[customer.customer_id] = (item.message_id, item.correlation_id)


COMPLAINT_EVENTS = EventHandlers[ComplaintNews]().on(ComplaintClosed, _complaint_closed)
"""Complaints' other events (opened, routed, deadlines, ...) are passed over."""


async def apply_complaint_events(
    *, service: Engagement, repos: EngagementRepositories, items: list[Message]
) -> list[Rejection]:
    # The customers the closed complaints are about (the complaint's customer, not the event's subject).
    about = {
        item.payload.data.customer_id for item in items if item.payload is not None and COMPLAINT_EVENTS.handles(item)
    }
    if not about:
        return []
    policy, _ = await repos.policies.current()
    loaded = await load(repos, about)
    # A complaint on a record merged away is followed up with the surviving record.
    survivors = {known.merged_into for known in loaded.customers.values() if known.merged_into} - set(loaded.customers)
    if survivors:
        more = await load(repos, survivors)
        loaded.customers.update(more.customers)
        loaded.open_tasks.update(more.open_tasks)
    news = ComplaintNews(
        service=service, repos=repos, policy=policy, loaded=loaded, today=service.today(), now=service.now()
    )
    await COMPLAINT_EVENTS.apply(news, items)
    await save(service, repos, loaded, only=set(loaded.causes))
    return []
