"""The profile's events into engagement: who the customer is (branch, owner, birthday month-day, customer
since, risk assessment), their consent per channel, merges, and AUM crossing the idle-funds amount.

Each customer keeps the profile's per-customer number (CloudEvents `sequence`) of the last event applied:
a redelivery or an older event changes nothing."""

from __future__ import annotations

from typing import Any

from crm_contracts.envelope import CloudEvent
from crm_contracts.profile import AssetsChanged, ConsentChanged, CustomerMerged, CustomerRegistered, CustomerUpdated
from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.domain.triggers import crossed_upward
from crm_engagement.service.context import Engagement, load, save
from crm_kit.messaging import Incoming, Rejection


def _ids(ev: CloudEvent[Any] | None) -> list[str]:
    if ev is None:
        return []
    if isinstance(ev.data, CustomerMerged):
        return [ev.data.survivor_id, ev.data.merged_id]
    return [ev.subject]


async def apply_profile_events(
    *, service: Engagement, repos: EngagementRepositories, items: list[Incoming[CloudEvent[Any] | None]]
) -> list[Rejection]:
    policy, version = await repos.policies.current()
    loaded = await load(repos, {cid for item in items for cid in _ids(item.payload)})
    today, now = service.today(), service.now()
    care: set[str] = set()
    for item in items:
        if item.payload is None:
            continue
        data = item.payload.data
        subject = loaded.get_or_new(item.payload.subject)
        if item.sequence is not None and item.sequence <= subject.profile_seq:
            continue  # applied before
        if isinstance(data, CustomerRegistered):
            customer = subject
            customer.kind = data.kind
            customer.change_branch(data.branch, open_tasks=loaded.tasks_of(customer.customer_id))
            if customer.owner is None:
                customer.change_owner(
                    data.owner, open_tasks=loaded.tasks_of(customer.customer_id), now=now, by="profile"
                )
            customer.customer_since = data.registered_at.date()
            customer.birth_month_day = getattr(data, "birth_month_day", None)
            if getattr(data, "risk_tolerance", None) is not None:
                customer.risk_tolerance = data.risk_tolerance
                customer.risk_assessed_on = data.risk_assessed_on
                customer.professional_investor = bool(data.professional_investor)
            care.add(customer.customer_id)
        elif isinstance(data, CustomerUpdated):
            customer = subject
            if "birthday" in data.changed_fields:
                customer.birth_month_day = getattr(data, "birth_month_day", None)
                care.add(customer.customer_id)
            if "risk" in data.changed_fields:
                customer.risk_tolerance = getattr(data, "risk_tolerance", None)
                customer.risk_assessed_on = getattr(data, "risk_assessed_on", None)
                customer.professional_investor = bool(getattr(data, "professional_investor", False))
        elif isinstance(data, ConsentChanged):
            applied = subject.consent_changed(
                data.channel,
                data.granted,
                at=data.changed_at,
                open_tasks=loaded.tasks_of(subject.customer_id),
                policy=policy,
                now=now,
            )
            if applied and data.granted:
                care.add(subject.customer_id)  # a greeting blocked for want of this channel can be planned now
        elif isinstance(data, AssetsChanged):
            customer = subject
            amount = policy.triggers.idle_funds_amount
            if crossed_upward(previous=data.previous_aum, current=data.aum, amount=amount) and not customer.merged_into:
                counted_from, working_days = service.trigger_day(data.as_of), policy.triggers.idle_funds_working_days
                due = service.due_in_working_days(counted_from, working_days)
                customer.plan_task(
                    kind="product_recommendation",
                    due_on=due,
                    channel="call",
                    policy=policy,
                    now=now,
                    due_basis=(counted_from, working_days),
                    parts=(data.as_of.isoformat(),),
                    occasion=f"aum_above_{amount}",
                    note=f"AUM reached {data.aum} on {data.as_of} (above {amount}): recommend a wealth product",
                )
            customer.aum = data.aum
        elif isinstance(data, CustomerMerged):
            merged = loaded.get_or_new(data.merged_id)
            survivor = loaded.get_or_new(data.survivor_id)
            # What was owed to the person on the duplicate (a complaint closed there before the merge reached us, a
            # call-back they asked for) is not dropped with the record: the survivor takes it over, and their surveys.
            for owed in merged.merged(data.survivor_id, open_tasks=loaded.tasks_of(data.merged_id), now=now):
                survivor.take_over(owed, policy=policy, now=now)
            await repos.surveys.hand_over_open(data.merged_id, data.survivor_id)
            loaded.causes[data.merged_id] = (item.message_id, item.correlation_id)
            loaded.causes[data.survivor_id] = (item.message_id, item.correlation_id)
        else:
            continue
        if item.sequence is not None:
            subject.profile_seq = max(subject.profile_seq, item.sequence)
        loaded.causes[subject.customer_id] = (item.message_id, item.correlation_id)
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
    for cid in sorted(care):
        loaded.customers[cid].plan_care(policy=policy, today=today, now=now)
    await save(service, repos, loaded, only=set(loaded.causes))
    return []
