"""Background jobs shared by replicas: a lease in the database lets one replica run a job at a time
(the outbox relay, a policy rollout, a daily sweep); another takes over when the lease runs out."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from pymongo.errors import DuplicateKeyError

from crm_kit.db import Mongo
from crm_kit.logging import get_logger

log = get_logger(__name__)


class Lease:
    def __init__(self, mongo: Mongo, name: str, *, seconds: float = 15) -> None:
        self.collection = mongo.db["leases"]
        self.name = name
        self.seconds = seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self._held_until: datetime | None = None

    async def hold(self) -> bool:
        """Take or renew the lease; False while another replica holds it. Renewed only when half of it
        has run out, so a busy holder does not spend a database round trip on every pass."""
        now = datetime.now(UTC)
        if self._held_until is not None and self._held_until - now > timedelta(seconds=self.seconds / 2):
            return True
        self._held_until = None
        try:
            doc = await self.collection.find_one_and_update(
                {"_id": self.name, "$or": [{"until": {"$lt": now}}, {"owner": self.owner}]},
                {"$set": {"owner": self.owner, "until": now + timedelta(seconds=self.seconds)}},
                upsert=True,
                return_document=True,
            )
        except DuplicateKeyError:
            return False
        held = doc is not None and doc.get("owner") == self.owner
        if held:
            self._held_until = now + timedelta(seconds=self.seconds)
        return held

    async def release(self) -> None:
        self._held_until = None
        with contextlib.suppress(Exception):
            await self.collection.delete_one({"_id": self.name, "owner": self.owner})


class LeasedJob:
    """Runs `step` while it reports more work, then waits `interval` seconds (or a `wake()`).
    `step` must leave the database consistent after each call: a crash between steps loses nothing."""

    def __init__(self, mongo: Mongo, name: str, step: Callable[[], Awaitable[bool]], *, interval: float) -> None:
        self.lease = Lease(mongo, name)
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
                    more = await self.step()
            except Exception:  # noqa: BLE001 - a failed step is retried on the next round
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
