"""Keeps a service's topics on the broker and says how the broker is, for readiness and the outbox relay.

A broker can come back empty: the embedded broker keeps everything in memory, and a new or restored
cluster may lack topics too. Events sent to a topic that is not there are lost (or refused), and
consumers read nothing; so every replica checks its topics (published and consumed, and their dead-letter
topics) now and then and after a failed send, and recreates the missing ones.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from crm_contracts.topics import dead_letter
from crm_kit.logging import get_logger

log = get_logger(__name__)


class BrokerWatch:
    """One per replica: the check runs every `interval` seconds and whenever `wake()` is called."""

    def __init__(
        self,
        broker: KafkaBroker,
        topics: Sequence[str],
        *,
        partitions: int,
        replication: int,
        interval: float,
        timeout: float = 5.0,
    ) -> None:
        self.broker = broker
        self.wanted = [t for topic in topics for t in (topic, dead_letter(topic))]
        self.partitions, self.replication = partitions, replication
        self.interval, self.timeout = interval, timeout
        self.reachable: bool | None = None
        self.missing: list[str] = []
        self.problem: str | None = None
        self.disturbances = 0
        """Counts the checks that found the broker away or without some of the topics (the outbox relay
        does not trust acknowledgements given across one)."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def state(self) -> dict[str, Any]:
        """For /readyz: whether the broker answered the last check, and the topics it lacks."""
        state: dict[str, Any] = {"reachable": bool(self.reachable), "missing_topics": list(self.missing)}
        if self.problem:
            state["problem"] = self.problem
        return state

    async def check(self) -> None:
        """List the broker's topics; create the missing ones; note what is still wrong."""
        admin = self.broker.config.admin_client
        try:
            async with asyncio.timeout(self.timeout):
                missing = self._missing(await admin.list_topics())
                if missing:
                    self.disturbances += 1
                    log.warning("topics missing on the broker; creating them", topics=missing)
                    with contextlib.suppress(TopicAlreadyExistsError):
                        await admin.create_topics(
                            [
                                NewTopic(t, num_partitions=self.partitions, replication_factor=self.replication)
                                for t in missing
                            ]
                        )
                    still = self._missing(await admin.list_topics())
                    await self._refresh_producer()
                    await self._read_again_from_the_start(set(missing) - set(still))
                    missing = still
        except Exception as exc:  # noqa: BLE001 - whatever the cause, the broker is not usable now
            if self.reachable is not False:
                log.warning("broker not answering", error=repr(exc))
            self.disturbances += 1
            self.reachable, self.problem = False, f"broker not answering: {type(exc).__name__}"
            return
        if self.reachable is False:
            log.info("broker answering again")
        self.reachable, self.missing = True, missing
        self.problem = f"topics missing and not created: {', '.join(missing)}" if missing else None
        if missing:
            log.error("topics missing and not created", topics=missing)

    async def absent(self, topics: set[str]) -> set[str]:
        """Those of `topics` the broker does not have right now; finding one starts a check."""
        async with asyncio.timeout(self.timeout):
            gone = topics - set(await self.broker.config.admin_client.list_topics())
        if gone:
            self.wake()
        return gone

    def wake(self) -> None:
        self._wake.set()

    def _missing(self, existing: list[str]) -> list[str]:
        have = set(existing)
        return [t for t in self.wanted if t not in have]

    async def _refresh_producer(self) -> None:
        # The producer's cached metadata still names the old partitions; what it sends there before its next
        # refresh (minutes away) the new topic would not have.
        producer = getattr(getattr(self.broker.config.producer, "_producer", None), "producer", None)
        client = getattr(producer, "client", None)
        if client is not None:
            await client.force_metadata_update()

    async def _read_again_from_the_start(self, recreated: set[str]) -> None:
        # A recreated topic starts again at offset 0 while a consumer still assigned to it would fetch from
        # where it was on the old one and miss everything up to there. The inbox makes a re-read harmless.
        for subscriber in self.broker.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is None:
                continue
            partitions = [tp for tp in consumer.assignment() if tp.topic in recreated]
            if partitions:
                await consumer.seek_to_beginning(*partitions)
                log.info("reading recreated topics from the start", topics=sorted({tp.topic for tp in partitions}))

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before the check: a wake during it asks for another
            await self.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="broker-watch")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
