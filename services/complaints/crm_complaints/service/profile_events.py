"""The profile's events into complaints: a registration gives the customer's branch and owner (filling only what
tiering has not said), a merge makes the merged-away record's cases follow the survivor."""

from __future__ import annotations

from crm_complaints.adapters.repositories import ComplaintsRepositories, CustomerChange
from crm_complaints.service.context import Complaints
from crm_complaints.service.customers import CustomerNews, take_news
from crm_contracts.profile import CustomerMerged, CustomerRegistered
from crm_kit.event_handlers import EventHandlers, Message
from crm_kit.messaging import Rejection


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


PROFILE_EVENTS = EventHandlers[CustomerNews]().on(CustomerRegistered, _registered).on(CustomerMerged, _merged)


async def apply_profile_events(
    *, service: Complaints, repos: ComplaintsRepositories, items: list[Message]
) -> list[Rejection]:
    news = CustomerNews()
    await PROFILE_EVENTS.apply(news, items)
    await take_news(service, repos, news)
    return []
