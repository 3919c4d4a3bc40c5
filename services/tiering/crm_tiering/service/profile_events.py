"""The profile's events into tiering: registrations, bands and balances. One batch is read with one
query, evaluated in memory and written back with one bulk write and one outbox insert.

Redeliveries are recognised without an inbox: the profile numbers each customer's events (CloudEvents
`sequence`), and each customer keeps the number of the last one applied. Without a number (an older
producer), the rules themselves make a repeat harmless: an older or equal snapshot changes nothing."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.envelope import CloudEvent
from crm_contracts.profile import AssetsChanged, CustomerMerged, CustomerRegistered, CustomerUpdated
from crm_kit.messaging import Incoming, Rejection
from crm_tiering.service import policies
from crm_tiering.service.assignment import assign_owners
from crm_tiering.service.context import Tiering, advance_clock, load, save


def _customer_ids(ev: CloudEvent | None) -> list[str]:  # type: ignore[type-arg]
    if ev is None:
        return []  # a type tiering does not know
    if isinstance(ev.data, CustomerMerged):
        return [ev.data.survivor_id, ev.data.merged_id]
    return [ev.subject]


async def apply_profile_events(*, t: Tiering, session: AsyncClientSession, items: list[Incoming[CloudEvent | None]]) -> list[Rejection]:
    policy, number = await policies.current(t, session)
    loaded = await load(t, session, {cid for i in items for cid in _customer_ids(i.payload)})
    rejections: list[Rejection] = []
    latest_as_of: str | None = None
    for item in items:
        if item.payload is None:
            continue
        data = item.payload.data
        subject = loaded.customers.get(item.payload.subject)
        if subject is not None and item.sequence is not None and item.sequence <= subject.profile_seq:
            continue  # applied before: a redelivery
        if isinstance(data, CustomerRegistered):
            c = loaded.customers.get(data.customer_id) or loaded.add_new(data.customer_id)
            c.branch, c.kind = data.branch, data.kind
            c.owner = c.owner or data.owner
            c.registered_on = data.registered_at.date()
            c.age_band, c.income_band = data.age_band, data.income_band
        elif isinstance(data, CustomerUpdated):
            c = loaded.customers.get(data.customer_id)
            if c is None:
                continue  # nothing tiering keeps has changed for a customer it does not know yet
            c.age_band = data.age_band or c.age_band
            c.income_band = data.income_band or c.income_band
        elif isinstance(data, AssetsChanged):
            c = loaded.customers.get(data.customer_id)
            if c is None:
                rejections.append(Rejection(item, f"customer_id: {data.customer_id} is not registered with tiering "
                                                  "(its registered event has not been seen)"))
                continue
            # The first evaluation under a newer policy than the customer's applies that policy at once,
            # as its rollout would.
            changed_policy = c.policy_version is not None and c.policy_version < number
            if changed_policy and c.as_of is not None:
                c.evaluate(on=c.evaluated_on or c.as_of, policy=policy, version=number, policy_changed=True)
            c.observe_balance(as_of=data.as_of, aum=data.aum, breakdown=dict(data.breakdown), policy=policy,
                              version=number)
            latest_as_of = max(latest_as_of or "", data.as_of.isoformat())
        elif isinstance(data, CustomerMerged):
            merged = loaded.customers.get(data.merged_id)
            if merged is not None:
                merged.merged_into = data.survivor_id
        else:
            continue
        for cid in _customer_ids(item.payload):
            loaded.causes[cid] = (item.message_id, item.correlation_id)
        subject = loaded.customers.get(item.payload.subject)
        if subject is not None and item.sequence is not None:
            subject.profile_seq = max(subject.profile_seq, item.sequence)
    await assign_owners(t, session, list(loaded.customers.values()), policy=policy)
    await advance_clock(t, session, latest_as_of)
    touched = set(loaded.causes) & set(loaded.customers)
    await save(t, session, loaded, only=touched)
    return rejections


def handler(t: Tiering):  # type: ignore[no-untyped-def]
    async def handle(session: AsyncClientSession, items: list[Incoming[CloudEvent | None]]) -> list[Rejection]:
        return await apply_profile_events(t=t, session=session, items=items)

    return handle
