"""What engagement's application functions work with (`Engagement`, whose unit of work runs them in one
transaction), and `load`/`save`: customers read with their open tasks, then written back with the tasks they
planned and the events they caused (outbox), through the repositories of one unit of work."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from crm_contracts.engagement import ContactBlocked
from crm_contracts.envelope import EventData
from crm_contracts.topics import ENGAGEMENT_TASKS
from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.domain.customer import EngagedCustomer, task_created
from crm_engagement.domain.tasks import Task, open_key
from crm_engagement.settings import EngagementSettings
from crm_kit.calendar import CalendarYearUnknown
from crm_kit.calendar_sync import ServiceCalendar
from crm_kit.clock import BANK_TZ
from crm_kit.context import ServiceContext
from crm_kit.event_handlers import Message
from crm_kit.jobs import LeasedJob
from crm_kit.logging import get_logger
from crm_kit.metrics import CALENDAR_UNKNOWN
from crm_kit.outbox import OutgoingMessage, outgoing_event
from crm_kit.work_lists import WorkLists

SOURCE = "crm/engagement"
log = get_logger(__name__)


@dataclass
class Engagement(ServiceContext[EngagementSettings, EngagementRepositories]):
    """The kit's service context (runtime, business date, the unit of work) and engagement's own jobs."""

    scheduler_job: LeasedJob | None = None
    calendar: ServiceCalendar | None = None
    work_lists: WorkLists = field(default_factory=WorkLists)
    """The scheduler's ids to visit, read once per run (crm_kit.work_lists)."""

    def after_public_holiday(self, day: date) -> date:
        """`day`, or the next working day when it is a public holiday (a follow-up due on 国庆 is due after it)."""
        return self.due_in_working_days(day, 0) if self.is_public_holiday(day) else day

    def event(
        self, data: EventData, *, customer_id: str, causationid: str | None = None, correlationid: str | None = None
    ) -> OutgoingMessage:
        return outgoing_event(
            self.rt.topic(ENGAGEMENT_TASKS),
            data,
            source=SOURCE,
            customer_id=customer_id,
            causationid=causationid,
            correlationid=correlationid,
        )

    def trigger_day(self, happened: date | datetime) -> date:
        """The day a trigger's deadline counts from: when the event happened, not when it was processed (a backlog
        or a replay from the dead letters must not push the deadline out); never after the business date."""
        day = happened.astimezone(BANK_TZ).date() if isinstance(happened, datetime) else happened
        return min(day, self.today())

    def mark_provisional(self, tasks: Iterable[Task]) -> None:
        """Flag the tasks whose working-day due date rests on provisional calendar days (a year no official
        schedule covers yet), with the calendar revision they were counted under."""
        for task in tasks:
            counted_from = task.due_counted_from or task.due_planned_on
            if counted_from is not None:
                task.provisional = self.rt.calendar.depends_on_provisional(counted_from, task.due_on)
                task.calendar_revision = self.rt.calendar.revision

    def due_in_working_days(self, start: date, days: int) -> date:
        """`days` working days after `start` (Chinese public holidays and 调休). A year no official schedule covers
        is counted on the provisional calendar (statutory holidays; the task is flagged, see mark_provisional).
        Only beyond the calendar's reach (after 2099) the due date counts calendar days — never later than the
        working-day date would be — and the gap is logged and counted."""
        try:
            return self.rt.calendar.add_working_days(start, days) if days else self.rt.calendar.next_workday(start)
        except CalendarYearUnknown as exc:
            CALENDAR_UNKNOWN.labels(self.rt.settings.service_name).inc()
            log.error("working-day calendar does not know the year; due date counted in calendar days", error=str(exc))
            return start + timedelta(days=days)

    def is_public_holiday(self, day: date) -> bool:
        try:
            return self.rt.calendar.is_public_holiday(day)
        except CalendarYearUnknown as exc:
            CALENDAR_UNKNOWN.labels(self.rt.settings.service_name).inc()
            log.error("working-day calendar does not know the year; public-holiday rule not applied", error=str(exc))
            return False


@dataclass
class Loaded:
    """Customers read in a transaction with their open tasks, so changes can be written in bulk."""

    customers: dict[str, EngagedCustomer] = field(default_factory=dict)
    open_tasks: dict[str, list[Task]] = field(default_factory=dict)
    causes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def get_or_new(self, customer_id: str) -> EngagedCustomer:
        customer = self.customers.get(customer_id)
        if customer is None:
            customer = self.customers[customer_id] = EngagedCustomer(customer_id=customer_id)
            self.open_tasks[customer_id] = []
        return customer

    def tasks_of(self, customer_id: str) -> list[Task]:
        return self.open_tasks.setdefault(customer_id, [])


