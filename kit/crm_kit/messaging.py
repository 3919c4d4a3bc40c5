"""Kafka wiring through FastStream: the broker, topics, and idempotent batch consumers whose
bad messages go to `<topic>.dlt` (through the outbox) while the partition moves on."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.group import LeaveGroupRequest
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from crm_contracts.topics import dead_letter
from crm_kit import dead_letters
from crm_kit.db import Mongo, database_unavailable
from crm_kit.inbox import Inbox
from crm_kit.logging import get_logger
from crm_kit.metrics import DEAD_LETTERS, MESSAGES_CONSUMED
from crm_kit.outbox import Outbox, OutgoingMessage
from crm_kit.settings import ServiceSettings

log = get_logger(__name__)
P = TypeVar("P")


class CrmBroker(KafkaBroker):
    """FastStream's Kafka broker, starting its consumers side by side.

    Starting a consumer waits until its group has given it partitions, and FastStream starts one consumer
    after another: a service with three groups waited for three joins in a row (Tansu holds each join for
    half the session timeout; after a crash the first join also waits for the dead member's session to
    run out). Joined together, a restart costs one join, whatever the number of groups."""

    async def start(self) -> None:
        await self.connect()
        await asyncio.gather(*(subscriber.start() for subscriber in self.subscribers))
        for publisher in self.publishers:
            await publisher.start()
        self.running = True


async def stop_consumers(broker: KafkaBroker) -> None:
    """Stop every consumer (each finishes its in-flight batch and commits), side by side, each leaving its
    group so that the next process's join need not wait for this one's session to run out."""
    for subscriber in broker.subscribers:
        coordinator = getattr(getattr(subscriber, "consumer", None), "_coordinator", None)
        if coordinator is not None:
            _leave_from_generation_zero(coordinator)
    await asyncio.gather(*(subscriber.stop() for subscriber in broker.subscribers))


def _leave_from_generation_zero(coordinator: Any) -> None:
    # aiokafka leaves a group only from generation 1 on (Kafka's first); Tansu numbers a group's first
    # generation 0, so a consumer that never saw a rebalance left silently and its successor's join waited
    # for the session timeout (and more). Sent here for generation 0; aiokafka sends it itself otherwise.
    original = getattr(coordinator, "_maybe_leave_group", None)
    if original is None or getattr(coordinator, "_group_instance_id", None) is not None:
        return

    async def leave() -> None:
        if coordinator.generation == 0 and coordinator.member_id:
            try:
                await coordinator._send_req(LeaveGroupRequest(coordinator.group_id, coordinator.member_id))  # noqa: SLF001 - aiokafka has no public leave-group call
            except KafkaError as exc:
                log.warning("leaving the consumer group failed", group=coordinator.group_id, error=str(exc))
        await original()

    coordinator._maybe_leave_group = leave  # noqa: SLF001 - aiokafka has no public leave-group hook


def make_broker(settings: ServiceSettings, **kwargs: Any) -> KafkaBroker:
    return CrmBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        acks="all",
        enable_idempotence=settings.kafka_idempotent_producer,
        graceful_timeout=settings.shutdown_grace_seconds,
        logger=get_logger("faststream"),
        **kwargs,
    )


async def ensure_topics(bootstrap: str, topics: Sequence[str], *, partitions: int, replication: int = 1) -> None:
    """Create topics (and their dead-letter topics) if missing; existing ones are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for topic in topics for t in (topic, dead_letter(topic)) if t not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another replica created them first
                await admin.create_topics(
                    [NewTopic(t, num_partitions=partitions, replication_factor=replication) for t in wanted]
                )
    finally:
        await admin.close()


@dataclass
class Incoming(Generic[P]):
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    message_id: str
    payload: P
    correlation_id: str | None = None
    sequence: int | None = None
    """The producer's per-customer event number (CloudEvents `sequence`, header ce_sequence), if any."""


@dataclass
class Rejection:
    item: Incoming[Any]
    reason: str


BatchHandler = Callable[[AsyncClientSession, list[Incoming[P]]], Awaitable[list[Rejection]]]


