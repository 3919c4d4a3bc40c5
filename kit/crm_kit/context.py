"""What every service's application functions are given (`service`): the runtime (settings, clock, calendar,
cipher, broker) and the unit of work whose repositories own every query. Each service's `service/context.py`
extends it with what only it has (its leased jobs, its calendar job, its work lists)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Generic, TypeVar

from crm_kit.runtime import Runtime
from crm_kit.settings import ServiceSettings
from crm_kit.unit_of_work import UnitOfWork

Settings = TypeVar("Settings", bound=ServiceSettings)
Repositories = TypeVar("Repositories")


@dataclass
class ServiceContext(Generic[Settings, Repositories]):
    rt: Runtime[Settings]
    uow: UnitOfWork[Repositories]

    def today(self) -> date:
        """The business date: pinned by CLOCK_DATE, else today in the bank's time zone."""
        return self.rt.clock.today()

    def now(self) -> datetime:
        return self.rt.clock.now()

    def published(self) -> None:
        """A unit of work committed events: wake the outbox relay now rather than at its next poll."""
        self.rt.outbox.notify()
