"""What complaints' application functions work with: the runtime (settings, clock, calendar, cipher) and the unit of
work whose repositories (crm_complaints.adapters.repositories) own every query and save."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from crm_complaints.adapters.repositories import ComplaintsRepositories
from crm_complaints.settings import ComplaintsSettings
from crm_kit.calendar_sync import ServiceCalendar
from crm_kit.jobs import LeasedJob
from crm_kit.runtime import Runtime
from crm_kit.unit_of_work import UnitOfWork
from crm_kit.work_lists import WorkLists


@dataclass
class Complaints:
    rt: Runtime[ComplaintsSettings]
    uow: UnitOfWork[ComplaintsRepositories]
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

    def published(self) -> None:
        """A unit of work committed events: wake the outbox relay now rather than at its next poll."""
        self.rt.outbox.notify()