def _identify(value: bytes, key: bytes | None, topic: str, headers: dict[str, str]) -> tuple[str, str | None]:
    """(message id, correlation id) of a record.

    CloudEvents carry their own id and the correlation id of the request that started the chain. A raw
    feed record is identified by its content, not by its offset: offsets start again when a topic is
    recreated (or the embedded broker restarts) while the inbox remembers, and a new record at an old
    offset must not be taken for a redelivery."""
    doc: Any = None
    with contextlib.suppress(ValueError):  # not JSON: identified by its bytes alone
        doc = json.loads(value)
    event = doc if isinstance(doc, dict) and "specversion" in doc else {}
    # A dead letter's replay is identified by the letter: applied once, however often it is replayed.
    message_id = (
        headers.get(dead_letters.REPLAY_ID)
        or headers.get("ce_id")
        or (event.get("id") if isinstance(event.get("id"), str) else None)
    )
    if message_id is None:
        digest = hashlib.sha256(topic.encode() + b"\0" + (key or b"") + b"\0" + value).hexdigest()
        message_id = f"{topic}#{digest}"
    correlation = event.get("correlationid")
    if not isinstance(correlation, str):
        correlation = headers.get("correlation_id") or headers.get("correlationid")
    return message_id, correlation


def _headers(record: Any) -> dict[str, str]:
    return {k: (v.decode(errors="replace") if isinstance(v, bytes) else str(v)) for k, v in (record.headers or [])}


def _dead_letter(record: Any, *, group: str, error: str, attempts: int) -> OutgoingMessage:
    return OutgoingMessage(
        topic=dead_letter(record.topic),
        key=(record.key or b"").decode(errors="replace"),
        value=record.value or b"",
        headers={
            # The message's own headers (its id, type, sequence) go with it, so a replay is the same message.
            **dead_letters.original_headers(_headers(record)),
            dead_letters.ERROR: error[:2000],
            dead_letters.SOURCE_TOPIC: record.topic,
            dead_letters.SOURCE_PARTITION: str(record.partition),
            dead_letters.SOURCE_OFFSET: str(record.offset),
            dead_letters.CONSUMER_GROUP: group,
            dead_letters.ATTEMPTS: str(attempts),
        },
    )


