"""The profile's events into tiering: registrations, bands and balances. One batch is read with one
query, evaluated in memory and written back with one bulk write and one outbox insert.

Redeliveries are recognised without an inbox: the profile numbers each customer's events (CloudEvents
`sequence`), and each customer keeps the number of the last one applied (`profile_seq`): every profile event is
ordered by it (crm_kit.event_handlers). Without a number (an older producer), the rules themselves make a repeat
harmless: an older or equal snapshot changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from crm_contracts.envelope import CloudEvent
from crm_contracts.profile import AssetsChanged, CustomerMerged, CustomerRegistered, CustomerUpdated
from crm_kit.event_handlers import EventHandlers, Message
from crm_kit.messaging import Rejection
from crm_tiering.adapters.repositories import Loaded, TieringRepositories
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


def _by_day(items: list[Message]) -> list[list[Message]]:
    """The batch as the nights it covers: a catch-up feed (a week of one customer in one poll) is applied day by
    day across all its customers, as the same days sent one a night would be — owners are handed out at the end
    of each day, so who gets a customer does not depend on how the feed was cut into deliveries. Each customer's
    events keep their order: an event other than a balance goes with the day of the balance before it."""
    last: dict[str, date] = {}
    keyed: list[tuple[date, int, Message]] = []
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
    nights: list[list[Message]] = []
    for position, (day, _, item) in enumerate(keyed):
        if position == 0 or day != keyed[position - 1][0]:
            nights.append([])
        nights[-1].append(item)
    return nights


@dataclass
class ProfileNews:
    """One batch of the profile's events as tiering applies it: the customers it read (and those it makes), the
    policy they are evaluated under, the owners handed out, and the latest balance date applied."""

    policy: Policy
    number: int
    """the policy's version"""
    loaded: Loaded
    owners: Owners
    seen: dict[str, int]
    """customer → the profile's number of the last event applied (`profile_seq`), as the kit's `seen`: the kit moves
    a customer's number on before the event's function runs, the function settles it (`applied`, `not_applied`)."""
    latest_as_of: str | None = None

    def applied(self, item: Message) -> None:
        """The event counts: its customers are saved with it as their cause, its number is the customer's last
        applied."""
        assert item.payload is not None  # the kit passes only parsed events to a function
        for cid in _customer_ids(item.payload):
            self.loaded.causes[cid] = (item.message_id, item.correlation_id)
        subject = self.loaded.customers.get(item.payload.subject)
        if subject is not None and item.sequence is not None:
            subject.profile_seq = max(subject.profile_seq, item.sequence)
        self._number_as_kept(item)

    def not_applied(self, item: Message) -> None:
        """The event does not count (yet): its number is not kept, so an event numbered before it is still taken
        (a registration after the balance that overtook it)."""
        self._number_as_kept(item)

    def _number_as_kept(self, item: Message) -> None:
        # `seen` follows the customer's `profile_seq`; a customer tiering does not keep has no number.
        assert item.payload is not None
        subject = self.loaded.customers.get(item.payload.subject)
        if subject is None:
            self.seen.pop(item.payload.subject, None)
        else:
            self.seen[item.payload.subject] = subject.profile_seq

    def balance_date(self, as_of: date) -> None:
        self.latest_as_of = max(self.latest_as_of or "", as_of.isoformat())

    async def observe(
        self, customer: TieredCustomer, *, as_of: date, aum: Decimal, breakdown: dict[str, Decimal]
    ) -> None:
        """One day's balance of a registered customer, after whatever came due before that day."""
        policy, number = self.policy, self.number
        # The first evaluation under a newer policy than the customer's applies that policy at once, as its
        # rollout would.
        if customer.policy_version is not None and customer.policy_version < number and customer.as_of is not None:
            customer.evaluate(
                on=customer.evaluated_on or customer.as_of, policy=policy, version=number, policy_changed=True
            )
        # Dates that came due before this day (a grace end, dormancy …) on their own dates, each followed by the
        # hand-over it may call for, as the nightly sweep does when the days arrive one a night.
        while customer.catch_up_step(before=as_of, policy=policy, version=number):
            await self.owners.settle([customer])
        customer.observe_balance(as_of=as_of, aum=aum, breakdown=breakdown, policy=policy, version=number)


