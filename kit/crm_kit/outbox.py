"""Transactional outbox: events are written with the state change, in the same transaction,
and a relay publishes them afterwards. A crash between commit and publish loses nothing: the
relay finds the unsent rows on restart. Dead letters travel the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from bson import ObjectId
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from crm_contracts.envelope import CloudEvent, EventData
from crm_kit.db import Mongo, current_fence, fenced_by
from crm_kit.jobs import LEASE_SECONDS, Lease, LeaseLost
from crm_kit.logging import get_logger
from crm_kit.metrics import OUTBOX_PENDING, OUTBOX_PUBLISHED

log = get_logger(__name__)
SENT_RETENTION_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class OutgoingMessage:
    topic: str
    key: str
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)
    message_id: str = field(default_factory=lambda: str(ObjectId()))
    # Position among the events of this key (customer), taken from the customer's own counter in the same
    # transaction: what keeps one customer's events in order when several replicas write.
    key_seq: int | None = None


def in_sequence(messages: Sequence[OutgoingMessage], *, first: int) -> list[OutgoingMessage]:
    """Number messages of one key consecutively from `first`."""
    return [replace(m, key_seq=first + i) for i, m in enumerate(messages)]


class SubjectSequences:
    """Per-subject (customer) event numbers for a service whose events are not numbered on a document of its own
    (profile and tiering keep the counter on the customer's document). Taken in the publishing transaction, so two
    transactions publishing for one customer conflict and commit one after the other, with increasing numbers:
    consumers order a customer's events by this number (CloudEvents `sequence`) and skip what they have seen."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def number(self, session: AsyncClientSession, messages: Sequence[OutgoingMessage]) -> list[OutgoingMessage]:
        """The messages, each numbered within its key, in the order given: one write and one read per transaction."""
        counts: dict[str, int] = defaultdict(int)
        for message in messages:
            counts[message.key] += 1
        if not counts:
            return list(messages)
        await self.collection.bulk_write(
            [UpdateOne({"_id": key}, {"$inc": {"seq": count}}, upsert=True) for key, count in counts.items()],
            ordered=False,
            session=session,
        )
        after = {
            doc["_id"]: doc["seq"]
            for doc in await self.collection.find({"_id": {"$in": sorted(counts)}}, session=session).to_list()
        }
        following = {key: after[key] - count + 1 for key, count in counts.items()}
        numbered = []
        for message in messages:
            numbered.append(replace(message, key_seq=following[message.key]))
            following[message.key] += 1
        return numbered


def publish_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in seq order, except that each key's rows take that key's places in key_seq order. seq comes
    from the writer's clock and process, so two replicas may write one customer's events with their seq
    inverted; key_seq cannot be."""
    rows = sorted(rows, key=lambda r: r["seq"])
    queues: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        queues[r["key"]].append(r)
    for queue in queues.values():
        queue.sort(key=lambda r: (r.get("key_seq") is None, r.get("key_seq") or 0, r["seq"]), reverse=True)
    return [queues[r["key"]].pop() for r in rows]


def outgoing_event(
    topic: str,
    data: EventData,
    *,
    source: str,
    customer_id: str,
    causationid: str | None = None,
    correlationid: str | None = None,
) -> OutgoingMessage:
    """The outbox message for a service's event about a customer. The correlation id defaults to the one
    bound for the request or message being handled."""
    envelope = CloudEvent.wrap(
        data,
        source=source,
        subject=customer_id,
        causationid=causationid,
        correlationid=correlationid or structlog.contextvars.get_contextvars().get("correlation_id"),
    )
    return event_message(topic, envelope)


def event_message(topic: str, event: CloudEvent[Any]) -> OutgoingMessage:
    return OutgoingMessage(
        topic=topic,
        key=event.subject,
        value=event.model_dump_json().encode(),
        headers={"content-type": "application/cloudevents+json", "ce_type": event.type, "ce_id": str(event.id)},
        message_id=str(event.id),
    )


class Outbox:
    """One document per transaction holds that transaction's messages (up to MESSAGES_PER_DOC each), so
    writing and marking a batch of 500 events is one document, not 500: the database's cost per
    document is what bounds a consumer's throughput."""

    MESSAGES_PER_DOC = 1000

    def __init__(self, mongo: Mongo) -> None:
        self.collection = mongo.db["outbox"]
        self._wake = asyncio.Event()

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("sent_at", ASCENDING), ("seq", ASCENDING)])
        # Sent rows are kept a week for investigations, then expire; unsent rows (sent_at null) never do.
        await self.collection.create_index(
            "sent_at", expireAfterSeconds=SENT_RETENTION_SECONDS, name="sent_rows_expire"
        )

    async def add(self, session: AsyncClientSession, messages: Sequence[OutgoingMessage]) -> None:
        if not messages:
            return
        now = datetime.now(UTC)
        fence = current_fence()  # written by a leased job: which holder (and epoch) wrote it, for audits
        # seq is taken inside the transaction, after the state change it belongs to, so two changes to
        # one customer (which conflict on the customer's document) get increasing seq in commit order.
        docs = []
        for start in range(0, len(messages), self.MESSAGES_PER_DOC):
            part = messages[start : start + self.MESSAGES_PER_DOC]
            docs.append(
                {
                    "_id": part[0].message_id,
                    "seq": ObjectId(),
                    "created_at": now,
                    "sent_at": None,
                    **({"lease": fence.stamp()} if fence else {}),
                    "messages": [
                        {
                            "id": m.message_id,
                            "topic": m.topic,
                            "key": m.key,
                            "value": m.value,
                            "headers": m.headers,
                            "key_seq": m.key_seq,
                        }
                        for m in part
                    ],
                }
            )
        await self.collection.insert_many(docs, ordered=True, session=session)

    async def pending(self) -> int:
        """Messages not yet published."""
        docs = await self.collection.find({"sent_at": None}, {"messages.id": 1}).to_list()
        return sum(len(d["messages"]) for d in docs)

    def notify(self) -> None:
        """Wake the relay after a commit so events go out without waiting for the next poll."""
        self._wake.set()

    async def wait_for_notice(self, timeout: float) -> None:
        """Until a commit notifies (one after this call started) or `timeout` seconds pass."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)


def rows_of(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages of outbox documents as rows in write order: (document seq, position)."""
    return [{**m, "seq": (d["seq"], i)} for d in docs for i, m in enumerate(d["messages"])]


