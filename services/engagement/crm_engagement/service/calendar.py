"""The working-day calendar in engagement: the days as channels show them, loading an official schedule, and the
job that counts the open tasks' working-day due dates again once the calendar changed.

The recompute job (leased: one replica at a time) takes the open tasks whose due date is provisional and was
counted under another calendar revision, a chunk per transaction; each task whose due date moved is audited and
publishes `task.rescheduled`. A task still on a provisional year just records the new revision."""

from __future__ import annotations

from typing import Any

from crm_contracts.engagement import CalendarChanged, TaskRescheduled
from crm_contracts.topics import ENGAGEMENT_TASKS
from crm_engagement.adapters.repositories import DueDateRecount, EngagementRepositories
from crm_engagement.domain.tasks import is_overdue
from crm_engagement.service.context import SOURCE, Engagement
from crm_kit.audit import AuditTrail
from crm_kit.calendar_sync import ServiceCalendar
from crm_kit.outbox import OutgoingMessage

CHUNK = 200


def service_calendar(service: Engagement, *, audit: AuditTrail) -> ServiceCalendar:
    """The kit's calendar service (loading a year, announcing changes; `audit`: the trail it writes to itself)."""
    return ServiceCalendar(
        service.rt,
        audit=audit,
        topic=service.rt.topic(ENGAGEMENT_TASKS),
        event_type=CalendarChanged,
        source=SOURCE,
        recompute=lambda revision: recompute(service, revision),
    )


async def recompute(service: Engagement, revision: str) -> bool:
    """One chunk of open tasks with a provisional due date counted under another revision. True while more remain."""
    cal = service.rt.calendar

    async def work(repos: EngagementRepositories) -> int:
        tasks = await repos.tasks.provisional_not_under(revision, CHUNK)
        now, today = service.now(), service.today()
        writes: list[DueDateRecount] = []
        messages: list[OutgoingMessage] = []
        for task in tasks:
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
                writes.append(DueDateRecount(task.task_id, {"calendar_revision": revision}, only_open=False))
                continue
            provisional = cal.depends_on_provisional(counted_from, due)
            fields: dict[str, Any] = {"calendar_revision": revision, "provisional": provisional}
            history: dict[str, Any] | None = None
            if due != task.due_on:
                # A task moved later may fall due (and be flagged overdue) again on its new date.
                fields.update(
                    {
                        "due_on": due.isoformat(),
                        "overdue": is_overdue(status="open", due_on=due, today=today) and task.overdue,
                    }
                )
                history = {
                    "at": now,
                    "action": "rescheduled",
                    "by": "engagement",
                    "from": task.due_on.isoformat(),
                    "to": due.isoformat(),
                    "reason": "calendar_changed",
                }
                await repos.audit.record(
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
                    service.event(
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
            writes.append(DueDateRecount(task.task_id, fields, history))
        if writes:
            await repos.tasks.recount(writes)
        await repos.outbox.add(messages)
        return len(tasks)

    done = await service.uow.run(work)
    service.published()
    return done == CHUNK
