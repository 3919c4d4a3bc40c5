"""The profile's events into engagement: who the customer is (branch, owner, birthday month-day, customer
since, risk assessment), their consent per channel, merges, and AUM crossing the idle-funds amount.

Each customer keeps the profile's per-customer number (CloudEvents `sequence`) of the last event applied
(`profile_seq`): every type is ordered by it (crm_kit.event_handlers), so a redelivery or an older event changes
nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_contracts.envelope import CloudEvent
from crm_contracts.profile import AssetsChanged, ConsentChanged, CustomerMerged, CustomerRegistered, CustomerUpdated
from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.domain.policy import EngagementPolicy
from crm_engagement.domain.triggers import crossed_upward
from crm_engagement.service.context import CustomerEvents, Engagement, load, save
from crm_kit.event_handlers import EventHandlers, Message
from crm_kit.messaging import Rejection


@dataclass
class ProfileNews(CustomerEvents):
    """What one batch of the profile's events works on: the policy in force, the customers it is about (loaded
    with their open tasks, and the event that last changed each), and the customers whose care moments (birthday,
    anniversary) may now be planned."""

    repos: EngagementRepositories
    policy: EngagementPolicy
    now: datetime
    care: set[str] = field(default_factory=set)


def _ids(ev: CloudEvent[Any] | None) -> list[str]:
    if ev is None:
        return []
    if isinstance(ev.data, CustomerMerged):
        return [ev.data.survivor_id, ev.data.merged_id]
    return [ev.subject]


async def _registered(news: ProfileNews, item: Message, data: CustomerRegistered) -> None:
    customer = news.customer(item)
    customer.kind = data.kind
    customer.change_branch(data.branch, open_tasks=news.loaded.tasks_of(customer.customer_id))
    if customer.owner is None:
        customer.change_owner(
            data.owner, open_tasks=news.loaded.tasks_of(customer.customer_id), now=news.now, by="profile"
        )
    customer.customer_since = data.registered_at.date()
    customer.birth_month_day = getattr(data, "birth_month_day", None)
    if getattr(data, "risk_tolerance", None) is not None:
        customer.risk_tolerance = data.risk_tolerance
        customer.risk_assessed_on = data.risk_assessed_on
        customer.professional_investor = bool(data.professional_investor)
    news.care.add(customer.customer_id)
    news.caused(item, customer.customer_id)


async def _updated(news: ProfileNews, item: Message, data: CustomerUpdated) -> None:
    customer = news.customer(item)
    if "birthday" in data.changed_fields:
        customer.birth_month_day = getattr(data, "birth_month_day", None)
        news.care.add(customer.customer_id)
    if "risk" in data.changed_fields:
        customer.risk_tolerance = getattr(data, "risk_tolerance", None)
        customer.risk_assessed_on = getattr(data, "risk_assessed_on", None)
        customer.professional_investor = bool(getattr(data, "professional_investor", False))
    news.caused(item, customer.customer_id)


async def _consent_changed(news: ProfileNews, item: Message, data: ConsentChanged) -> None:
    customer = news.customer(item)
    applied = customer.consent_changed(
        data.channel,
        data.granted,
        at=data.changed_at,
        open_tasks=news.loaded.tasks_of(customer.customer_id),
        policy=news.policy,
        now=news.now,
    )
    if applied and data.granted:
        news.care.add(customer.customer_id)  # a greeting blocked for want of this channel can be planned now
    news.caused(item, customer.customer_id)


async def _assets_changed(news: ProfileNews, item: Message, data: AssetsChanged) -> None:
    customer, policy, service = news.customer(item), news.policy, news.service
    amount = policy.triggers.idle_funds_amount
    if crossed_upward(previous=data.previous_aum, current=data.aum, amount=amount) and not customer.merged_into:
        counted_from, working_days = service.trigger_day(data.as_of), policy.triggers.idle_funds_working_days
        due = service.due_in_working_days(counted_from, working_days)
        customer.plan_task(
            kind="product_recommendation",
            due_on=due,
            channel="call",
            policy=policy,
            now=news.now,
            due_basis=(counted_from, working_days),
            parts=(data.as_of.isoformat(),),
            occasion=f"aum_above_{amount}",
            note=f"AUM reached {data.aum} on {data.as_of} (above {amount}): recommend a wealth product",
        )
    customer.aum = data.aum
    news.caused(item, customer.customer_id)


async def _merged(news: ProfileNews, item: Message, data: CustomerMerged) -> None:
    subject = news.customer(item)
    merged = news.loaded.get_or_new(data.merged_id)
    survivor = news.loaded.get_or_new(data.survivor_id)
    # What was owed to the person on the duplicate (a complaint closed there before the merge reached us, a
    # call-back they asked for) is not dropped with the record: the survivor takes it over, and their surveys.
    for owed in merged.merged(data.survivor_id, open_tasks=news.loaded.tasks_of(data.merged_id), now=news.now):
        survivor.take_over(owed, policy=news.policy, now=news.now)
    await news.repos.surveys.hand_over_open(data.merged_id, data.survivor_id)
    news.caused(item, data.merged_id)
    news.caused(item, data.survivor_id)
    news.caused(item, subject.customer_id)


PROFILE_EVENTS = (
    EventHandlers[ProfileNews]()
    .on(CustomerRegistered, _registered, ordered=True)
    .on(CustomerUpdated, _updated, ordered=True)
    .on(ConsentChanged, _consent_changed, ordered=True)
    .on(AssetsChanged, _assets_changed, ordered=True)
    .on(CustomerMerged, _merged, ordered=True)
)
"""Every profile event applies in the order the profile published it (its per-customer sequence)."""


async def apply_profile_events(
    *, service: Engagement, repos: EngagementRepositories, items: list[Message]
) -> list[Rejection]:
    policy, version = await repos.policies.current()
    loaded = await load(repos, {cid for item in items for cid in _ids(item.payload)})
    today, now = service.today(), service.now()
    news = ProfileNews(service=service, repos=repos, policy=policy, loaded=loaded, now=now)
    seen = {cid: customer.profile_seq for cid, customer in loaded.customers.items()}
    await PROFILE_EVENTS.apply(news, items, seen=seen)
    for cid, seq in seen.items():
        loaded.customers[cid].profile_seq = seq
    # A registration may have brought the branch and owner a tier was waiting for: plan its follow-ups.
    for cid in loaded.causes:
        customer = loaded.customers[cid]
        if customer.tier and customer.owner and not customer.merged_into:
            customer.plan_cadence(
                policy=policy,
                version=version,
                today=today,
                now=now,
                open_tasks=loaded.tasks_of(cid),
                working_day=service.after_public_holiday,
            )
    # A birthday, anniversary or owner learnt after the tier: the care moments within the lead time are planned now.
    for cid in sorted(news.care):
        loaded.customers[cid].plan_care(policy=policy, today=today, now=now)
    await save(service, repos, loaded, only=set(loaded.causes))
    return []
