"""What a running service holds: settings, database, broker, outbox and relay, inbox, cipher."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Literal, TypeVar, Union

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from crm_contracts.envelope import CloudEvent, EventData
from crm_kit.broker_watch import BrokerWatch
from crm_kit.calendar import WorkingCalendar
from crm_kit.calendar_sync import CalendarSync
from crm_kit.clock import BusinessClock
from crm_kit.crypto import FieldCipher
from crm_kit.db import Mongo
from crm_kit.inbox import Inbox
from crm_kit.jobs import LeasedJob
from crm_kit.messaging import BatchConsumer, BatchHandler, ensure_topics, make_broker, stop_consumers
from crm_kit.outbox import Outbox, OutboxRelay
from crm_kit.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def docs_settings(cls: type[S]) -> S:
    """Settings good enough to build a service for its AsyncAPI document: placeholder keys, nothing connects."""
    return cls(crm_data_key="A" * 43 + "=", crm_lookup_key="A" * 43 + "=", crm_jwt_secret="docs")


class Runtime(Generic[S]):
    def __init__(self, settings: S, *, topics: Sequence[str]) -> None:
        self.settings = settings
        self.topics = [settings.topic(t) for t in topics]
        self.mongo = Mongo(
            settings.mongodb_uri,
            settings.mongodb_database,
            server_selection_timeout_ms=settings.mongodb_server_selection_timeout_ms,
            connect_timeout_ms=settings.mongodb_connect_timeout_ms,
            socket_timeout_ms=settings.mongodb_socket_timeout_ms,
        )
        self.broker: KafkaBroker = make_broker(settings)
        self.broker_watch = BrokerWatch(
            self.broker,
            self.topics,
            partitions=settings.kafka_topic_partitions,
            replication=settings.kafka_replication_factor,
            interval=settings.kafka_topic_check_seconds,
        )
        self.outbox = Outbox(self.mongo)
        self.inbox = Inbox(self.mongo, retention_seconds=settings.inbox_retention_seconds)
        self.relay = OutboxRelay(
            outbox=self.outbox,
            mongo=self.mongo,
            broker=self.broker,
            name=settings.service_name,
            poll_seconds=settings.outbox_poll_seconds,
            batch_size=settings.outbox_batch_size,
            lease_seconds=settings.lease_seconds,
            topics=self.broker_watch,
        )
        self.cipher = FieldCipher(
            data_key_b64=settings.crm_data_key.get_secret_value(),
            lookup_key_b64=settings.crm_lookup_key.get_secret_value(),
        )
        self.calendar = WorkingCalendar(settings.calendar_override_file)
        self.clock = BusinessClock(settings)
        self.calendar_sync = CalendarSync(
            self.mongo,
            self.calendar,
            clock=self.clock,
            service=settings.service_name,
            interval=settings.calendar_refresh_seconds,
        )
        self.startup_hooks: list[Callable[[], Awaitable[Any]]] = [self.outbox.ensure_indexes, self.inbox.ensure_indexes]
        self.jobs: list[LeasedJob] = []

    def job(self, name: str, step: Callable[[], Awaitable[bool]], *, interval: float) -> LeasedJob:
        """A background job run by one replica at a time (see crm_kit.jobs)."""
        job = LeasedJob(
            self.mongo,
            f"{self.settings.service_name}:{name}",
            step,
            interval=interval,
            lease_seconds=self.settings.lease_seconds,
        )
        self.jobs.append(job)
        return job

    def consume(
        self,
        *,
        topic: str,
        group: str,
        parse: Callable[[bytes], Any],
        handle: BatchHandler[Any],
        max_records: int = 500,
        description: str | None = None,
        dedupe: Literal["inbox", "handler"] = "inbox",
    ) -> BatchConsumer[Any]:
        """Register an idempotent batch consumer on a topic given by its contract name. `dedupe="handler"`
        when the handler's effects are idempotent by themselves (see BatchConsumer)."""
        consumer = BatchConsumer(
            topic=self.settings.topic(topic),
            group=self.settings.topic(group),
            parse=parse,
            handle=handle,
            mongo=self.mongo,
            outbox=self.outbox,
            inbox=self.inbox,
            max_attempts=self.settings.consumer_max_attempts,
            backoff_seconds=self.settings.consumer_retry_backoff_seconds,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            dedupe=dedupe,
            fetch_min_bytes=self.settings.kafka_fetch_min_bytes,
            fetch_max_wait_ms=self.settings.kafka_fetch_max_wait_ms,
        )
        consumer.register(self.broker, max_records=max_records, description=description)
        return consumer

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    def publishes(self, topic: str, events: Sequence[type[EventData]], *, key: str = "customer id") -> None:
        """Declare the service's topic and its CloudEvent types, for the AsyncAPI document."""
        self.broker.publisher(
            self.topic(topic),
            title=topic,
            description="CloudEvents: " + ", ".join(e.event_type for e in events) + f". Key: {key}.",
            schema=Union[tuple(CloudEvent[e] for e in events)],  # type: ignore[valid-type]  # noqa: UP007 - a union built at run time
        )

    def asyncapi(self, *, title: str, description: str) -> FastStream:
        """The AsyncAPI document of this runtime's consumers and publishers (`faststream docs gen`)."""
        return FastStream(self.broker, specification=AsyncAPI(title=title, version="1.0.0", description=description))

    async def start(self) -> None:
        await ensure_topics(
            self.settings.kafka_bootstrap_servers,
            self.topics,
            partitions=self.settings.kafka_topic_partitions,
            replication=self.settings.kafka_replication_factor,
        )
        for hook in self.startup_hooks:
            await hook()
        await self.calendar_sync.refresh()  # the official schedules loaded at run time, before any date is computed
        self.calendar_sync.start()
        await self.broker.start()
        await self.broker_watch.check()
        self.broker_watch.start()
        if self.settings.outbox_relay_enabled:
            self.relay.start()
        for job in self.jobs:
            job.start()

    async def stop(self) -> None:
        # Consumers finish in-flight batches first, then the outbox is flushed through the still-open
        # producer, then the broker and the database close. Background jobs stop between two steps.
        for job in self.jobs:
            await job.stop()
        await self.calendar_sync.stop()
        await stop_consumers(self.broker)
        if self.settings.outbox_relay_enabled:
            await self.relay.stop(flush_timeout=self.settings.shutdown_grace_seconds)
        await self.broker_watch.stop()
        await self.broker.stop()
        await self.mongo.close()
