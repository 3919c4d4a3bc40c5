"""The profile's events into engagement: who the customer is (branch, owner, birthday month-day, customer
since, risk assessment), their consent per channel, merges, and AUM crossing the idle-funds amount.

Each customer keeps the profile's per-customer number (CloudEvents `sequence`) of the last event applied:
a redelivery or an older event changes nothing."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.envelope import CloudEvent
from crm_contracts.profile import AssetsChanged, ConsentChanged, CustomerMerged, CustomerRegistered, CustomerUpdated
from crm_engagement.domain.triggers import crossed_upward
from crm_engagement.service import policies
from crm_engagement.service.context import Engagement, load, save
from crm_kit.messaging import BatchHandler, Incoming, Rejection


def _ids(ev: CloudEvent[Any] | None) -> list[str]:
    if ev is None:
        return []
    if isinstance(ev.data, CustomerMerged):
        return [ev.data.survivor_id, ev.data.merged_id]
    return [ev.subject]


async def apply_profile_events(
    *, e: Engagement, session: AsyncClientSession, items: list[Incoming[CloudEvent[Any] | None]]
) -> list[Rejection]:
    policy, version = await policies.current(e, session)
    loaded = await load(e, session, {cid for i in items for cid in _ids(i.payload)})
    today, now = e.today(), e.now()
    care: set[str] = set()
    for item in items:
        if item.payload is None:
            continue
        data = item.payload.data
        subject = loaded.get_or_new(item.payload.subject)
        if item.sequence is not None and item.sequence <= subject.profile_seq:
            continue  # applied before
        if isinstance(data, CustomerRegistered):
            c = subject
            c.kind = data.kind
            c.change_branch(data.branch, open_tasks=loaded.tasks_of(c.customer_id))
            if c.owner is None:
                c.change_owner(data.owner, open_tasks=loaded.tasks_of(c.customer_id), now=now, by="profile")
            c.customer_since = data.registered_at.date()
            c.birth_month_day = getattr(data, "birth_month_day", None)
            if getattr(data, "risk_tolerance", None) is not None:
                c.risk_tolerance = data.risk_tolerance
                c.risk_assessed_on = data.risk_assessed_on
                c.professional_investor = bool(data.professional_investor)
            care.add(c.customer_id)
        elif isinstance(data, CustomerUpdated):
            c = subject
            if "birthday" in data.changed_fields:
                c.birth_month_day = getattr(data, "birth_month_day", None)
                care.add(c.customer_id)
            if "risk" in data.changed_fields:
                c.risk_tolerance = getattr(data, "risk_tolerance", None)
                c.risk_assessed_on = getattr(data, "risk_assessed_on", None)
                c.professional_investor = bool(getattr(data, "professional_investor", False))
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
            c = subject
            amount = policy.triggers.idle_funds_amount
            if crossed_upward(previous=data.previous_aum, current=data.aum, amount=amount) and not c.merged_into:
                counted_from, working_days = e.trigger_day(data.as_of), policy.triggers.idle_funds_working_days
                due = e.due_in_working_days(counted_from, working_days)
                c.plan_task(
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
            c.aum = data.aum
        elif isinstance(data, CustomerMerged):
            merged = loaded.get_or_new(data.merged_id)
            survivor = loaded.get_or_new(data.survivor_id)
            # What was owed to the person on the duplicate (a complaint closed there before the merge reached us, a
            # call-back they asked for) is not dropped with the record: the survivor takes it over, and their surveys.
            for owed in merged.merged(data.survivor_id, open_tasks=loaded.tasks_of(data.merged_id), now=now):
                survivor.take_over(owed, policy=policy, now=now)
            await e.store.surveys.update_many(
                {"customer_id": data.merged_id, "status": "open"},
                {"$set": {"customer_id": data.survivor_id, "merged_from": data.merged_id}},
                session=session,
            )
            loaded.causes[data.merged_id] = (item.message_id, item.correlation_id)
            loaded.causes[data.survivor_id] = (item.message_id, item.correlation_id)
        else:
            continue
        if item.sequence is not None:
            subject.profile_seq = max(subject.profile_seq, item.sequence)
        loaded.causes[subject.customer_id] = (item.message_id, item.correlation_id)
    # A registration may have brought the branch and owner a tier was waiting for: plan its follow-ups.
    for cid in loaded.causes:
        c = loaded.customers[cid]
        if c.tier and c.owner and not c.merged_into:
            c.plan_cadence(
                policy=policy,
                version=version,
                today=today,
                now=now,
                open_tasks=loaded.tasks_of(cid),
                working_day=e.after_public_holiday,
            )
    # A birthday, anniversary or owner learnt after the tier: the care moments within the lead time are planned now.
    for cid in sorted(care):
        loaded.customers[cid].plan_care(policy=policy, today=today, now=now)
    await save(e, session, loaded, only=set(loaded.causes))
    return []


def handler(e: Engagement) -> BatchHandler[CloudEvent[Any] | None]:
    async def handle(session: AsyncClientSession, items: list[Incoming[CloudEvent[Any] | None]]) -> list[Rejection]:
        return await apply_profile_events(e=e, session=session, items=items)

    return handle
