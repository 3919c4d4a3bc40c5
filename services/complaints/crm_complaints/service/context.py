"""What complaints' application functions work with: the runtime, the store, the business date, and saving a
complaint with the events it caused (outbox) in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_complaints.adapters.store import ComplaintsStore, complaint_state
from crm_complaints.domain.complaint import Complaint
from crm_complaints.domain.policy import ComplaintsPolicy
from crm_complaints.settings import ComplaintsSettings
from crm_contracts.topics import COMPLAINTS_CASES
from crm_kit.calendar_sync import ServiceCalendar
from crm_kit.jobs import LeasedJob
from crm_kit.outbox import outgoing_event
from crm_kit.policies import PolicyVersions
from crm_kit.runtime import Runtime
from crm_kit.work_lists import WorkLists

SOURCE = "crm/complaints"


@dataclass
class Complaints:
    rt: Runtime[ComplaintsSettings]
    store: ComplaintsStore
    policies: PolicyVersions[ComplaintsPolicy]
    scheduler_job: LeasedJob | None = None
    unverified_job: LeasedJob | None = None
    calendar: ServiceCalendar | None = None
    work_lists: WorkLists = field(default_factory=WorkLists)
    """The deadline clock's cases to visit in a pass, read once per pass (crm_kit.work_lists)."""

    def today(self) -> date:
        """The business date: pinned by CLOCK_DATE, else today in the bank's time zone."""
        return self.rt.clock.today()

    def now(self) -> datetime:
        return self.rt.clock.now()


async def save(cx: Complaints, session: AsyncClientSession, c: Complaint, *, new: bool = False) -> None:
    if new:
        await cx.store.complaints.insert_one({"_id": c.complaint_id, **complaint_state(c)}, session=session)
        await _publish(cx, session, [c])
    else:
        await save_many(cx, session, [c])


async def save_many(cx: Complaints, session: AsyncClientSession, cases: list[Complaint]) -> None:
    """Stored cases and their events: one bulk write and one outbox insert, however many cases."""
    if not cases:
        return
    await cx.store.complaints.bulk_write(
        [UpdateOne({"_id": c.complaint_id}, {"$set": complaint_state(c)}) for c in cases],
        ordered=False,
        session=session,
    )
    await _publish(cx, session, cases)


async def _publish(cx: Complaints, session: AsyncClientSession, cases: list[Complaint]) -> None:
    topic = cx.rt.topic(COMPLAINTS_CASES)
    await cx.rt.outbox.add(
        session,
        [
            outgoing_event(topic, e, source=SOURCE, customer_id=c.customer_id or c.complaint_id)
            for c in cases
            for e in c.events
        ],
    )
    for c in cases:
        c.events.clear()
