"""Tiering's events into engagement: a tier change re-plans the follow-ups and plans the care moments within the
tier's lead time (an upgrade, or a first tier as high as vip or key, brings a welcome call), an owner change moves
the open tasks to the new owner, a churn warning brings a retention call.

Each customer keeps tiering's per-customer number (CloudEvents `sequence`) of the last event applied
(`tiering_seq`): the three are ordered by it (crm_kit.event_handlers), so a redelivery changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from crm_contracts.tiering import ChurnRiskRaised, OwnerAssigned, TierChanged
from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.domain.policy import EngagementPolicy
from crm_engagement.domain.triggers import retention_is_service
from crm_engagement.service.context import CustomerEvents, Engagement, load, save
from crm_kit.event_handlers import EventHandlers, Message
from crm_kit.messaging import Rejection


@dataclass
class TieringNews(CustomerEvents):
    """What one batch of tiering's events works on: the policy in force (and its version, for the follow-up plan),
    the customers it is about (loaded with their open tasks, and the event that last changed each), and the
    customers whose care moments may now be planned."""

    policy: EngagementPolicy
    version: int
    today: date
    now: datetime
    care: set[str] = field(default_factory=set)


async def _tier_changed(news: TieringNews, item: Message, data: TierChanged) -> None:
    customer, policy, service, now = news.customer(item), news.policy, news.service, news.now
    tasks = news.loaded.tasks_of(customer.customer_id)
    customer.change_tier(data.to_tier, open_tasks=tasks)
    if data.branch and customer.branch is None:
        customer.change_branch(data.branch, open_tasks=tasks)
    # Re-planned at once, so that an owner change later in the batch moves only the tasks that stay.
    customer.plan_cadence(
        policy=policy,
        version=news.version,
        today=news.today,
        now=now,
        open_tasks=tasks,
        reason="tier_change",
        working_day=service.after_public_holiday,
        since=service.trigger_day(data.as_of),
    )
    if customer.welcome_due(reason=data.reason, from_tier=data.from_tier, to_tier=data.to_tier, policy=policy):
        counted_from, working_days = service.trigger_day(data.as_of), policy.triggers.welcome_working_days
        due = service.due_in_working_days(counted_from, working_days)
        upgraded = data.reason == "upgrade"
        customer.supersede("welcome", open_tasks=tasks, now=now)
        customer.plan_task(
            kind="welcome",
            due_on=due,
            channel="call",
            policy=policy,
            now=now,
            due_basis=(counted_from, working_days),
            parts=(data.to_tier, data.as_of.isoformat()),
            occasion=f"upgrade_to_{data.to_tier}" if upgraded else f"first_tier_{data.to_tier}",
            note=f"upgraded from {data.from_tier or 'no tier'} to {data.to_tier} on {data.as_of}"
            if upgraded
            else f"new {data.to_tier} customer on {data.as_of}",
        )
    news.care.add(customer.customer_id)
    news.caused(item, customer.customer_id)


async def _owner_assigned(news: TieringNews, item: Message, data: OwnerAssigned) -> None:
    customer = news.customer(item)
    tasks = news.loaded.tasks_of(customer.customer_id)
    if data.branch and customer.branch != data.branch:
        customer.change_branch(data.branch, open_tasks=tasks)
    if customer.owner is None:
        news.care.add(customer.customer_id)  # care moments wait for an owner
    customer.change_owner(data.new_owner, open_tasks=tasks, now=news.now, by=data.assigned_by)
    news.caused(item, customer.customer_id)


async def _churn_risk_raised(news: TieringNews, item: Message, data: ChurnRiskRaised) -> None:
    customer, policy, service = news.customer(item), news.policy, news.service
    tasks = news.loaded.tasks_of(customer.customer_id)
    rules = [reason.rule for reason in data.reasons]
    already = any(task.kind == "retention" and task.status == "open" for task in [*tasks, *customer.new_tasks])
    if not already and not customer.merged_into:
        counted_from, working_days = service.trigger_day(data.as_of), policy.triggers.retention_working_days
        due = service.due_in_working_days(counted_from, working_days)
        detail = "; ".join(f"{reason.rule}: {reason.detail}" for reason in data.reasons)
        customer.plan_task(
            kind="retention",
            due_on=due,
            channel="call",
            policy=policy,
            now=news.now,
            due_basis=(counted_from, working_days),
            parts=(data.as_of.isoformat(),),
            occasion=",".join(rules),
            note=f"churn risk: {detail}",
            purpose="service" if retention_is_service(rules) else policy.purpose_of("retention"),
        )
    news.caused(item, customer.customer_id)


TIERING_EVENTS = (
    EventHandlers[TieringNews]()
    .on(TierChanged, _tier_changed, ordered=True)
    .on(OwnerAssigned, _owner_assigned, ordered=True)
    .on(ChurnRiskRaised, _churn_risk_raised, ordered=True)
)
"""Tiering's decisions apply in the order tiering made them (its per-customer sequence); its other events
(lifecycle, churn risk cleared) are passed over."""


async def apply_tiering_events(
    *, service: Engagement, repos: EngagementRepositories, items: list[Message]
) -> list[Rejection]:
    about = TIERING_EVENTS.subjects(items)
    if not about:
        return []
    policy, version = await repos.policies.current()
    loaded = await load(repos, about)
    today, now = service.today(), service.now()
    news = TieringNews(service=service, policy=policy, version=version, loaded=loaded, today=today, now=now)
    seen = {cid: customer.tiering_seq for cid, customer in loaded.customers.items()}
    await TIERING_EVENTS.apply(news, items, seen=seen)
    for cid, seq in seen.items():
        loaded.customers[cid].tiering_seq = seq
    # Entering a tier (or getting an owner) plans the care moments within the tier's lead time now, not at the next
    # daily run: a birthday three days away would otherwise be planned a day late, or after it passed.
    for cid in sorted(news.care):
        loaded.customers[cid].plan_care(policy=policy, today=today, now=now)
    await save(service, repos, loaded, only=set(loaded.causes))
    return []
