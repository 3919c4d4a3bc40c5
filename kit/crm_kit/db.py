"""MongoDB through PyMongo's async API. Money is Decimal in Python and Decimal128 in the database.

A transaction run while a leased job's step runs (`fenced_by`, set by crm_kit.jobs.LeasedJob) is fenced: the
lease is checked at the server inside the same transaction, before it commits (see crm_kit.jobs)."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import pymongo
from bson.codec_options import CodecOptions, TypeCodec, TypeRegistry
from bson.decimal128 import Decimal128
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from crm_kit.logging import get_logger
from crm_kit.metrics import DB_COMMANDS, UNFENCED_WRITES

T = TypeVar("T")
log = get_logger(__name__)
_WRITES = frozenset({"insert", "update", "delete", "findAndModify"})


class Fence(Protocol):
    """What a fenced transaction checks: a lease (crm_kit.jobs.Lease)."""

    async def fence(self, session: AsyncClientSession) -> None: ...

    def stamp(self) -> dict[str, Any]: ...


_FENCE: contextvars.ContextVar[Fence | None] = contextvars.ContextVar("crm_lease_fence", default=None)


@contextlib.contextmanager
def fenced_by(lease: Fence) -> Iterator[None]:
    """Fence every `Mongo.transaction` run inside this block (and the tasks it starts) by `lease`."""
    token = _FENCE.set(lease)
    try:
        yield
    finally:
        _FENCE.reset(token)


def current_fence() -> Fence | None:
    return _FENCE.get()


class _RoundTrips(monitoring.CommandListener):
    """Counts commands sent (round trips); the server's answer does not add one."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        DB_COMMANDS.labels(event.command_name).inc()
        fence = current_fence()
        if event.command_name in _WRITES and event.command.get("autocommit") is not False and fence is not None:
            # A leased job's write outside a (fenced) transaction: a stale holder's would go through. A bug to fix.
            UNFENCED_WRITES.labels(event.command_name).inc()
            log.error(
                "leased job wrote outside a fenced transaction",
                command=event.command_name,
                collection=event.command.get(event.command_name),
                lease=fence.stamp(),
            )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class _DecimalCodec(TypeCodec):
    python_type = Decimal
    bson_type = Decimal128

    def transform_python(self, value: Decimal) -> Decimal128:
        return Decimal128(value)

    def transform_bson(self, value: Decimal128) -> Decimal:
        return value.to_decimal()


CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, type_registry=TypeRegistry([_DecimalCodec()]))


def database_unavailable(exc: BaseException) -> bool:
    """The database did not answer, or not in time: nothing is wrong with the request or the message, so
    an HTTP caller is told to retry later (503) and a consumer has its poll redelivered."""
    return isinstance(exc, ConnectionFailure) or (isinstance(exc, PyMongoError) and exc.timeout)


class Mongo:
    """One client per process; `transaction` runs a callback in a retried multi-document transaction.

    Every call is bounded: finding the server (`server_selection_timeout_ms`), opening a connection
    (`connect_timeout_ms`) and each round trip (`socket_timeout_ms`, long enough for big transactions and
    imports). HTTP requests set a much shorter deadline for all their calls with `pymongo.timeout()`."""

    def __init__(
        self,
        uri: str,
        database: str,
        *,
        server_selection_timeout_ms: int = 3000,
        connect_timeout_ms: int = 3000,
        socket_timeout_ms: int = 30_000,
    ) -> None:
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri,
            tz_aware=True,
            uuidRepresentation="standard",
            serverSelectionTimeoutMS=server_selection_timeout_ms,
            connectTimeoutMS=connect_timeout_ms,
            socketTimeoutMS=socket_timeout_ms,
            event_listeners=[_RoundTrips()],
        )
        self.db: AsyncDatabase[dict[str, Any]] = self.client.get_database(database, codec_options=CODEC_OPTIONS)

    async def transaction(self, fn: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        lease = current_fence()
        if lease is not None:
            inner = fn

            async def fenced(session: AsyncClientSession) -> T:
                result = await inner(session)
                # Last, so the lease document is held for the commit only: a takeover that committed since this
                # transaction's snapshot makes the check fail (or conflict, and the retry fail), and one after waits.
                await lease.fence(session)
                return result

            fn = fenced
        async with self.client.start_session() as session:
            return await session.with_transaction(
                fn, read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
            )

    async def ping(self, *, timeout: float = 2.0) -> bool:
        try:
            with pymongo.timeout(timeout):
                await self.client.admin.command("ping")
            return True
        except Exception:  # noqa: BLE001 - a health probe: any failure means not reachable
            return False

    async def close(self) -> None:
        await self.client.close()
