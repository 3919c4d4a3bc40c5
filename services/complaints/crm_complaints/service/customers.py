"""What complaints keeps of a customer, from the profile (branch, owner) and tiering (tier, branch, owner): the
tier gives key and vip customers priority; the owner and branch give data scope. Cases taken in before the customer
(or its tier) was known catch up in the same transaction (service.routing). The consumers (`profile_events.py`,
`tiering_events.py`) collect a batch's news; `take_news` applies it."""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_complaints.adapters.repositories import ComplaintsRepositories, CustomerChange
from crm_complaints.service import routing
from crm_complaints.service.context import Complaints


@dataclass
class CustomerNews:
    """What one batch of the profile's or tiering's events changes: the customers' records, the owners their cases
    follow, and the customers whose waiting cases may now be routed."""

    changes: list[CustomerChange] = field(default_factory=list)
    owners: list[tuple[str, str, bool]] = field(default_factory=list)
    """(customer id, owner, replaces an owner already set)"""
    heard_of: set[str] = field(default_factory=set)


async def take_news(service: Complaints, repos: ComplaintsRepositories, news: CustomerNews) -> None:
    await repos.customers.apply(news.changes)
    await repos.complaints.follow_owners(news.owners)  # scope of the customer's complaints follows the owner
    # Cases taken in before these customers were known, or before their tier was: routed and prioritised now.
    await routing.catch_up(service, repos, news.heard_of)
