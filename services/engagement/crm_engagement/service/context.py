"""What engagement's application functions work with, and the unit of work that saves customers, their
tasks and the events they caused (outbox) in one transaction."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pymongo import DeleteOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.engagement import ContactBlocked
from crm_contracts.envelope import EventData
from crm_contracts.topics import ENGAGEMENT_TASKS
from crm_engagement.adapters.store import EngagementStore, customer_from_doc, customer_state, task_doc, task_from_doc
from crm_engagement.domain.customer import EngagedCustomer, task_created
from crm_engagement.domain.policy import EngagementPolicy
from crm_engagement.domain.tasks import Task, open_key
from crm_engagement.settings import EngagementSettings
from crm_kit.calendar import CalendarYearUnknown
from crm_kit.calendar_sync import ServiceCalendar
from crm_kit.clock import BANK_TZ
from crm_kit.jobs import LeasedJob
from crm_kit.logging import get_logger
from crm_kit.metrics import CALENDAR_UNKNOWN
from crm_kit.outbox import OutgoingMessage, outgoing_event
from crm_kit.policies import PolicyVersions
from crm_kit.runtime import Runtime
from crm_kit.work_lists import WorkLists

SOURCE = "crm/engagement"
log = get_logger(__name__)


@dataclass
class Engagement:
    rt: Runtime[EngagementSettings]
    store: EngagementStore
    policies: PolicyVersions[EngagementPolicy]
    scheduler_job: LeasedJob | None = None
    calendar: ServiceCalendar | None = None
    work_lists: WorkLists = field(default_factory=WorkLists)
    """The scheduler's ids to visit, read once per run (crm_kit.work_lists)."""

    def today(self) -> date:
        """The business date: pinned by CLOCK_DATE, else today in the bank's time zone."""
        return self.rt.clock.today()

    def now(self) -> datetime:
        return self.rt.clock.now()

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
        for t in tasks:
            counted_from = t.due_counted_from or t.due_planned_on
            if counted_from is not None:
                t.provisional = self.rt.calendar.depends_on_provisional(counted_from, t.due_on)
                t.calendar_revision = self.rt.calendar.revision

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
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    causes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def get_or_new(self, customer_id: str) -> EngagedCustomer:
        c = self.customers.get(customer_id)
        if c is None:
            c = self.customers[customer_id] = EngagedCustomer(customer_id=customer_id)
            self.open_tasks[customer_id] = []
        return c

    def tasks_of(self, customer_id: str) -> list[Task]:
        return self.open_tasks.setdefault(customer_id, [])


async def load(e: Engagement, session: AsyncClientSession, ids: Iterable[str], *, with_tasks: bool = True) -> Loaded:
    wanted = sorted(set(ids))
    loaded = Loaded()
    if not wanted:
        return loaded
    docs = await e.store.customers.find({"_id": {"$in": wanted}}, session=session, batch_size=len(wanted)).to_list()
    for d in docs:
        c = customer_from_doc(d)
        loaded.customers[c.customer_id] = c
        # A copy: the domain changes its dicts (cadence, consents) in place, and only what differs is written.
        loaded.states[c.customer_id] = copy.deepcopy(customer_state(c))
        loaded.open_tasks[c.customer_id] = []
    if with_tasks:
        async for d in e.store.tasks.find({"customer_id": {"$in": wanted}, "status": "open"}, session=session):
            loaded.open_tasks.setdefault(d["customer_id"], []).append(task_from_doc(d))
    return loaded