class TopicCheck(Protocol):
    """What the relay asks of the broker's topics (crm_kit.broker_watch.BrokerWatch)."""

    disturbances: int
    """Counts the times the broker was seen away or without some of its topics."""

    async def absent(self, topics: set[str]) -> set[str]:
        """Those of `topics` the broker does not have right now."""
        ...

    def wake(self) -> None:
        """Check the topics now (a send failed)."""
        ...


class NotAcknowledged(RuntimeError):
    """Some sends of a relay pass were not acknowledged: those documents stay unsent and go again."""


def _has_offset(result: Any) -> bool:
    # A RecordMetadata with an offset: the broker has the record (acks=all: every in-sync replica has it).
    return (
        not isinstance(result, BaseException)
        and isinstance(getattr(result, "offset", None), int)
        and result.offset >= 0
    )


def _headers(row: dict[str, Any]) -> dict[str, str]:
    headers = dict(row.get("headers") or {})
    if row.get("key_seq") is not None:
        # The CloudEvents "sequence" extension: lets a consumer see one customer's order and any gap.
        headers["ce_sequence"] = str(row["key_seq"])
    return headers


class OutboxRelay:
    """Publishes unsent outbox rows in seq order, keyed by customer id, and marks them sent.

    Several replicas of a service share one outbox: a lease in the database lets one of them relay. A relay
    stopped mid-batch (a pause, SIGSTOP) and resumed after another replica took over must send nothing more, or
    one customer's events would go out twice and out of order. So a pass starts only with enough lease time left
    as the server last confirmed it (renewed at the server when not), which gives a deadline on the monotonic
    clock (the lease's margin before the server's expiry); each message is sent only before that deadline, and
    the rows are marked sent by a transaction fenced by the lease (crm_kit.jobs), which fails once another holds
    it. A resumed holder finds its deadline passed and sends nothing. Rows already sent when a holder stops
    before marking them are sent again by the next holder (at least once; the same CloudEvent id, which
    consumers deduplicate). Each message carries the relay's epoch (header crm_relay_epoch).
    """

    LEASE_SECONDS = LEASE_SECONDS
    RELAY_EPOCH_HEADER = "crm_relay_epoch"
    # How far apart the writers' clocks may be (NTP keeps them far closer).
    CLOCK_SKEW = timedelta(seconds=5)

    def __init__(
        self,
        *,
        outbox: Outbox,
        mongo: Mongo,
        broker: Any,
        name: str,
        poll_seconds: float,
        batch_size: int,
        lease_seconds: float = LEASE_SECONDS,
        topics: TopicCheck | None = None,
    ) -> None:
        self.outbox = outbox
        self.mongo = mongo
        self.topics = topics
        self.broker = broker
        self.name = f"outbox-relay:{name}"
        self.lease = Lease(mongo, self.name, seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def publish_pending(self) -> int:
        """One pass: publish the unsent documents, about batch_size messages. Returns how many were sent.
        LeaseLost when the lease is not (or no longer) this relay's; nothing is marked then."""
        deadline = await self._deadline()  # before the rows are read: what another holder sent is marked by then
        docs: list[dict[str, Any]] = []
        count = 0
        cursor = self.outbox.collection.find({"sent_at": None}).sort("seq", ASCENDING).limit(self.batch_size)
        async for doc in cursor:
            docs.append(doc)
            count += len(doc["messages"])
            if count >= self.batch_size:
                break
        await cursor.close()
        if not docs:
            OUTBOX_PENDING.set(0)
            return 0
        if count >= self.batch_size:
            # The pass may have cut between two replicas' writes of one customer whose seq (their clocks)
            # are inverted: take what was written within the clock skew after the last document too.
            last = docs[-1]["seq"]
            horizon = ObjectId.from_datetime(last.generation_time + self.CLOCK_SKEW)
            docs += await self.outbox.collection.find(
                {"sent_at": None, "seq": {"$gt": last, "$lte": horizon}}
            ).to_list()
        rows = publish_order(rows_of(docs))
        disturbances = self.topics.disturbances if self.topics is not None else 0
        futures: list[Any] = []
        epoch = {self.RELAY_EPOCH_HEADER: str(self.lease.epoch)}
        for row in rows:
            if time.monotonic() >= deadline:
                # Stopped or slowed past the lease time the server confirmed: another replica may relay by now.
                await asyncio.gather(*futures, return_exceptions=True)
                raise LeaseLost(f"{self.name}: lease deadline passed mid-batch; the rest is left to the holder")
            # no_confirm queues the send; aiokafka keeps per-partition order, and we wait for all acks below.
            futures.append(
                await self.broker.publish(
                    bytes(row["value"]),
                    row["topic"],
                    key=row["key"].encode(),
                    headers={**_headers(row), **epoch},
                    no_confirm=True,
                )
            )
        results = await asyncio.gather(*futures, return_exceptions=True)
        acknowledged = await self._acknowledged(docs, rows, results, disturbances)
        if acknowledged:

            async def mark_sent(session: AsyncClientSession) -> None:
                await self.outbox.collection.update_many(
                    {"_id": {"$in": [d["_id"] for d in acknowledged]}},
                    {"$set": {"sent_at": datetime.now(UTC), "sent_by": self.lease.stamp()}},
                    session=session,
                )

            with fenced_by(self.lease):  # refused once another replica holds the lease
                await self.mongo.transaction(mark_sent)
        sent = sum(len(d["messages"]) for d in acknowledged)
        OUTBOX_PUBLISHED.inc(sent)
        if len(acknowledged) < len(docs):
            raise NotAcknowledged(
                f"{len(docs) - len(acknowledged)} of {len(docs)} outbox documents not acknowledged "
                "by the broker; they stay unsent"
            )
        return sent

    async def _acknowledged(
        self, docs: list[dict[str, Any]], sent: list[dict[str, Any]], results: list[Any], disturbances: int
    ) -> list[dict[str, Any]]:
        """The documents every message of which the broker acknowledged with an offset, in seq order up to
        the first that is not: a later document marked sent before an earlier one is sent again would put
        one customer's events out of order."""
        missed = {row["seq"][0] for row, result in zip(sent, results, strict=True) if not _has_offset(result)}
        errors = {repr(r) for r in results if isinstance(r, BaseException)}
        if errors:
            log.warning("outbox sends not acknowledged", errors=sorted(errors)[:3])
        if self.topics is not None:
            # A broker that restarted empty may acknowledge records for a topic it does not have (Tansu
            # does), and nobody can read them: the topics must be there after the acknowledgement, and the
            # broker must not have been away or without topics while the sends were under way.
            gone = await self.topics.absent({row["topic"] for row in sent})
            if gone or self.topics.disturbances != disturbances:
                log.warning("broker lost its topics or went away during the sends; they go again", missing=sorted(gone))
                return []
        acknowledged = []
        for doc in sorted(docs, key=lambda d: d["seq"]):
            if doc["seq"] in missed:
                break
            acknowledged.append(doc)
        return acknowledged

    async def _deadline(self) -> float:
        """The time.monotonic() until which this pass may send: from the server's last answer when enough of the
        lease is left (the monotonic clock runs on while the process is stopped), else confirmed at the server now."""
        enough = (self.lease.seconds - self.lease.margin) / 2
        if self.lease.remaining() >= enough:
            return time.monotonic() + self.lease.remaining()
        return await self.lease.confirm(at_least=enough)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            sent = 0
            try:
                if await self.lease.hold():
                    sent = await self.publish_pending()
            except LeaseLost as exc:
                log.warning(
                    "outbox relay lost its lease; it sends nothing more until it holds it again", reason=str(exc)
                )
            except Exception as exc:  # keep relaying; the rows stay unsent and are retried
                if isinstance(exc, NotAcknowledged):
                    log.warning(str(exc))
                else:
                    log.exception("outbox relay pass failed")
                if self.topics is not None:
                    self.topics.wake()  # e.g. UnknownTopicOrPartition: a topic may be gone
                await asyncio.sleep(1)
            if sent < self.batch_size:
                await self.outbox.wait_for_notice(self.poll_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, *, flush_timeout: float = 10.0) -> None:
        """Stop relaying; first publish whatever is still pending (graceful shutdown)."""
        self._stopping.set()
        self.outbox.notify()
        if self._task:
            with contextlib.suppress(Exception):
                await self._task
        try:
            async with asyncio.timeout(flush_timeout):
                if await self.lease.hold():
                    while await self.publish_pending():
                        pass
        except Exception:  # noqa: BLE001 - shutting down: the next start relays the rest
            log.warning("outbox not fully flushed at shutdown; the next start relays the rest")
        await self.lease.release()
