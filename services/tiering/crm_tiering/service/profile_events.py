"""The profile's events into tiering: registrations, bands and balances. One batch is read with one
query, evaluated in memory and written back with one bulk write and one outbox insert.

Redeliveries are recognised without an inbox: the profile numbers each customer's events (CloudEvents
`sequence`), and each customer keeps the number of the last one applied. Without a number (an older
producer), the rules themselves make a repeat harmless: an older or equal snapshot changes nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from crm_contracts.envelope import CloudEvent
from crm_contracts.profile import AssetsChanged, CustomerMerged, CustomerRegistered, CustomerUpdated
from crm_kit.messaging import Incoming, Rejection
from crm_tiering.adapters.repositories import TieringRepositories
from crm_tiering.domain.customer import TieredCustomer
from crm_tiering.domain.policy import Policy
from crm_tiering.service.assignment import Owners
from crm_tiering.service.context import Tiering, save


def _customer_ids(ev: CloudEvent[Any] | None) -> list[str]:
    if ev is None:
        return []  # a type tiering does not know
    if isinstance(ev.data, CustomerMerged):
        return [ev.data.survivor_id, ev.data.merged_id]
    return [ev.subject]


def _by_day(items: list[Incoming[CloudEvent[Any] | None]]) -> list[list[Incoming[CloudEvent[Any] | None]]]:
    """The batch as the nights it covers: a catch-up feed (a week of one customer in one poll) is applied day by
    day across all its customers, as the same days sent one a night would be — owners are handed out at the end
    of each day, so who gets a customer does not depend on how the feed was cut into deliveries. Each customer's
    events keep their order: an event other than a balance goes with the day of the balance before it."""
    last: dict[str, date] = {}
    keyed: list[tuple[date, int, Incoming[CloudEvent[Any] | None]]] = []
    for index, item in enumerate(items):
        if item.payload is None:
            continue
        ids = _customer_ids(item.payload)
        day = max((last.get(cid, date.min) for cid in ids), default=date.min)
        if isinstance(item.payload.data, AssetsChanged):
            day = max(day, item.payload.data.as_of)
        for cid in ids:
            last[cid] = day
        keyed.append((day, index, item))
    keyed.sort(key=lambda k: (k[0], k[1]))
    nights: list[list[Incoming[CloudEvent[Any] | None]]] = []
    for position, (day, _, item) in enumerate(keyed):
        if position == 0 or day != keyed[position - 1][0]:
            nights.append([])
        nights[-1].append(item)
    return nights


async def _observe(
    customer: TieredCustomer,
    *,
    as_of: date,
    aum: Decimal,
    breakdown: dict[str, Decimal],
    policy: Policy,
    number: int,
    owners: Owners,
) -> None:
    """One day's balance of a registered customer, after whatever came due before that day."""
    # The first evaluation under a newer policy than the customer's applies that policy at once, as its
    # rollout would.
    if customer.policy_version is not None and customer.policy_version < number and customer.as_of is not None:
        customer.evaluate(
            on=customer.evaluated_on or customer.as_of, policy=policy, version=number, policy_changed=True
        )
    # Dates that came due before this day (a grace end, dormancy …) on their own dates, each followed by the
    # hand-over it may call for, as the nightly sweep does when the days arrive one a night.
    while customer.catch_up_step(before=as_of, policy=policy, version=number):
        await owners.settle([customer])
    customer.observe_balance(as_of=as_of, aum=aum, breakdown=breakdown, policy=policy, version=number)


async def apply_profile_events(
    *, service: Tiering, repos: TieringRepositories, items: list[Incoming[CloudEvent[Any] | None]]
) -> list[Rejection]:
    """One consumed batch, in the consumer's transaction."""
    policy, number = await repos.policies.current()
    loaded = await repos.customers.load({cid for i in items for cid in _customer_ids(i.payload)})
    owners = Owners(repos, policy=policy, loaded=loaded)
    latest_as_of: str | None = None
    for night in _by_day(items):
        for item in night:
            if item.payload is None:
                continue  # a type tiering does not know (left out of the nights already)
            data = item.payload.data
            subject = loaded.customers.get(item.payload.subject)
            if subject is not None and item.sequence is not None and item.sequence <= subject.profile_seq:
                continue  # applied before: a redelivery
            if isinstance(data, CustomerRegistered):
                customer = loaded.customers.get(data.customer_id) or loaded.add_new(data.customer_id)
                customer.branch, customer.kind = data.branch, data.kind
                customer.owner = customer.owner or data.owner
                customer.registered_on = data.registered_at.date()
                customer.age_band, customer.income_band = data.age_band, data.income_band
                customer.core_customer_no = data.core_customer_no or customer.core_customer_no
                # What overtook the registration now counts, in its order, as if the registration had come first.
                for held in customer.take_held_balances():
                    await _observe(
                        customer,
                        as_of=held.as_of,
                        aum=held.aum,
                        breakdown=held.breakdown,
                        policy=policy,
                        number=number,
                        owners=owners,
                    )
                    await owners.settle([customer])
                    customer.close_day()
                    customer.profile_seq = max(customer.profile_seq, held.seq or 0)
                customer.registration_arrived(policy=policy)
            elif isinstance(data, CustomerUpdated):
                known = loaded.customers.get(data.customer_id)
                if known is None:
                    continue  # nothing tiering keeps has changed for a customer it does not know yet
                customer = known
                customer.age_band = data.age_band or customer.age_band
                customer.income_band = data.income_band or customer.income_band
            elif isinstance(data, AssetsChanged):
                customer = loaded.customers.get(data.customer_id) or loaded.add_new(data.customer_id)
                customer.core_customer_no = data.core_customer_no
                if not customer.registered:
                    # The registration has not arrived (a redelivery or a replay can overtake it): the balance is
                    # kept and evaluated in its turn when it does, never lost.
                    customer.hold_balance(
                        as_of=data.as_of, aum=data.aum, breakdown=dict(data.breakdown), seq=item.sequence
                    )
                    loaded.causes[customer.customer_id] = (item.message_id, item.correlation_id)
                    latest_as_of = max(latest_as_of or "", data.as_of.isoformat())
                    # Not counted as applied: the registration, numbered before it, must still be taken.
                    continue
                else:
                    await _observe(
                        customer,
                        as_of=data.as_of,
                        aum=data.aum,
                        breakdown=dict(data.breakdown),
                        policy=policy,
                        number=number,
                        owners=owners,
                    )
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
        # The end of the day: hand-overs for whoever entered a tier, and the day's watch entries closed.
        await owners.settle(loaded.customers.values())
        for customer in loaded.customers.values():
            customer.close_day()
    if latest_as_of:
        # The latest snapshot date this process has applied; the business date is the latest over all processes.
        await repos.clock.advance(service.instance, latest_as_of)
    touched = set(loaded.causes) & set(loaded.customers)
    await save(service, repos, loaded, only=touched)
    return []