async def save(e: Engagement, session: AsyncClientSession, loaded: Loaded, *, only: set[str] | None = None) -> int:
    """Write the customers that changed, the tasks they planned (a task id already stored is left alone and makes
    no event), the changes to their open tasks and all their events. Returns the number of events."""
    customers = [c for cid, c in loaded.customers.items() if only is None or cid in only]
    new_tasks = [t for c in customers for t in c.new_tasks]
    e.mark_provisional(new_tasks)
    changes: list[UpdateOne] = []
    released: list[DeleteOne] = []
    for c in customers:
        stored = {t.task_id: t for t in loaded.tasks_of(c.customer_id)}
        for tid, fields in c.task_changes.items():
            fields = dict(fields)
            push = fields.pop("_push", None)
            update: dict[str, Any] = {"$set": fields} if fields else {}
            if push:
                update["$push"] = {"history": {"$each": push}}
            if update:
                changes.append(
                    UpdateOne({"_id": tid, "status": "open"} if "status" not in fields else {"_id": tid}, update)
                )
            key = open_key(stored[tid]) if tid in stored else None
            if fields.get("status", "open") != "open" and key is not None:
                released.append(DeleteOne({"_id": key, "task_id": tid}))
    if changes:
        await e.store.tasks.bulk_write(changes, ordered=True, session=session)
    # A task closed here gives up its occasion before new tasks claim theirs: a re-planned follow-up takes the key
    # of the one it replaces.
    if released:
        await e.store.open_keys.bulk_write(released, ordered=True, session=session)
    inserted = await _insert_tasks(e, session, loaded, new_tasks)
    # A task that could not be planned on any channel the customer allows is a blocked attempt: kept once (its id is
    # the task's), published once.
    blocked = [b for c in customers for b in c.events if isinstance(b, ContactBlocked)]
    fresh_attempts: set[str] = set()
    if blocked:
        result = await e.store.attempts.bulk_write(
            [
                UpdateOne(
                    {"_id": b.attempt_id},
                    {
                        "$setOnInsert": {
                            "customer_id": b.customer_id,
                            "channel": b.channel,
                            "purpose": b.purpose,
                            "rule": b.rule,
                            "detail": b.detail,
                            "staff_id": b.staff_id,
                            "at": b.at,
                            "context": b.context,
                            "task_id": b.task_id,
                            "branch": loaded.customers[b.customer_id].branch,
                        }
                    },
                    upsert=True,
                )
                for b in blocked
            ],
            ordered=True,
            session=session,
        )
        fresh_attempts = {blocked[i].attempt_id for i in result.upserted_ids or {}}
    writes: list[UpdateOne] = []
    messages: list[OutgoingMessage] = []
    for c in customers:
        state = customer_state(c)
        before = loaded.states.get(c.customer_id)
        changed = state if before is None else {k: v for k, v in state.items() if before.get(k) != v}
        if changed:
            writes.append(UpdateOne({"_id": c.customer_id}, {"$set": changed}, upsert=True))
        causation, correlation = loaded.causes.get(c.customer_id, (None, None))
        created = [task_created(t) for t in c.new_tasks if t.task_id in inserted]
        events = [ev for ev in c.events if not isinstance(ev, ContactBlocked) or ev.attempt_id in fresh_attempts]
        for data in [*events, *created]:
            messages.append(e.event(data, customer_id=c.customer_id, causationid=causation, correlationid=correlation))
        c.events.clear()
        c.task_changes.clear()
        c.new_tasks.clear()
    if writes:
        await e.store.customers.bulk_write(writes, ordered=False, session=session)
    await e.rt.outbox.add(session, messages)
    return len(messages)


async def _insert_tasks(e: Engagement, session: AsyncClientSession, loaded: Loaded, new_tasks: list[Task]) -> set[str]:
    """Store the planned tasks; returns the ids actually inserted. A task id already stored is left alone. A new task
    whose occasion already has an open task (`open_key`, the `_id` of `open_task_keys`) is taken out again in the
    same transaction: no second open task, no event, and the batch goes on. Two writers racing for one key conflict
    on that document, and the one retried finds the key taken."""
    if not new_tasks:
        return set()
    ops = [
        UpdateOne(
            {"_id": t.task_id}, {"$setOnInsert": {k: v for k, v in task_doc(t).items() if k != "_id"}}, upsert=True
        )
        for t in new_tasks
    ]
    result = await e.store.tasks.bulk_write(ops, ordered=True, session=session)
    inserted = {new_tasks[i].task_id for i in result.upserted_ids or {}}
    keyed = [(t, key) for t in new_tasks if t.task_id in inserted and (key := open_key(t)) is not None]
    if not keyed:
        return inserted
    result = await e.store.open_keys.bulk_write(
        [
            UpdateOne({"_id": key}, {"$setOnInsert": {"task_id": t.task_id, "customer_id": t.customer_id}}, upsert=True)
            for t, key in keyed
        ],
        ordered=True,
        session=session,
    )
    claimed = {keyed[i][0].task_id for i in result.upserted_ids or {}}
    refused = [(t, key) for t, key in keyed if t.task_id not in claimed]
    if refused:
        await e.store.tasks.delete_many({"_id": {"$in": [t.task_id for t, _ in refused]}}, session=session)
        holders = {
            d["_id"]: d["task_id"]
            for d in await e.store.open_keys.find(
                {"_id": {"$in": [key for _, key in refused]}}, session=session
            ).to_list()
        }
        for t, key in refused:
            inserted.discard(t.task_id)
            loaded.customers[t.customer_id].already_open(t, holders.get(key))
        log.info("task not planned: its occasion has an open task already", count=len(refused))
    return inserted
