"""The working-day calendar kept current on every replica, without a restart.

Official schedules loaded at run time (`PUT /v1/calendar/years/{year}`, from `crm calendar load FILE`) are stored
in the service's own `calendar_years` collection; each replica re-reads it, and the override file when it changed
on disk, every CALENDAR_REFRESH_SECONDS (and at once on the replica that took the change). A change wakes the
service's recompute job (`on_change`). The metrics say how far ahead the official data reaches.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_kit import statutory_holidays as statute
from crm_kit.audit import AuditTrail
from crm_kit.calendar import (
    ScheduleInvalid,
    WorkingCalendar,
    YearSchedule,
    parse_schedules,
    parse_year,
    statute_problems,
)
from crm_kit.clock import BusinessClock
from crm_kit.db import Mongo
from crm_kit.errors import Invalid
from crm_kit.logging import get_logger
from crm_kit.metrics import CALENDAR_OFFICIAL_DAYS_AHEAD, CALENDAR_OFFICIAL_LAST_YEAR
from crm_kit.outbox import outgoing_event

log = get_logger(__name__)

MAX_DAYS_LISTED = 400


class CalendarSync:
    def __init__(
        self, mongo: Mongo, calendar: WorkingCalendar, *, clock: BusinessClock, service: str, interval: float
    ) -> None:
        self.collection = mongo.db["calendar_years"]
        self.calendar, self.clock, self.service, self.interval = calendar, clock, service, interval
        self.on_change: list[Callable[[], Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def stored(self) -> dict[int, YearSchedule]:
        years: dict[int, YearSchedule] = {}
        async for doc in self.collection.find({}):
            try:
                schedule = parse_year(str(doc["_id"]), doc["schedule"], source="official")
            except (ScheduleInvalid, KeyError) as exc:  # written by this code only; never stop the calendar for it
                log.error("stored calendar year unreadable; skipped", year=doc.get("_id"), error=str(exc))
                continue
            years[schedule.year] = YearSchedule(
                schedule.year, schedule.holidays, schedule.workdays, "official", meta=doc.get("meta") or {}
            )
        return years

    async def refresh(self) -> bool:
        """Apply what the database and the override file say now. True when the calendar changed."""
        changed = self.calendar.set_official(await self.stored())
        try:
            changed = self.calendar.reload_override_if_changed() or changed
        except ValueError as exc:
            log.error("calendar override file refused; the years read before stay in force", error=str(exc))
        self.update_metrics()
        if changed:
            log.info("working-day calendar changed", revision=self.calendar.revision)
            for callback in self.on_change:
                callback()
        return changed

    def update_metrics(self) -> None:
        today = self.clock.today()
        last = self.calendar.official_through(today)
        CALENDAR_OFFICIAL_LAST_YEAR.labels(self.service).set(last)
        CALENDAR_OFFICIAL_DAYS_AHEAD.labels(self.service).set((dt.date(last, 12, 31) - today).days)

    async def save(
        self, session: AsyncClientSession, schedule: YearSchedule, *, by: str, role: str, at: dt.datetime
    ) -> dict[str, Any] | None:
        """Store a year's official schedule (replacing an earlier one); returns the earlier document, if any."""
        doc = {
            "schedule": schedule.to_json(),
            "meta": dict(schedule.meta),
            "loaded_by": by,
            "role": role,
            "loaded_at": at,
        }
        return await self.collection.find_one_and_replace({"_id": schedule.year}, doc, upsert=True, session=session)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self.service}:calendar-refresh")

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
            if self._stopping.is_set():
                break
            try:
                await self.refresh()
            except Exception:  # the database may be away for a moment; the calendar in force stays
                log.exception("calendar refresh failed")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task:
            with contextlib.suppress(Exception):
                await self._task


class RecomputeGate:
    """When a recompute job needs to look for dates counted under another calendar revision: after the revision
    changed, and otherwise only now and then (every `every` seconds) — for a case or task taken in by a replica that
    had not seen the change yet — instead of a query on every pass."""

    def __init__(self, *, every: float) -> None:
        self.every = every
        self._clean: tuple[str, float] | None = None

    def due(self, revision: str) -> bool:
        return self._clean is None or self._clean[0] != revision or time.monotonic() - self._clean[1] > self.every

    def done(self, revision: str) -> None:
        self._clean = (revision, time.monotonic())