async def load(repos: EngagementRepositories, ids: Iterable[str], *, with_tasks: bool = True) -> Loaded:
    wanted = sorted(set(ids))
    loaded = Loaded()
    if not wanted:
        return loaded
    for customer in await repos.customers.load_many(wanted):
        loaded.customers[customer.customer_id] = customer
        loaded.open_tasks[customer.customer_id] = []
    if with_tasks:
        for task in await repos.tasks.open_of(wanted):
            loaded.open_tasks.setdefault(task.customer_id, []).append(task)
    return loaded


async def save(
    service: Engagement, repos: EngagementRepositories, loaded: Loaded, *, only: set[str] | None = None
) -> int:
    """Write the customers that changed, the tasks they planned (a task id already stored is left alone and makes
    no event), the changes to their open tasks and all their events. Returns the number of events."""
    customers = [customer for cid, customer in loaded.customers.items() if only is None or cid in only]
    new_tasks = [task for customer in customers for task in customer.new_tasks]
    service.mark_provisional(new_tasks)
    changes: list[tuple[str, dict[str, Any]]] = []
    released: list[tuple[str, str]] = []
    for customer in customers:
        stored = {task.task_id: task for task in loaded.tasks_of(customer.customer_id)}
        for tid, fields in customer.task_changes.items():
            changes.append((tid, fields))
            key = open_key(stored[tid]) if tid in stored else None
            if fields.get("status", "open") != "open" and key is not None:
                released.append((key, tid))
    if changes:
        await repos.tasks.apply_changes(changes)
    # A task closed here gives up its occasion before new tasks claim theirs: a re-planned follow-up takes the key
    # of the one it replaces.
    if released:
        await repos.tasks.release_occasions(released)
    inserted = await _insert_tasks(repos, loaded, new_tasks)
    # A task that could not be planned on any channel the customer allows is a blocked attempt: kept once (its id is
    # the task's), published once.
    blocked = [event for customer in customers for event in customer.events if isinstance(event, ContactBlocked)]
    fresh_attempts: set[str] = set()
    if blocked:
        fresh_attempts = await repos.attempts.keep_blocked(
            [(attempt, loaded.customers[attempt.customer_id].branch) for attempt in blocked]
        )
    messages: list[OutgoingMessage] = []
    for customer in customers:
        causation, correlation = loaded.causes.get(customer.customer_id, (None, None))
        created = [task_created(task) for task in customer.new_tasks if task.task_id in inserted]
        events = [
            event
            for event in customer.events
            if not isinstance(event, ContactBlocked) or event.attempt_id in fresh_attempts
        ]
        for data in [*events, *created]:
            messages.append(
                service.event(data, customer_id=customer.customer_id, causationid=causation, correlationid=correlation)
            )
    await repos.customers.save_many(customers)
    for customer in customers:
        customer.events.clear()
        customer.task_changes.clear()
        customer.new_tasks.clear()
    await repos.outbox.add(messages)
    return len(messages)


async def _insert_tasks(repos: EngagementRepositories, loaded: Loaded, new_tasks: list[Task]) -> set[str]:
    """Store the planned tasks; returns the ids actually inserted. A task id already stored is left alone. A new task
    whose occasion already has an open task (`open_key`, the `_id` of `open_task_keys`) is taken out again in the
    same transaction: no second open task, no event, and the batch goes on. Two writers racing for one key conflict
    on that document, and the one retried finds the key taken."""
    if not new_tasks:
        return set()
    inserted = await repos.tasks.insert_new(new_tasks)
    keyed = [(task, key) for task in new_tasks if task.task_id in inserted and (key := open_key(task)) is not None]
    if not keyed:
        return inserted
    claimed = await repos.tasks.claim_occasions(keyed)
    refused = [(task, key) for task, key in keyed if task.task_id not in claimed]
    if refused:
        await repos.tasks.remove([task.task_id for task, _ in refused])
        holders = await repos.tasks.occasion_holders([key for _, key in refused])
        for task, key in refused:
            inserted.discard(task.task_id)
            loaded.customers[task.customer_id].already_open(task, holders.get(key))
        log.info("task not planned: its occasion has an open task already", count=len(refused))
    return inserted


@dataclass
class CustomerEvents:
    """What a consumer's functions share for one batch of another service's events: the service, the customers the
    batch is about (loaded with their open tasks; each remembers the event that last changed it)."""

    service: Engagement
    loaded: Loaded

    def customer(self, item: Message) -> EngagedCustomer:
        """The customer the event is about (its subject)."""
        assert item.payload is not None  # the kit hands a handler parsed events only
        return self.loaded.get_or_new(item.payload.subject)

    def caused(self, item: Message, customer_id: str) -> None:
        self.loaded.causes[customer_id] = (item.message_id, item.correlation_id)
