"""What tiering's application functions work with: the runtime, the unit of work (crm_kit.unit_of_work) over
tiering's repositories, and saving customers with the events they caused (outbox, numbered per customer) in
one transaction."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from crm_contracts.envelope import EventData
from crm_contracts.topics import TIERING_CUSTOMERS
from crm_kit.context import ServiceContext
from crm_kit.jobs import LeasedJob
from crm_kit.outbox import OutgoingMessage, in_sequence, outgoing_event
from crm_kit.work_lists import WorkLists
from crm_tiering.adapters.repositories import Loaded, TieringRepositories
from crm_tiering.settings import TieringSettings

SOURCE = "crm/tiering"


@dataclass
class Tiering(ServiceContext[TieringSettings, TieringRepositories]):
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


async def save(service: Tiering, repos: TieringRepositories, loaded: Loaded, *, only: set[str] | None = None) -> int:
    """Write the customers (one bulk write), the staff counters they move, their watch entries and their events
    (one outbox insert). Returns the number of events."""
    messages: list[OutgoingMessage] = []
    for cid, customer in loaded.saved(only):
        if customer.events:
            causation, correlation = loaded.causes.get(cid, (None, None))
            messages += in_sequence(
                [
                    service.event(event, customer_id=cid, causationid=causation, correlationid=correlation)
                    for event in customer.events
                ],
                first=loaded.seqs.get(cid, 0) + 1,
            )
    await repos.customers.save_many(loaded, only=only)
    await repos.staff.move_owned(loaded.owner_moves(only))
    await repos.watch.save_many(loaded, only=only)
    await repos.outbox.add(messages)
    return len(messages)