def days_view(calendar: WorkingCalendar, *, start: dt.date, end: dt.date, today: dt.date) -> dict[str, Any]:
    """Each day from `start` to `end` (inclusive, at most MAX_DAYS_LISTED): working or rest, why, and its source."""
    if end < start:
        raise Invalid("to: is before from", field="to")
    if (end - start).days >= MAX_DAYS_LISTED:
        raise Invalid(f"to: at most {MAX_DAYS_LISTED} days from `from`", field="to")
    for name, day in (("from", start), ("to", end)):
        if not statute.FIRST_YEAR <= day.year <= statute.LAST_YEAR:
            raise Invalid(f"{name}: the calendar covers {statute.FIRST_YEAR}-{statute.LAST_YEAR}", field=name)
    days = [calendar.day(start + dt.timedelta(days=offset)) for offset in range((end - start).days + 1)]
    return {
        "from": start,
        "to": end,
        "working_days": sum(day["working"] for day in days),
        "provisional": any(day["provisional"] for day in days),
        "official_through": calendar.official_through(today),
        "revision": calendar.revision,
        "days": days,
    }


async def load_official_year(
    rt: Any,
    *,
    year: int,
    body: Any,
    by: str,
    role: str,
    audit: AuditTrail,
    topic: str,
    event_type: type[Any],
    source: str,
) -> dict[str, Any]:
    """`PUT /v1/calendar/years/{year}`: validate the schedule (the notice's shape, or the override file's for one
    year) against the shape and the statute, store it, audit it and publish `calendar.changed` in one transaction;
    then apply it on this replica at once (the others within CALENDAR_REFRESH_SECONDS). 422 naming the field."""
    try:
        schedules = parse_schedules(body)
    except ScheduleInvalid as exc:
        raise Invalid(f"{exc.field}: {exc.problem}", field=exc.field) from exc
    if set(schedules) != {year}:
        raise Invalid(f"year: the path says {year}, the schedule describes {sorted(schedules)}", field="year")
    schedule = schedules[year]
    problems = statute_problems(schedule)
    if problems:
        raise Invalid(
            "holidays: not what the statute (全国年节及纪念日放假办法) requires: " + "; ".join(problems),
            field="holidays",
            problems=problems,
        )
    calendar: WorkingCalendar = rt.calendar
    was = calendar.schedule(year).source
    at = rt.clock.now()
    revision = calendar.revision_with(schedule)

    async def txn(session: AsyncClientSession) -> dict[str, Any] | None:
        previous: dict[str, Any] | None = await rt.calendar_sync.save(session, schedule, by=by, role=role, at=at)
        change = "replaced" if previous else "loaded"
        await audit.record(
            session,
            staff_id=by,
            role=role,
            action=f"calendar.{change}",
            target=f"calendar-{year}",
            detail={
                "was": was,
                "revision": revision,
                "notice": schedule.meta.get("notice"),
                "rest_days": len(schedule.holidays),
                "make_up_workdays": len(schedule.workdays),
            },
        )
        event = event_type(
            year=year,
            change=change,
            was=was,
            rest_days=sorted(schedule.holidays),
            make_up_workdays=sorted(schedule.workdays),
            notice=schedule.meta.get("notice"),
            by=by,
            at=at,
            calendar_revision=revision,
        )
        await rt.outbox.add(session, [outgoing_event(topic, event, source=source, customer_id=f"calendar-{year}")])
        return previous

    previous = await rt.mongo.transaction(txn)
    rt.outbox.notify()
    await rt.calendar_sync.refresh()
    return {
        "year": year,
        "change": "replaced" if previous else "loaded",
        "was": was,
        "source": "official",
        "rest_days": len(schedule.holidays),
        "make_up_workdays": len(schedule.workdays),
        "revision": calendar.revision,
        "official_through": calendar.official_through(rt.clock.today()),
    }