async def _registered(news: ProfileNews, item: Message, data: CustomerRegistered) -> None:
    loaded = news.loaded
    customer = loaded.customers.get(data.customer_id) or loaded.add_new(data.customer_id)
    customer.branch, customer.kind = data.branch, data.kind
    customer.owner = customer.owner or data.owner
    customer.registered_on = data.registered_at.date()
    customer.age_band, customer.income_band = data.age_band, data.income_band
    customer.core_customer_no = data.core_customer_no or customer.core_customer_no
    # What overtook the registration now counts, in its order, as if the registration had come first.
    for held in customer.take_held_balances():
        await news.observe(customer, as_of=held.as_of, aum=held.aum, breakdown=held.breakdown)
        await news.owners.settle([customer])
        customer.close_day()
        customer.profile_seq = max(customer.profile_seq, held.seq or 0)
    customer.registration_arrived(policy=news.policy)
    news.applied(item)


async def _updated(news: ProfileNews, item: Message, data: CustomerUpdated) -> None:
    customer = news.loaded.customers.get(data.customer_id)
    if customer is None:
        news.not_applied(item)  # nothing tiering keeps has changed for a customer it does not know yet
        return
    customer.age_band = data.age_band or customer.age_band
    customer.income_band = data.income_band or customer.income_band
    news.applied(item)


async def _assets_changed(news: ProfileNews, item: Message, data: AssetsChanged) -> None:
    loaded = news.loaded
    customer = loaded.customers.get(data.customer_id) or loaded.add_new(data.customer_id)
    customer.core_customer_no = data.core_customer_no
    news.balance_date(data.as_of)
    if not customer.registered:
        # The registration has not arrived (a redelivery or a replay can overtake it): the balance is kept and
        # evaluated in its turn when it does, never lost.
        customer.hold_balance(as_of=data.as_of, aum=data.aum, breakdown=dict(data.breakdown), seq=item.sequence)
        loaded.causes[customer.customer_id] = (item.message_id, item.correlation_id)
        news.not_applied(item)  # not counted as applied: the registration, numbered before it, must still be taken
        return
    await news.observe(customer, as_of=data.as_of, aum=data.aum, breakdown=dict(data.breakdown))
    news.applied(item)


async def _merged(news: ProfileNews, item: Message, data: CustomerMerged) -> None:
    merged = news.loaded.customers.get(data.merged_id)
    if merged is not None:
        merged.merged_into = data.survivor_id
    news.applied(item)


PROFILE_EVENTS = (
    EventHandlers[ProfileNews]()
    .on(CustomerRegistered, _registered, ordered=True)
    .on(CustomerUpdated, _updated, ordered=True)
    .on(AssetsChanged, _assets_changed, ordered=True)
    .on(CustomerMerged, _merged, ordered=True)
)
"""The profile's events apply in the profile's order (its per-customer sequence): a redelivery or an older event
changes nothing. The profile's other event types are passed over."""


async def apply_profile_events(
    *, service: Tiering, repos: TieringRepositories, items: list[Message]
) -> list[Rejection]:
    """One consumed batch, in the consumer's transaction."""
    policy, number = await repos.policies.current()
    loaded = await repos.customers.load({cid for i in items for cid in _customer_ids(i.payload)})
    owners = Owners(repos, policy=policy, loaded=loaded)
    seen = {cid: customer.profile_seq for cid, customer in loaded.customers.items()}
    news = ProfileNews(policy=policy, number=number, loaded=loaded, owners=owners, seen=seen)
    for night in _by_day(items):
        await PROFILE_EVENTS.apply(news, night, seen=seen)
        # The end of the day: hand-overs for whoever entered a tier, and the day's watch entries closed.
        await owners.settle(loaded.customers.values())
        for customer in loaded.customers.values():
            customer.close_day()
    if news.latest_as_of:
        # The latest snapshot date this process has applied; the business date is the latest over all processes.
        await repos.clock.advance(service.instance, news.latest_as_of)
    touched = set(loaded.causes) & set(loaded.customers)
    await save(service, repos, loaded, only=touched)
    return []
