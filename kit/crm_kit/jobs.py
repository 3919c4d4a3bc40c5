"""Background jobs shared by replicas: a lease in the database lets one replica run a job at a time
(the outbox relay, a policy rollout, a daily sweep); another takes over when the lease runs out.

Fencing. A holder can stop for longer than its lease (a GC pause, SIGSTOP, a VM migrated) and carry on as if it
still held it. So:

- The lease document (`leases`, one per job) carries an `epoch` (fencing token) that goes up by one each time the
  lease changes hands, and an `until` the database computes from its own clock (`$$NOW`): replicas' clocks are
  never compared. The holder keeps the time left as the server answered it against its local *monotonic* clock,
  which keeps running while the process is stopped, so a resumed holder sees at once that its time is up.
- While a `LeasedJob`'s step runs, every `Mongo.transaction` is fenced (crm_kit.db): before it commits it writes
  the lease document, matching this owner and epoch and an `until` still ahead of the server's clock. A takeover
  that committed first makes that write match nothing (or conflict, and the retried transaction then matches
  nothing): the transaction aborts with `LeaseLost`, writing nothing. A takeover that comes later finds the
  committed write, so a new holder always sees everything the old one wrote.
- What a fenced transaction adds to the outbox carries the lease's name, owner and epoch (`lease` on the outbox
  document): an audit can tell which holder wrote it. A write a step makes outside a transaction is not fenced:
  it is logged as an error and counted (crm_kit.db, `crm_unfenced_writes_total`).
- The outbox relay holds a lease too (crm_kit.outbox.OutboxRelay): it sends only before its lease deadline on the
  monotonic clock and marks rows sent through a fenced transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError, OperationFailure

from crm_kit.db import Mongo, fenced_by
from crm_kit.logging import get_logger

log = get_logger(__name__)

LEASE_SECONDS = 15.0
WRITE_CONFLICT = 112
EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)


class LeaseLost(Exception):
    """This holder no longer holds the lease (another replica took it, or it ran out by the database's clock):
    it must write and publish nothing more until it takes the lease again. Never retried as transient."""


def _server_ms(expr: Any) -> dict[str, Any]:
    # Dates are compared as milliseconds: SecantusDB does not order a stored date against $$NOW (MongoDB does).
    return {"$toLong": expr}


def _take_pipeline(owner: str, seconds: float) -> list[dict[str, Any]]:
    """Take the lease if it is free, run out by the server's clock or already ours; the epoch goes up only when it
    changes hands. `renewed_at` is the server's time of this answer: `until - renewed_at` is the time left."""
    free = {
        "$or": [
            {"$eq": [{"$type": "$owner"}, "missing"]},
            {"$lt": [_server_ms("$until"), _server_ms("$$NOW")]},
            {"$eq": ["$owner", owner]},
        ]
    }
    taken = {"$and": ["$_free", {"$ne": ["$owner", owner]}]}
    return [
        {"$set": {"_free": free}},
        {
            "$set": {
                "epoch": {"$cond": [taken, {"$add": [{"$ifNull": ["$epoch", 0]}, 1]}, "$epoch"]},
                "owner": {"$cond": ["$_free", owner, "$owner"]},
                "until": {"$cond": ["$_free", {"$add": ["$$NOW", int(seconds * 1000)]}, "$until"]},
                "renewed_at": "$$NOW",
            }
        },
        {"$unset": "_free"},
    ]


class Lease:
    """One job's lease. `seconds` is how long a take or renewal lasts; `margin` how long before the server's
    expiry this holder stops by its own monotonic clock (time for a write or a send already started to land)."""

    def __init__(self, mongo: Mongo, name: str, *, seconds: float = LEASE_SECONDS, margin: float | None = None) -> None:
        self.collection = mongo.db["leases"]
        self.name = name
        self.seconds = seconds
        self.margin = seconds / 3 if margin is None else margin
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self.epoch: int | None = None
        self._expires_at: float | None = (
            None  # time.monotonic() at which the server's `until` is reached, at the latest
        )

    def remaining(self) -> float:
        """Seconds this holder may still act (server expiry minus the margin, by the monotonic clock); 0 if not held."""
        if self._expires_at is None:
            return 0.0
        return max(0.0, self._expires_at - self.margin - time.monotonic())

    def held(self) -> bool:
        return self.remaining() > 0

    async def hold(self) -> bool:
        """Take or renew the lease; False while another replica holds it. Renewed only when half of it has run
        out, so a busy holder does not spend a database round trip on every pass."""
        if self.remaining() > (self.seconds - self.margin) / 2:
            return True
        return await self.renew()

    async def renew(self) -> bool:
        """Take or renew the lease at the server now."""
        self._expires_at = None
        asked = time.monotonic()  # the server's clock reads $$NOW after this: counting from here errs early
        try:
            doc = await self.collection.find_one_and_update(
                {"_id": self.name},
                _take_pipeline(self.owner, self.seconds),
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:  # two first takers upserting at once: the other one won
            return False
        except OperationFailure as exc:
            if exc.code == WRITE_CONFLICT:  # the holder's fenced transaction is committing: it still holds it
                return False
            raise
        if doc is None or doc.get("owner") != self.owner:
            self.epoch = None
            return False
        if doc["epoch"] != self.epoch and self.epoch is not None:
            log.info("lease taken again", lease=self.name, epoch=doc["epoch"], was=self.epoch)
        self.epoch = doc["epoch"]
        self._expires_at = asked + (doc["until"] - doc["renewed_at"]).total_seconds()
        return True

    async def confirm(self, *, at_least: float = 0.0) -> float:
        """Renew at the server and return the `time.monotonic()` deadline until which this holder may act.
        LeaseLost if another holds it or less than `at_least` seconds would be left."""
        if not await self.renew():
            raise LeaseLost(f"{self.name}: held by another replica")
        if self.remaining() < at_least:
            raise LeaseLost(f"{self.name}: {self.remaining():.1f}s left, {at_least:.1f}s needed")
        return time.monotonic() + self.remaining()

    async def fence(self, session: AsyncClientSession) -> None:
        """Inside a transaction: prove at the server that the lease is still ours (owner, epoch, not run out by
        the server's clock), by a write a concurrent takeover conflicts with. LeaseLost if not."""
        # Cheap first: a holder resumed after a pause finds the server's expiry passed by its monotonic clock.
        if self._expires_at is None or time.monotonic() >= self._expires_at:
            raise LeaseLost(f"{self.name}: lease time is up by this holder's clock")
        result = await self.collection.update_one(
            {
                "_id": self.name,
                "owner": self.owner,
                "epoch": self.epoch,
                "$expr": {"$gt": [_server_ms("$until"), _server_ms("$$NOW")]},
            },
            {"$inc": {"fenced_writes": 1}},
            session=session,
        )
        if result.matched_count != 1:
            self._expires_at = None
            raise LeaseLost(f"{self.name}: epoch {self.epoch} is no longer the lease's")

    def stamp(self) -> dict[str, Any]:
        """What a fenced write records of its holder."""
        return {"name": self.name, "owner": self.owner, "epoch": self.epoch}

    async def release(self) -> None:
        """Let another replica take over at once. The document stays (expired) so the next epoch is higher."""
        self._expires_at = None
        with contextlib.suppress(Exception):
            await self.collection.update_one(
                {"_id": self.name, "owner": self.owner, "epoch": self.epoch}, {"$set": {"until": EXPIRED}}
            )


class LeasedJob:
    """Runs `step` while it reports more work, then waits `interval` seconds (or a `wake()`).
    `step` must leave the database consistent after each call: a crash between steps loses nothing.
    Every `Mongo.transaction` the step runs is fenced by the job's lease (see the module docstring)."""

    def __init__(
        self,
        mongo: Mongo,
        name: str,
        step: Callable[[], Awaitable[bool]],
        *,
        interval: float,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.lease = Lease(mongo, name, seconds=lease_seconds)
        self.name, self.step, self.interval = name, step, interval
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            more = False
            try:
                if await self.lease.hold():
                    with fenced_by(self.lease):
                        more = await self.step()
            except LeaseLost as exc:
                log.warning(
                    "background job lost its lease; its last step wrote nothing", job=self.name, reason=str(exc)
                )
            except Exception:  # a failed step is retried on the next round
                log.exception("background job step failed", job=self.name)
                await asyncio.sleep(1)
            if not more:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task:
            with contextlib.suppress(Exception):
                await self._task
        await self.lease.release()
