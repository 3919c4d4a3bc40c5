"""The working-day calendar in engagement: the days as channels show them, loading an official schedule, and the
job that counts the open tasks' working-day due dates again once the calendar changed.

The recompute job (leased: one replica at a time) takes the open tasks whose due date is provisional and was
counted under another calendar revision, a chunk per transaction; each task whose due date moved is audited and
publishes `task.rescheduled`. A task still on a provisional year just records the new revision."""

from __future__ import annotations

from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.engagement import CalendarChanged, TaskRescheduled
from crm_contracts.topics import ENGAGEMENT_TASKS
from crm_engagement.adapters.store import task_from_doc
from crm_engagement.domain.tasks import is_overdue
from crm_engagement.service.context import SOURCE, Engagement
from crm_kit.calendar_sync import ServiceCalendar

CHUNK = 200


def service_calendar(e: Engagement) -> ServiceCalendar:
    return ServiceCalendar(
        e.rt,
        audit=e.store.audit,
        topic=e.rt.topic(ENGAGEMENT_TASKS),
        event_type=CalendarChanged,
        source=SOURCE,
        recompute=lambda revision: recompute(e, revision),
    )


async def recompute(e: Engagement, revision: str) -> bool:
    """One chunk of open tasks with a provisional due date counted under another revision. True while more remain."""
    cal = e.rt.calendar

    async def txn(s: AsyncClientSession) -> int:
        docs = (
            await e.store.tasks.find(
                {"status": "open", "provisional": True, "calendar_revision": {"$ne": revision}}, session=s
            )
            .sort("_id", 1)
            .limit(CHUNK)
            .to_list()
        )
        now, today = e.now(), e.today()
        writes, messages = [], []
        for doc in docs:
            task = task_from_doc(doc)
            if task.due_counted_from is not None and task.due_working_days is not None:
                counted_from = task.due_counted_from
                due = (
                    cal.add_working_days(counted_from, task.due_working_days)
                    if task.due_working_days
                    else cal.next_workday(counted_from)
                )
            elif task.due_planned_on is not None:  # a follow-up moved off a public holiday
                counted_from = task.due_planned_on
                due = cal.next_workday(counted_from) if cal.is_public_holiday(counted_from) else counted_from
            else:
                writes.append(UpdateOne({"_id": task.task_id}, {"$set": {"calendar_revision": revision}}))
                continue
            provisional = cal.depends_on_provisional(counted_from, due)
            update: dict[str, Any] = {"$set": {"calendar_revision": revision, "provisional": provisional}}
            if due != task.due_on:
                # A task moved later may fall due (and be flagged overdue) again on its new date.
                update["$set"].update(
                    {
                        "due_on": due.isoformat(),
                        "overdue": is_overdue(status="open", due_on=due, today=today) and task.overdue,
                    }
                )
                update["$push"] = {
                    "history": {
                        "at": now,
                        "action": "rescheduled",
                        "by": "engagement",
                        "from": task.due_on.isoformat(),
                        "to": due.isoformat(),
                        "reason": "calendar_changed",
                    }
                }
                await e.store.audit.record(
                    s,
                    staff_id="engagement",
                    role="system",
                    action="task.rescheduled",
                    target=task.task_id,
                    detail={
                        "from": task.due_on.isoformat(),
                        "to": due.isoformat(),
                        "provisional": provisional,
                        "revision": revision,
                    },
                )
                messages.append(
                    e.event(
                        TaskRescheduled(
                            task_id=task.task_id,
                            customer_id=task.customer_id,
                            kind=task.kind,
                            assignee=task.assignee,
                            from_due_on=task.due_on,
                            to_due_on=due,
                            provisional=provisional,
                            calendar_revision=revision,
                            at=now,
                        ),
                        customer_id=task.customer_id,
                    )
                )
            writes.append(UpdateOne({"_id": task.task_id, "status": "open"}, update))
        if writes:
            await e.store.tasks.bulk_write(writes, ordered=False, session=s)
        await e.rt.outbox.add(s, messages)
        return len(docs)

    done = await e.rt.mongo.transaction(txn)
    e.rt.outbox.notify()
    return done == CHUNK
