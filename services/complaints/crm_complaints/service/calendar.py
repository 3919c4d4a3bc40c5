"""The working-day calendar in complaints: the days as channels show them, loading an official schedule, and the
job that recomputes the open cases' targets that rested on provisional days once the calendar changed.

The recompute job (leased: one replica at a time) takes the open cases whose targets are provisional and were
computed under another calendar revision, a chunk per transaction; each case whose targets moved is audited and
publishes `complaint.targets-changed`. A case recomputed while the year is still provisional just records the new
revision, so the job ends when every such case carries the calendar's revision."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_complaints.adapters.store import complaint_from_doc
from crm_complaints.service.context import SOURCE, Complaints, save_many
from crm_complaints.service.policy import current
from crm_contracts.complaints import CalendarChanged
from crm_contracts.topics import COMPLAINTS_CASES
from crm_kit.calendar_sync import ServiceCalendar

CHUNK = 200


def service_calendar(cx: Complaints) -> ServiceCalendar:
    return ServiceCalendar(
        cx.rt,
        audit=cx.store.audit,
        topic=cx.rt.topic(COMPLAINTS_CASES),
        event_type=CalendarChanged,
        source=SOURCE,
        recompute=lambda revision: recompute(cx, revision),
    )


async def recompute(cx: Complaints, revision: str) -> bool:
    """One chunk of open cases with provisional targets computed under another revision. True while more remain."""
    cal = cx.rt.calendar

    async def txn(s: AsyncClientSession) -> int:
        policy, _ = await current(cx, s)
        docs = (
            await cx.store.complaints.find(
                {"open": True, "provisional_targets.0": {"$exists": True}, "calendar_revision": {"$ne": revision}},
                session=s,
            )
            .sort("_id", 1)
            .limit(CHUNK)
            .to_list()
        )
        now, today = cx.now(), cx.today()
        cases = []
        for doc in docs:
            c = complaint_from_doc(doc, calendar=cx.rt.calendar)
            was = list(c.provisional_targets)
            moved = c.recompute_targets(
                policy,
                add_working_days=cal.add_working_days,
                next_workday=cal.next_workday,
                depends_on_provisional=cal.depends_on_provisional,
                calendar_revision=revision,
                at=now,
                today=today,
            )
            if c.events:
                await cx.store.audit.record(
                    s,
                    staff_id="complaints",
                    role="system",
                    action="complaint.targets_recomputed",
                    target=c.complaint_id,
                    detail={
                        "moved": {k: v.isoformat() for k, v in moved.items()},
                        "provisional_before": was,
                        "provisional_now": c.provisional_targets,
                        "revision": revision,
                    },
                )
            cases.append(c)
        await save_many(cx, s, cases)
        return len(docs)

    done = await cx.rt.mongo.transaction(txn)
    cx.rt.outbox.notify()
    return done == CHUNK
