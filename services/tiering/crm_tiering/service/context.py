"""What tiering's application functions work with, and the unit of work that saves customers with
the events they caused (outbox, numbered per customer) in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog
from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.envelope import CloudEvent, EventData
from crm_contracts.topics import TIERING_CUSTOMERS
from crm_kit.jobs import LeasedJob
from crm_kit.outbox import OutgoingMessage, event_message, in_sequence
from crm_kit.runtime import Runtime
from crm_tiering.adapters.store import TieringStore, customer_from_doc, customer_state
from crm_tiering.domain.customer import TieredCustomer
from crm_tiering.settings import TieringSettings

SOURCE = "crm/tiering"


@dataclass
class Tiering:
    rt: Runtime[TieringSettings]
    store: TieringStore
    rollout_job: LeasedJob | None = None
    sweep_job: LeasedJob | None = None

    def event(self, data: EventData, *, customer_id: str, causationid: str | None = None,
              correlationid: str | None = None) -> OutgoingMessage:
        ctx = structlog.contextvars.get_contextvars()
        envelope = CloudEvent.wrap(data, source=SOURCE, subject=customer_id,
                                   correlationid=correlationid or ctx.get("correlation_id"), causationid=causationid)
        return event_message(self.rt.topic(TIERING_CUSTOMERS), envelope)


@dataclass
class Loaded:
    """Customers read in a transaction, with their event counters, so they can be saved in bulk."""
    customers: dict[str, TieredCustomer] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)
    causes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    """customer id -> (causation id, correlation id) of the message that changed it"""

    def add_new(self, customer_id: str) -> TieredCustomer:
        c = TieredCustomer(customer_id=customer_id)
        self.customers[customer_id] = c
        self.seqs[customer_id] = 0
        return c


async def load(t: Tiering, session: AsyncClientSession, ids: list[str] | set[str]) -> Loaded:
    docs = await t.store.customers.find({"_id": {"$in": sorted(ids)}}, session=session).to_list()
    loaded = Loaded()
    for d in docs:
        loaded.customers[d["_id"]] = customer_from_doc(d)
        loaded.seqs[d["_id"]] = d.get("event_seq", 0)
    return loaded


async def save(t: Tiering, session: AsyncClientSession, loaded: Loaded, *, only: set[str] | None = None) -> int:
    """Write the customers (one bulk write), their watch entries and their events (one outbox insert).
    Returns the number of events."""
    updates: list[UpdateOne] = []
    watch: list[UpdateOne] = []
    messages: list[OutgoingMessage] = []
    for cid, c in loaded.customers.items():
        if only is not None and cid not in only:
            continue
        seq = loaded.seqs.get(cid, 0)
        causation, correlation = loaded.causes.get(cid, (None, None))
        if c.events:
            messages += in_sequence(
                [t.event(e, customer_id=cid, causationid=causation, correlationid=correlation) for e in c.events],
                first=seq + 1)
        state: dict[str, Any] = {**customer_state(c), "event_seq": seq + len(c.events)}
        updates.append(UpdateOne({"_id": cid}, {"$set": state}, upsert=True))
        if c.watch is not None:
            w = c.watch
            watch.append(UpdateOne({"_id": f"{cid}:{w.as_of.isoformat()}"}, {"$set": {
                "customer_id": cid, "owner": c.owner, "branch": c.branch, "tier": c.tier, "as_of": w.as_of.isoformat(),
                "previous_aum": w.previous, "aum": w.aum, "change": w.change}}, upsert=True))
    if updates:
        await t.store.customers.bulk_write(updates, ordered=False, session=session)
    if watch:
        await t.store.watch.bulk_write(watch, ordered=False, session=session)
    await t.rt.outbox.add(session, messages)
    return len(messages)