class BatchConsumer(Generic[P]):
    """One consumer group on one topic. Each poll is applied in one transaction together with the
    inbox rows (idempotency) and any dead letters (outbox); offsets are committed after that."""

    def __init__(
        self,
        *,
        topic: str,
        group: str,
        parse: Callable[[bytes], P],
        handle: BatchHandler[P],
        mongo: Mongo,
        outbox: Outbox,
        inbox: Inbox,
        max_attempts: int,
        backoff_seconds: float,
        session_timeout_ms: int = 10_000,
        dedupe: Literal["inbox", "handler"] = "inbox",
        fetch_min_bytes: int = 1,
        fetch_max_wait_ms: int = 500,
    ) -> None:
        self.fetch_min_bytes, self.fetch_max_wait_ms = fetch_min_bytes, fetch_max_wait_ms
        self.session_timeout_ms = session_timeout_ms
        # "handler": the handler's effects are idempotent by themselves (e.g. it keeps each customer's last
        # applied event number), so the inbox's look-up and insert per message are saved.
        self.dedupe = dedupe
        self.topic, self.group, self.parse, self.handle = topic, group, parse, handle
        self.mongo, self.outbox, self.inbox = mongo, outbox, inbox
        self.max_attempts, self.backoff_seconds = max_attempts, backoff_seconds

    def register(self, broker: KafkaBroker, *, max_records: int = 500, description: str | None = None) -> None:
        @broker.subscriber(
            self.topic,
            group_id=self.group,
            batch=True,
            max_records=max_records,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_raw_decoder,
            title=f"{self.group}:{self.topic}",
            description=description,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=max(1000, self.session_timeout_ms // 3),
            fetch_min_bytes=self.fetch_min_bytes,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
        )
        async def _on_batch(body: Any, msg: KafkaMessage) -> None:  # noqa: ARG001 - FastStream passes the body; the raw records are read
            records = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
            await self.process(list(records))

    async def process(self, records: Sequence[Any]) -> None:
        items: list[Incoming[P]] = []
        dead: list[OutgoingMessage] = []
        for r in records:
            headers = _headers(r)
            if dead_letters.for_another_group(headers, self.group):
                continue
            mid, correlation_id = _identify(r.value or b"", r.key, r.topic, headers)
            try:
                payload = self.parse(r.value or b"")
            except (ValidationError, ValueError, TypeError) as exc:
                dead.append(_dead_letter(r, group=self.group, error=_describe(exc), attempts=1))
                continue
            key = r.key.decode(errors="replace") if r.key else None
            seq = headers.get("ce_sequence")
            items.append(
                Incoming(
                    r.topic,
                    r.partition,
                    r.offset,
                    key,
                    r.value or b"",
                    mid,
                    payload,
                    correlation_id,
                    int(seq) if seq and seq.isdigit() else None,
                )
            )

        correlations = sorted({i.correlation_id for i in items if i.correlation_id})
        correlation = structlog.contextvars.bound_contextvars(
            topic=self.topic,
            group=self.group,
            batch=len(records),
            correlation_id=correlations[0] if len(correlations) == 1 else None,
        )
        with correlation:
            try:
                await self._with_retries(items, dead, records)
            except DatabaseUnavailable:
                raise
            except Exception:  # noqa: BLE001 - retried one by one below; what still fails is dead-lettered
                # A batch that keeps failing is retried message by message, so one poison message
                # cannot hold back the others; the ones that still fail go to the dead letters.
                log.warning("batch failed; retrying one by one", size=len(items))
                for item in items:
                    try:
                        await self._with_retries([item], [], records)
                    except DatabaseUnavailable:
                        raise
                    except Exception as exc:  # noqa: BLE001 - a message that keeps failing is a dead letter
                        rec = next(r for r in records if r.offset == item.offset and r.partition == item.partition)
                        await self._apply(
                            [], [_dead_letter(rec, group=self.group, error=_describe(exc), attempts=self.max_attempts)]
                        )
                if dead:
                    await self._apply([], dead)

    async def _with_retries(
        self, items: list[Incoming[P]], dead: list[OutgoingMessage], records: Sequence[Any]
    ) -> None:
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self._apply(items, dead, records)
                return
            except Exception as exc:
                if attempt == self.max_attempts:
                    if _database_down(exc):
                        # Not the message's fault: leave the offsets uncommitted so the poll is redelivered.
                        await asyncio.sleep(self.backoff_seconds * attempt)
                        raise DatabaseUnavailable(str(exc)) from exc
                    raise
                log.warning("consumer attempt failed", attempt=attempt, exc_info=True)
                await asyncio.sleep(self.backoff_seconds * attempt)

    async def _apply(self, items: list[Incoming[P]], dead: list[OutgoingMessage], records: Sequence[Any] = ()) -> None:
        async def txn(session: AsyncClientSession) -> tuple[int, int]:
            ids = {i.message_id for i in items}
            fresh_ids = ids if self.dedupe == "handler" else await self.inbox.unseen(session, self.group, ids)
            # The same id twice in one poll (a producer retry) is applied once.
            fresh: dict[str, Incoming[P]] = {}
            for i in items:
                if i.message_id in fresh_ids and i.message_id not in fresh:
                    fresh[i.message_id] = i
            rejections = await self.handle(session, list(fresh.values())) if fresh else []
            by_offset = {(r.partition, r.offset): r for r in records}
            letters = list(dead)
            for rej in rejections:
                rec = by_offset.get((rej.item.partition, rej.item.offset))
                if rec is not None:
                    letters.append(_dead_letter(rec, group=self.group, error=rej.reason, attempts=1))
            if self.dedupe == "inbox":
                await self.inbox.record(session, self.group, fresh.keys())
            await self.outbox.add(session, letters)
            return len(fresh), len(letters)

        applied, lettered = await self.mongo.transaction(txn)
        self.outbox.notify()
        MESSAGES_CONSUMED.labels(self.topic, self.group, "applied").inc(applied)
        MESSAGES_CONSUMED.labels(self.topic, self.group, "duplicate").inc(len(items) - applied)
        if lettered:
            DEAD_LETTERS.labels(self.topic, self.group).inc(lettered)
            log.warning("messages dead-lettered", count=lettered)


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached: the batch is redelivered, never dead-lettered."""


def _database_down(exc: BaseException) -> bool:
    # A timeout (a stalled database) is the database being down too: redelivered, never dead-lettered.
    return database_unavailable(exc) or (
        isinstance(exc, PyMongoError) and exc.has_error_label("TransientTransactionError")
    )


def _raw_decoder(_msg: Any) -> None:
    # Bodies are parsed by BatchConsumer.parse so a malformed one becomes a dead letter, not a crash.
    return None


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()
