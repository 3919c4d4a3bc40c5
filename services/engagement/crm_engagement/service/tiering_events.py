"""Tiering's events into engagement: a tier change re-plans the follow-ups and plans the care moments within the
tier's lead time (an upgrade, or a first tier as high as vip or key, brings a welcome call), an owner change moves
the open tasks to the new owner, a churn warning brings a retention call.

Each customer keeps tiering's per-customer number (CloudEvents `sequence`) of the last event applied: a
redelivery changes nothing."""

from __future__ import annotations

from typing import Any

from crm_contracts.envelope import CloudEvent
from crm_contracts.tiering import ChurnRiskRaised, OwnerAssigned, TierChanged
from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.domain.triggers import retention_is_service
from crm_engagement.service.context import Engagement, load, save
from crm_kit.messaging import Incoming, Rejection


async def apply_tiering_events(
    *, service: Engagement, repos: EngagementRepositories, items: list[Incoming[CloudEvent[Any] | None]]
) -> list[Rejection]:
    relevant = [
        (item, item.payload)
        for item in items
        if item.payload is not None and isinstance(item.payload.data, (TierChanged, OwnerAssigned, ChurnRiskRaised))
    ]
    if not relevant:
        return []
    policy, version = await repos.policies.current()
    loaded = await load(repos, {ev.subject for _, ev in relevant})
    today, now = service.today(), service.now()
    care: set[str] = set()
    for item, ev in relevant:
        customer = loaded.get_or_new(ev.subject)
        if item.sequence is not None and item.sequence <= customer.tiering_seq:
            continue  # applied before
        tasks = loaded.tasks_of(customer.customer_id)
        data = ev.data
        if isinstance(data, TierChanged):
            customer.change_tier(data.to_tier, open_tasks=tasks)
            if data.branch and customer.branch is None:
                customer.change_branch(data.branch, open_tasks=tasks)
            # Re-planned at once, so that an owner change later in the batch moves only the tasks that stay.
            customer.plan_cadence(
                policy=policy,
                version=version,
                today=today,
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
            care.add(customer.customer_id)
        elif isinstance(data, OwnerAssigned):
            if data.branch and customer.branch != data.branch:
                customer.change_branch(data.branch, open_tasks=tasks)
            if customer.owner is None:
                care.add(customer.customer_id)  # care moments wait for an owner
            customer.change_owner(data.new_owner, open_tasks=tasks, now=now, by=data.assigned_by)
        elif isinstance(data, ChurnRiskRaised):
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
                    now=now,
                    due_basis=(counted_from, working_days),
                    parts=(data.as_of.isoformat(),),
                    occasion=",".join(rules),
                    note=f"churn risk: {detail}",
                    purpose="service" if retention_is_service(rules) else policy.purpose_of("retention"),
                )
        if item.sequence is not None:
            customer.tiering_seq = max(customer.tiering_seq, item.sequence)
        loaded.causes[customer.customer_id] = (item.message_id, item.correlation_id)
    # Entering a tier (or getting an owner) plans the care moments within the tier's lead time now, not at the next
    # daily run: a birthday three days away would otherwise be planned a day late, or after it passed.
    for cid in sorted(care):
        loaded.customers[cid].plan_care(policy=policy, today=today, now=now)
    await save(service, repos, loaded, only=set(loaded.causes))
    return []