async def announce_override_changes(
    rt: Any, *, audit: AuditTrail, topic: str, event_type: type[Any], source: str
) -> int:
    """The override file's years as this service last announced them, against what the file says now: each year
    added, changed or removed is audited (`calendar.override_loaded` / `_replaced` / `_removed`, by
    `override-file`) and published (`calendar.changed`, source `override`) once, by the replica that holds the
    recompute job's lease. Returns how many years changed."""
    calendar: WorkingCalendar = rt.calendar
    now_years = {str(year): schedule.to_json() for year, schedule in calendar.override_years.items()}
    state = rt.calendar_sync.collection.database["calendar_state"]
    before = (await state.find_one({"_id": "override"}) or {}).get("years", {})
    changed = sorted(set(now_years) | set(before), key=int)
    changed = [year for year in changed if now_years.get(year) != before.get(year)]
    if not changed:
        return 0
    at, revision = rt.clock.now(), calendar.revision

    async def txn(session: AsyncClientSession) -> None:
        messages = []
        for key in changed:
            year = int(key)
            change = "removed" if key not in now_years else "replaced" if key in before else "loaded"
            spec = now_years.get(key, {"holidays": {}, "workdays": []})
            was = "override" if key in before else ("official" if calendar.official(year) else "provisional")
            await audit.record(
                session,
                staff_id="override-file",
                role="system",
                action=f"calendar.override_{change}",
                target=f"calendar-{year}",
                detail={"file": str(calendar.override_file), "revision": revision, "was": was},
            )
            event = event_type(
                year=year,
                source="override",
                change=change,
                was=was,
                rest_days=sorted(dt.date.fromisoformat(day) for day in spec["holidays"]),
                make_up_workdays=sorted(dt.date.fromisoformat(day) for day in spec["workdays"]),
                by="override-file",
                at=at,
                calendar_revision=revision,
            )
            messages.append(outgoing_event(topic, event, source=source, customer_id=f"calendar-{year}"))
        await rt.outbox.add(session, messages)
        await state.replace_one({"_id": "override"}, {"years": now_years, "at": at}, upsert=True, session=session)

    await rt.mongo.transaction(txn)
    rt.outbox.notify()
    return len(changed)


class ServiceCalendar:
    """The calendar as a service that counts working days (complaints, engagement) offers it: the days for channels,
    loading an official year, and the job that recomputes what rested on provisional days once the calendar changed.
    The service gives its audit collection, its topic and its `calendar.changed` event type, and the recompute
    itself (`recompute(revision)`: one chunk, True while more remain)."""

    JOB = "calendar-recompute"
    GATE_EVERY_REFRESHES = 10

    def __init__(
        self,
        rt: Any,
        *,
        audit: AuditTrail,
        topic: str,
        event_type: type[Any],
        source: str,
        recompute: Callable[[str], Any],
    ) -> None:
        self.rt, self.audit, self.topic = rt, audit, topic
        self.event_type, self.source, self._recompute = event_type, source, recompute
        self.gate = RecomputeGate(every=rt.settings.calendar_refresh_seconds * self.GATE_EVERY_REFRESHES)
        self.job = rt.job(self.JOB, self.recompute_step, interval=rt.settings.calendar_refresh_seconds)
        rt.calendar_sync.on_change.append(self.job.wake)

    def days(self, *, start: dt.date, end: dt.date) -> dict[str, Any]:
        return days_view(self.rt.calendar, start=start, end=end, today=self.rt.clock.today())

    async def load_year(self, *, principal: Any, year: int, body: Any) -> dict[str, Any]:
        result = await load_official_year(
            self.rt,
            year=year,
            body=body,
            by=principal.staff_id,
            role=principal.role.value,
            audit=self.audit,
            topic=self.topic,
            event_type=self.event_type,
            source=self.source,
        )
        self.job.wake()
        return result

    async def recompute_step(self) -> bool:
        """One pass of the leased job; True while more remain."""
        await self.rt.calendar_sync.refresh()  # this replica may hold the lease without having seen the change yet
        revision = self.rt.calendar.revision
        if not self.gate.due(revision):
            return False
        await announce_override_changes(
            self.rt,
            audit=self.audit,
            topic=self.topic,
            event_type=self.event_type,
            source=self.source,
        )
        more = bool(await self._recompute(revision))
        if not more:
            self.gate.done(revision)
        return more
