"""Tiering's events into complaints: the tier (key and vip customers get priority), the owner and the branch (data
scope), applied in the order tiering made its decisions (its per-customer sequence): a redelivery or an older
decision (a dead letter replayed late) changes nothing, as in profile and engagement."""

from __future__ import annotations

from typing import Any

from crm_complaints.adapters.repositories import ComplaintsRepositories, CustomerChange
from crm_complaints.service.context import Complaints
from crm_complaints.service.customers import CustomerNews, take_news
from crm_contracts.tiering import OwnerAssigned, TierChanged
from crm_kit.event_handlers import EventHandlers, Message
from crm_kit.messaging import Rejection


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


TIERING_EVENTS = (
    EventHandlers[CustomerNews]()
    .on(TierChanged, _tier_changed, ordered=True)
    .on(OwnerAssigned, _owner_assigned, ordered=True)
)


async def apply_tiering_events(
    *, service: Complaints, repos: ComplaintsRepositories, items: list[Message]
) -> list[Rejection]:
    news = CustomerNews()
    seen = await repos.customers.tiering_seqs(TIERING_EVENTS.subjects(items, ordered_only=True))
    await TIERING_EVENTS.apply(news, items, seen=seen)
    await take_news(service, repos, news)
    return []
