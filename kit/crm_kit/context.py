"""What every service's application functions are given (`service`): the runtime (settings, clock, calendar,
cipher, broker) and the unit of work whose repositories own every query. Each service's `service/context.py`
extends it with what only it has (its leased jobs, its calendar job, its work lists)."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, Protocol, TypeVar

from crm_contracts.envelope import CloudEvent
from crm_kit.messaging import BatchHandler, Incoming, Rejection
from crm_kit.runtime import Runtime
from crm_kit.settings import ServiceSettings
from crm_kit.unit_of_work import UnitOfWork

Settings = TypeVar("Settings", bound=ServiceSettings)
Repositories = TypeVar("Repositories")
Context = TypeVar("Context", bound="ServiceContext[Any, Any]")
Context_contra = TypeVar("Context_contra", contravariant=True)
Repositories_contra = TypeVar("Repositories_contra", contravariant=True)
Messages = list[Incoming[CloudEvent[Any] | None]]


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


class ApplyBatch(Protocol[Context_contra, Repositories_contra]):
    """A consumer's application function: one batch of another service's events, through the repositories."""

    def __call__(
        self, *, service: Context_contra, repos: Repositories_contra, items: Messages
    ) -> Awaitable[list[Rejection]]: ...


def consumer(service: Context, apply: ApplyBatch[Context, Any]) -> BatchHandler[CloudEvent[Any] | None]:
    """The kit consumer's batch handler for `apply`: the batch's repositories are bound to the consumer's transaction
    (which also records the batch in the inbox), so a batch is applied whole or not at all."""

    async def handle(repos: Any, items: Messages) -> list[Rejection]:
        return await apply(service=service, repos=repos, items=items)

    return service.uow.consumer(handle)
