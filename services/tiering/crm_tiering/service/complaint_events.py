"""Complaints into the churn warning: an open complaint is a reason, its closing clears it.

Complaints numbers each customer's events (CloudEvents `sequence`, crm_kit.outbox.SubjectSequences) and each
customer keeps the number of the last one applied (`complaints_seq`): the events apply in complaints' order. A
redelivery, or an opening replayed late from the dead letters after the complaint was closed, changes nothing —
the opening applied again would bring back a reason that is gone (and a churn warning with it) for good."""

from __future__ import annotations

from dataclasses import dataclass

from crm_contracts.complaints import ComplaintClosed, ComplaintOpened
from crm_kit.event_handlers import EventHandlers, Message
from crm_kit.messaging import Rejection
from crm_tiering.adapters.repositories import Loaded, TieringRepositories
from crm_tiering.domain.customer import TieredCustomer
from crm_tiering.domain.policy import Policy
from crm_tiering.service.context import Tiering, save


@dataclass
class ComplaintNews:
    """One batch of complaints' events: the customers they are about, and the policy their warning follows."""

    policy: Policy
    loaded: Loaded

    def customer(self, customer_id: str) -> TieredCustomer:
        # The complaint may overtake the registration (another topic): keep it, the registration fills in
        # branch and owner when it arrives.
        return self.loaded.customers.get(customer_id) or self.loaded.add_new(customer_id)

    def caused(self, item: Message, customer: TieredCustomer) -> None:
        self.loaded.causes[customer.customer_id] = (item.message_id, item.correlation_id)


async def _opened(news: ComplaintNews, item: Message, data: ComplaintOpened) -> None:
    customer = news.customer(data.customer_id)
    customer.complaint_opened(data.complaint_id, on=data.opened_at.date(), policy=news.policy)
    news.caused(item, customer)


async def _closed(news: ComplaintNews, item: Message, data: ComplaintClosed) -> None:
    customer = news.customer(data.customer_id)
    customer.complaint_closed(data.complaint_id, on=data.closed_at.date(), policy=news.policy)
    news.caused(item, customer)


COMPLAINT_EVENTS = (
    EventHandlers[ComplaintNews]().on(ComplaintOpened, _opened, ordered=True).on(ComplaintClosed, _closed, ordered=True)
)
"""Complaints' other event types (status changes, deadlines, targets) are passed over."""


async def apply_complaint_events(
    *, service: Tiering, repos: TieringRepositories, items: list[Message]
) -> list[Rejection]:
    """One consumed batch, in the consumer's transaction."""
    policy, _ = await repos.policies.current()
    loaded = await repos.customers.load(
        {item.payload.data.customer_id for item in items if item.payload is not None and COMPLAINT_EVENTS.handles(item)}
    )
    seen = {cid: customer.complaints_seq for cid, customer in loaded.customers.items()}
    await COMPLAINT_EVENTS.apply(ComplaintNews(policy=policy, loaded=loaded), items, seen=seen)
    for cid, sequence in seen.items():
        # Each applied event's customer is kept (made if new): its number is saved with it, in the same write.
        if cid in loaded.customers:
            loaded.customers[cid].complaints_seq = sequence
    await save(service, repos, loaded, only=set(loaded.causes))
    return []
