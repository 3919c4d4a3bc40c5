"""The unit of work: a service's repositories, its outbox and its audit trail bound to one transaction.

The application layer never touches a collection: it asks a `UnitOfWork` to `run` a function of the service's
repositories, and everything that function saves, publishes (outbox) and audits commits together or not at all.
`reading()` gives the same repositories outside a transaction, for queries. A service declares its bundle of
repositories once (a dataclass in its `adapters/repositories.py`) and a `bind(session)` that builds it; unit tests
hand the application the `crm_kit.fakes.FakeUnitOfWork` instead, which keeps everything in memory.

Mongo retries a transaction whole on a transient error (a write conflict between replicas), so the function given to
`run` may be called more than once: it must rebuild its in-memory state from what it reads, as every caller does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_kit.audit import AuditTrail
from crm_kit.db import Mongo
from crm_kit.messaging import BatchHandler, Incoming, Rejection
from crm_kit.outbox import Outbox, OutgoingMessage, SubjectSequences

Repositories = TypeVar("Repositories")
Repositories_co = TypeVar("Repositories_co", covariant=True)
Result = TypeVar("Result")
Payload = TypeVar("Payload")
Policy_co = TypeVar("Policy_co", covariant=True)


class EventsOut(Protocol):
    """Where a unit of work's events go: the transactional outbox (or, in unit tests, a list)."""

    async def add(self, messages: Sequence[OutgoingMessage]) -> None: ...


class AuditOut(Protocol):
    """Where a unit of work's audit rows go: the service's audit trail, in the same transaction."""

    async def record(
        self, *, staff_id: str, role: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> None: ...

    async def read(self, *, target: str | None, staff_id: str | None, limit: int) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class TransactionOutbox:
    """The outbox, writing in one transaction; with `sequences`, each customer's events are numbered in it."""

    outbox: Outbox
    session: AsyncClientSession | None
    sequences: SubjectSequences | None = None

    async def add(self, messages: Sequence[OutgoingMessage]) -> None:
        if self.session is None:
            raise RuntimeError("events are published only from inside a unit of work's transaction")
        if not messages:
            return
        if self.sequences is not None:
            messages = await self.sequences.number(self.session, messages)
        await self.outbox.add(self.session, messages)


@dataclass(frozen=True)
class TransactionAudit:
    """The audit trail, writing in one transaction (or on its own when there is none)."""

    trail: AuditTrail
    session: AsyncClientSession | None

    async def record(
        self, *, staff_id: str, role: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> None:
        await self.trail.record(self.session, staff_id=staff_id, role=role, action=action, target=target, detail=detail)

    async def read(self, *, target: str | None, staff_id: str | None, limit: int) -> list[dict[str, Any]]:
        return await self.trail.read(target=target, staff_id=staff_id, limit=limit)


class PolicyOut(Protocol[Policy_co]):
    """The policy versions, as a repository (crm_kit.policies.PoliciesInTransaction)."""

    async def current(self) -> tuple[Policy_co, int]: ...

    async def version(self, number: int) -> Policy_co | None: ...


class UnitOfWork(Protocol[Repositories_co]):
    """What the application layer is given: run work in one transaction, or read."""

    async def run(self, work: Callable[[Repositories_co], Awaitable[Result]]) -> Result: ...

    def reading(self) -> Repositories_co: ...

    def consumer(
        self, apply: Callable[[Repositories_co, list[Incoming[Payload]]], Awaitable[list[Rejection]]]
    ) -> BatchHandler[Payload]: ...


class MongoUnitOfWork(Generic[Repositories]):
    """The unit of work on MongoDB: one snapshot transaction per `run` (fenced when a leased job runs it)."""

    def __init__(self, mongo: Mongo, bind: Callable[[AsyncClientSession | None], Repositories]) -> None:
        self.mongo = mongo
        self.bind = bind

    async def run(self, work: Callable[[Repositories], Awaitable[Result]]) -> Result:
        async def in_transaction(session: AsyncClientSession) -> Result:
            return await work(self.bind(session))

        return await self.mongo.transaction(in_transaction)

    def reading(self) -> Repositories:
        return self.bind(None)

    def consumer(
        self, apply: Callable[[Repositories, list[Incoming[Payload]]], Awaitable[list[Rejection]]]
    ) -> BatchHandler[Payload]:
        """A Kafka consumer's batch handler (crm_kit.messaging) that applies the batch through the repositories, in
        the transaction the kit's consumer opened (which also records the batch in the inbox)."""

        async def handle(session: AsyncClientSession, items: list[Incoming[Payload]]) -> list[Rejection]:
            return await apply(self.bind(session), items)

        return handle
