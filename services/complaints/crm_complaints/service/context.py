"""What complaints' application functions work with: the kit's service context (runtime, clock, the unit of work
whose repositories own every query and save: crm_complaints.adapters.repositories) and complaints' own jobs."""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_complaints.adapters.repositories import ComplaintsRepositories
from crm_complaints.settings import ComplaintsSettings
from crm_kit.calendar_sync import ServiceCalendar
from crm_kit.context import ServiceContext
from crm_kit.jobs import LeasedJob
from crm_kit.work_lists import WorkLists


@dataclass
class Complaints(ServiceContext[ComplaintsSettings, ComplaintsRepositories]):
    scheduler_job: LeasedJob | None = None
    unverified_job: LeasedJob | None = None
    calendar: ServiceCalendar | None = None
    work_lists: WorkLists = field(default_factory=WorkLists)
    """The deadline clock's cases to visit in a pass, read once per pass (crm_kit.work_lists)."""
