"""What complaints keeps of a customer, from the profile (branch, owner) and tiering (tier, branch, owner): the
tier gives key and vip customers priority; the owner and branch give data scope. Cases taken in before the customer
(or its tier) was known catch up in the same transaction (service.routing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crm_complaints.adapters.repositories import ComplaintsRepositories, CustomerChange
from crm_complaints.service import routing
from crm_complaints.service.context import Complaints
from crm_contracts.envelope import CloudEvent
from crm_contracts.profile import CustomerMerged, CustomerRegistered
from crm_contracts.tiering import OwnerAssigned, TierChanged
from crm_kit.event_handlers import EventHandlers, Message
from crm_kit.messaging import BatchHandler, Rejection


@dataclass
class CustomerNews:
    """What one batch of the profile's and tiering's events changes: the customers' records, the owners their cases
    follow, and the customers whose waiting cases may now be routed."""

    changes: list[CustomerChange] = field(default_factory=list)
    owners: list[tuple[str, str, bool]] = field(default_factory=list)
    """(customer id, owner, replaces an owner already set)"""
    heard_of: set[str] = field(default_factory=set)


def _numbered(item: Message) -> dict[str, Any]:
    return {"tiering_seq": item.sequence} if item.sequence is not None else {}


async def _tier_changed(news: CustomerNews, item: Message, data: TierChanged) -> None:
    news.heard_of.add(data.customer_id)
    fields = {"tier": data.to_tier, **({"branch": data.branch} if data.branch else {}), **_numbered(item)}
    news.changes.append(CustomerChange(data.customer_id, fields=fields))


async def _owner_assigned(news: CustomerNews, item: Message, data: OwnerAssigned) -> None:
    news.heard_of.add(data.customer_id)
    fields = {"owner": data.new_owner, **({"branch": data.branch} if data.branch else {}), **_numbered(item)}
    news.changes.append(CustomerChange(data.customer_id, fields=fields))
    news.owners.append((data.customer_id, data.new_owner, True))


async def _registered(news: CustomerNews, _item: Message, data: CustomerRegistered) -> None:
    # Fills what tiering has not said yet (topics are not ordered with each other): tiering's word wins.
    news.heard_of.add(data.customer_id)
    news.changes.append(CustomerChange(data.customer_id, registered=(data.owner, data.branch)))
    news.owners.append((data.customer_id, data.owner, False))


async def _merged(news: CustomerNews, _item: Message, data: CustomerMerged) -> None:
    # The merged-away record's cases follow the survivor (branch, owner, tier); intake resolves it to the survivor.
    # One level is kept per record; service.routing follows the chain.
    news.heard_of |= {data.merged_id, data.survivor_id}
    news.changes.append(CustomerChange(data.merged_id, merged_into=data.survivor_id))
    news.changes.append(CustomerChange(data.survivor_id, merged_id=data.merged_id))


CUSTOMER_EVENTS = (
    EventHandlers[CustomerNews]()
    .on(TierChanged, _tier_changed, ordered=True)
    .on(OwnerAssigned, _owner_assigned, ordered=True)
    .on(CustomerRegistered, _registered)
    .on(CustomerMerged, _merged)
)
"""Tiering's decisions apply in the order tiering made them (its per-customer sequence): a redelivery or an older
decision (a dead letter replayed late) changes nothing, as in profile and engagement."""


async def apply(*, service: Complaints, repos: ComplaintsRepositories, items: list[Message]) -> list[Rejection]:
    news = CustomerNews()
    seen = await repos.customers.tiering_seqs(CUSTOMER_EVENTS.subjects(items, ordered_only=True))
    await CUSTOMER_EVENTS.apply(news, items, seen=seen)
    await repos.customers.apply(news.changes)
    await repos.complaints.follow_owners(news.owners)  # scope of the customer's complaints follows the owner
    # Cases taken in before these customers were known, or before their tier was: routed and prioritised now.
    await routing.catch_up(service, repos, news.heard_of)
    return []


def handler(service: Complaints) -> BatchHandler[CloudEvent[Any] | None]:
    async def handle(repos: ComplaintsRepositories, items: list[Message]) -> list[Rejection]:
        return await apply(service=service, repos=repos, items=items)

    return service.uow.consumer(handle)
