"""What tiering's application functions work with, and the unit of work that saves customers with
the events they caused (outbox, numbered per customer) in one transaction."""

from __future__ import annotations

import os
import socket
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.envelope import EventData
from crm_contracts.topics import TIERING_CUSTOMERS
from crm_kit.jobs import LeasedJob
from crm_kit.outbox import OutgoingMessage, in_sequence, outgoing_event
from crm_kit.policies import PolicyVersions
from crm_kit.runtime import Runtime
from crm_kit.work_lists import WorkLists
from crm_tiering.adapters.store import TieringStore, customer_from_doc, customer_state
from crm_tiering.domain.customer import TieredCustomer
from crm_tiering.domain.policy import Policy
from crm_tiering.settings import TieringSettings

SOURCE = "crm/tiering"


@dataclass
class Tiering:
    rt: Runtime[TieringSettings]
    store: TieringStore
    policies: PolicyVersions[Policy]
    rollout_job: LeasedJob | None = None
    instance: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    work_lists: WorkLists = field(default_factory=WorkLists)
    """The background jobs' ids to visit (rollout, sweep), read once per run (crm_kit.work_lists)."""

    def event(
        self, data: EventData, *, customer_id: str, causationid: str | None = None, correlationid: str | None = None
    ) -> OutgoingMessage:
        return outgoing_event(
            self.rt.topic(TIERING_CUSTOMERS),
            data,
            source=SOURCE,
            customer_id=customer_id,
            causationid=causationid,
            correlationid=correlationid,
        )


@dataclass
class Loaded:
    """Customers read in a transaction, with their event counters, so they can be saved in bulk."""

    customers: dict[str, TieredCustomer] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)
    causes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    """customer id -> (causation id, correlation id) of the message that changed it"""
    owners: dict[str, str | None] = field(default_factory=dict)
    """customer id -> owner as read (None for a merged record): staff counters move by the difference"""
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    """customer id -> state as read: only what changed is written back"""

    def add_new(self, customer_id: str) -> TieredCustomer:
        c = TieredCustomer(customer_id=customer_id)
        self.customers[customer_id] = c
        self.seqs[customer_id] = 0
        self.owners[customer_id] = None
        return c


async def load(t: Tiering, session: AsyncClientSession, ids: list[str] | set[str]) -> Loaded:
    wanted = sorted(ids)
    # One round trip: the whole batch in the first reply.
    docs = await t.store.customers.find(
        {"_id": {"$in": wanted}}, session=session, batch_size=max(1, len(wanted))
    ).to_list()
    loaded = Loaded()
    for d in docs:
        c = customer_from_doc(d)
        loaded.customers[d["_id"]] = c
        loaded.seqs[d["_id"]] = d.get("event_seq", 0)
        loaded.owners[d["_id"]] = None if c.merged_into else c.owner
        loaded.states[d["_id"]] = customer_state(c)
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
                first=seq + 1,
            )
        before = loaded.states.get(cid)
        state = customer_state(c)
        # Only the fields that changed: the database's cost grows with what a write touches.
        changed: dict[str, Any] = state if before is None else {k: v for k, v in state.items() if before.get(k) != v}
        if c.events or before is None:
            changed["event_seq"] = seq + len(c.events)
        if changed:
            updates.append(UpdateOne({"_id": cid}, {"$set": changed}, upsert=True))
        for w in c.watches:
            watch.append(
                UpdateOne(
                    {"_id": f"{cid}:{w.as_of.isoformat()}"},
                    {
                        "$set": {
                            "customer_id": cid,
                            **(
                                {"owner": w.owner, "branch": w.branch, "tier": w.tier}
                                if w.closed
                                else {"owner": c.owner, "branch": c.branch, "tier": c.tier}
                            ),
                            "as_of": w.as_of.isoformat(),
                            "previous_aum": w.previous,
                            "aum": w.aum,
                            "change": w.change,
                        }
                    },
                    upsert=True,
                )
            )
    owned: Counter[str] = Counter()
    for cid, c in loaded.customers.items():
        if only is not None and cid not in only:
            continue
        owner_before, owner_after = loaded.owners.get(cid), (None if c.merged_into else c.owner)
        if owner_before != owner_after:
            owned.update({k: v for k, v in ((owner_before, -1), (owner_after, 1)) if k})
    if updates:
        await t.store.customers.bulk_write(updates, ordered=False, session=session)
    if any(owned.values()):
        # How many customers each staff member owns, kept with the change that moves them: what the staff
        # directory shows, without counting customers on every read.
        await t.store.staff.bulk_write(
            [UpdateOne({"_id": sid}, {"$inc": {"owned": n}}) for sid, n in sorted(owned.items()) if n],
            ordered=False,
            session=session,
        )
    if watch:
        await t.store.watch.bulk_write(watch, ordered=False, session=session)
    await t.rt.outbox.add(session, messages)
    return len(messages)


async def advance_clock(t: Tiering, session: AsyncClientSession, as_of: str | None) -> None:
    """The latest snapshot date this process has applied; the business date is the latest over all
    processes (one small document each, so replicas never write the same one)."""
    if as_of:
        await t.store.clock.update_one({"_id": t.instance}, {"$max": {"as_of": as_of}}, upsert=True, session=session)


async def business_date(t: Tiering, session: AsyncClientSession | None = None) -> date | None:
    docs = await t.store.clock.find({}, {"as_of": 1}, session=session).to_list()
    dates = [d["as_of"] for d in docs if d.get("as_of")]
    return date.fromisoformat(max(dates)) if dates else None
