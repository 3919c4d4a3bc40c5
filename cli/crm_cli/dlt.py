"""`crm dlt list|show|replay`: the dead letters of every topic, for operations.

A consumer that cannot apply a message (unreadable, or refused by the service's rules) writes it to
`<topic>.dlt` with the reason and where it came from (crm_kit.dead_letters), and its partition moves on.
After the cause is fixed (the customer registered, a parser corrected), an operator replays the letters:

    crm dlt list                                   every dead-letter topic: count, each letter and its reason
    crm dlt show TOPIC:PARTITION:OFFSET [--raw]    one letter's headers and value, personal data masked
    crm dlt replay TOPIC:PARTITION:OFFSET … --by S --why TEXT
    crm dlt replay --topic corebank.balances --reason "unknown core banking customer" --by S --why TEXT

A replay goes back to the letter's source topic for the consumer group that rejected it, identified by the
letter, and is recorded in MongoDB (`dead_letter_replays`: who, when, which letter, why) before it is sent.
A letter already replayed is refused; and were it sent again (two operators at once, a run that died after
sending), the consumer would take it for a duplicate: it is applied once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from crm_kit import dead_letters
from crm_kit.masking import mask_address, mask_email, mask_id_number, mask_name, mask_phone, redact_text

AUDIT_COLLECTION = "dead_letter_replays"
DLT_SUFFIX = ".dlt"

out = Console()
console = Console(stderr=True)


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def coordinates(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def replay_id(self) -> str:
        return dead_letters.replay_id(self.topic, self.partition, self.offset)

    @property
    def reason(self) -> str:
        return self.headers.get(dead_letters.ERROR, "")

    @property
    def group(self) -> str:
        return self.headers.get(dead_letters.CONSUMER_GROUP, "")

    @property
    def source_topic(self) -> str:
        return self.headers.get(dead_letters.SOURCE_TOPIC) or self.topic.removesuffix(DLT_SUFFIX)

    @property
    def source(self) -> str:
        return (
            f"{self.source_topic}:{self.headers.get(dead_letters.SOURCE_PARTITION, '?')}:"
            f"{self.headers.get(dead_letters.SOURCE_OFFSET, '?')}"
        )

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)


def parse_coordinates(text: str) -> tuple[str, int, int]:
    """`TOPIC:PARTITION:OFFSET` (Kafka topic names hold no colon)."""
    topic, sep, rest = text.rpartition(":")
    topic, sep2, partition = topic.rpartition(":")
    if not (sep and sep2 and topic and partition.isdigit() and rest.isdigit()):
        raise ValueError(f"{text!r} is not TOPIC:PARTITION:OFFSET")
    return topic, int(partition), int(rest)


def dead_letter_topic(name: str, prefix: str) -> str:
    """A topic as the operator names it (with or without the environment's prefix and `.dlt`)."""
    name = name if name.startswith(prefix) else prefix + name
    return name if name.endswith(DLT_SUFFIX) else name + DLT_SUFFIX


# ------------------------------------------------------------------------------------------------
# masking: a letter's value is the original message, which may be a customer's record


_MASKS = {
    "number": mask_id_number,
    "id_number": mask_id_number,
    "phone": mask_phone,
    "mobile": mask_phone,
    "phones": mask_phone,
    "email": mask_email,
    "name": mask_name,
    "legal_name": mask_name,
    "contact_name": mask_name,
    "address": mask_address,
}


def _mask(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if isinstance(value, str):
        rule = _MASKS.get(key or "")
        return rule(value) if rule else redact_text(value)
    return value


def masked_value(value: bytes) -> str:
    """The value for display: JSON with personal fields masked by name, and ID numbers and mobile numbers
    masked wherever they appear; anything else as text with the same masking."""
    text = value.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except ValueError:
        return redact_text(text)
    return json.dumps(_mask(doc), ensure_ascii=False, indent=2)


def raw_value(value: bytes) -> str:
    text = value.decode("utf-8", "replace")
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        return text


# ------------------------------------------------------------------------------------------------
# Kafka


async def dead_letter_topics(bootstrap: str, prefix: str) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.startswith(prefix) and t.endswith(DLT_SUFFIX))
    finally:
        await admin.close()


async def read_dead_letters(bootstrap: str, topics: Iterable[str]) -> dict[str, list[DeadLetter]]:
    """Every letter of each topic, from the beginning to the end as it is now (no consumer group)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    letters: dict[str, list[DeadLetter]] = {}
    try:
        tps = []
        for topic in topics:
            letters[topic] = []
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - a topic created since start
                partitions = consumer.partitions_for_topic(topic) or set()
            tps += [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return letters
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    headers = {k: v.decode("utf-8", "replace") for k, v in (r.headers or [])}
                    letters[tp.topic].append(
                        DeadLetter(tp.topic, tp.partition, r.offset, r.timestamp, r.key, r.value or b"", headers)
                    )
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    for found in letters.values():
        found.sort(key=lambda letter: (letter.partition, letter.offset))
    return letters


# ------------------------------------------------------------------------------------------------
# replay


@dataclass(frozen=True)
class ReplayOutcome:
    letter: DeadLetter
    replayed: bool
    note: str


def replay_message(letter: DeadLetter, *, by: str) -> tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]:
    """(topic, key, value, headers) of a letter's replay: the original message with its own headers, marked
    as this letter's replay for the group that rejected it."""
    headers = {
        **dead_letters.original_headers(letter.headers),
        dead_letters.REPLAY_ID: letter.replay_id,
        dead_letters.REPLAY_GROUP: letter.group,
        dead_letters.REPLAY_BY: by,
    }
    return letter.source_topic, letter.key, letter.value, [(k, v.encode()) for k, v in headers.items()]


async def replay(
    letters: Iterable[DeadLetter], *, bootstrap: str, audit: Any, by: str, why: str, idempotent_producer: bool = False
) -> list[ReplayOutcome]:
    """Replay each letter once: its audit row is written first, then it is sent and the row marked sent.
    A letter whose row says sent is refused; one whose row says sending (a run that died) is sent again,
    which the consumer takes for a duplicate if the first send got through."""
    from aiokafka import AIOKafkaProducer
    from pymongo.errors import DuplicateKeyError

    outcomes: list[ReplayOutcome] = []
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=idempotent_producer)
    await producer.start()
    try:
        for letter in letters:
            if not letter.group:
                outcomes.append(ReplayOutcome(letter, False, "not a consumer's dead letter (no dlt-consumer-group)"))
                continue
            now = datetime.now(UTC)
            row = {
                "_id": letter.replay_id,
                "letter": {"topic": letter.topic, "partition": letter.partition, "offset": letter.offset},
                "source": letter.source,
                "group": letter.group,
                "reason": redact_text(letter.reason),
                "by": by,
                "why": why,
                "at": now,
                "state": "sending",
            }
            try:
                await audit.insert_one(row)
            except DuplicateKeyError:
                earlier = await audit.find_one({"_id": letter.replay_id}) or {}
                if earlier.get("state") == "sent":
                    outcomes.append(
                        ReplayOutcome(
                            letter,
                            False,
                            f"already replayed by {earlier.get('by')} at {earlier.get('at'):%Y-%m-%d %H:%M:%S} UTC",
                        )
                    )
                    continue
                await audit.update_one(
                    {"_id": letter.replay_id}, {"$push": {"retries": {"by": by, "why": why, "at": now}}}
                )
            topic, key, value, headers = replay_message(letter, by=by)
            await producer.send_and_wait(topic, value, key=key, headers=headers)
            await audit.update_one({"_id": letter.replay_id}, {"$set": {"state": "sent", "sent_at": datetime.now(UTC)}})
            outcomes.append(ReplayOutcome(letter, True, f"replayed to {topic} for {letter.group}"))
    finally:
        await producer.stop()
    return outcomes


# ------------------------------------------------------------------------------------------------
# the commands (wired in crm_cli.main)


def _letters_table(letters: Mapping[str, list[DeadLetter]]) -> Table:
    table = Table(title="Dead letters", title_justify="left")
    table.add_column("letter", no_wrap=True)
    table.add_column("dead-lettered at", no_wrap=True)
    table.add_column("source", no_wrap=True)
    table.add_column("group", overflow="fold")
    table.add_column("reason", overflow="fold", ratio=1)
    for found in letters.values():
        for letter in found:
            table.add_row(
                letter.coordinates,
                f"{letter.at:%Y-%m-%d %H:%M:%S}",
                letter.source,
                letter.group,
                redact_text(letter.reason),
            )
    return table


async def list_command(*, bootstrap: str, prefix: str, topic: str | None) -> int:
    topics = [dead_letter_topic(topic, prefix)] if topic else await dead_letter_topics(bootstrap, prefix)
    letters = await read_dead_letters(bootstrap, topics)
    for name, found in letters.items():
        out.print(f"{name}: {len(found)} dead letter{'' if len(found) == 1 else 's'}", highlight=False)
    if any(letters.values()):
        out.print(_letters_table({t: f for t, f in letters.items() if f}))
    return 0


async def _one(bootstrap: str, coordinates: str, prefix: str) -> DeadLetter | None:
    topic, partition, offset = parse_coordinates(coordinates)
    topic = dead_letter_topic(topic, prefix)
    found = (await read_dead_letters(bootstrap, [topic]))[topic]
    return next((letter for letter in found if (letter.partition, letter.offset) == (partition, offset)), None)


async def show_command(*, bootstrap: str, prefix: str, coordinates: str, raw: bool) -> int:
    letter = await _one(bootstrap, coordinates, prefix)
    if letter is None:
        console.print(f"[red]no dead letter at {coordinates}[/]", highlight=False)
        return 1
    show = (lambda text: text) if raw else redact_text
    out.print(f"letter   {letter.coordinates}", highlight=False, markup=False)
    out.print(f"at       {letter.at:%Y-%m-%d %H:%M:%S} UTC", highlight=False, markup=False)
    out.print(f"key      {(letter.key or b'').decode('utf-8', 'replace')}", highlight=False, markup=False)
    out.print("headers", highlight=False)
    for name, value in sorted(letter.headers.items()):
        out.print(f"  {name}: {show(value)}", highlight=False, markup=False)
    out.print("value" + ("" if raw else " (personal data masked; --raw to show it as sent)"), highlight=False)
    out.print(raw_value(letter.value) if raw else masked_value(letter.value), highlight=False, markup=False)
    return 0


async def replay_command(
    *,
    bootstrap: str,
    prefix: str,
    coordinates: list[str],
    topic: str | None,
    reason: str | None,
    by: str,
    why: str,
    mongodb_uri: str,
    database: str,
    idempotent_producer: bool,
) -> int:
    from pymongo import AsyncMongoClient

    chosen: list[DeadLetter] = []
    if topic:
        name = dead_letter_topic(topic, prefix)
        wanted = (reason or "").lower()
        chosen += [
            letter for letter in (await read_dead_letters(bootstrap, [name]))[name] if wanted in letter.reason.lower()
        ]
    missing = []
    for text in coordinates:
        letter = await _one(bootstrap, text, prefix)
        if letter is None:
            missing.append(text)
        elif letter not in chosen:
            chosen.append(letter)
    for text in missing:
        console.print(f"[red]no dead letter at {text}[/]", highlight=False)
    if missing:
        return 1
    if not chosen:
        console.print("no dead letter matches; nothing replayed")
        return 0
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        outcomes = await replay(
            chosen,
            bootstrap=bootstrap,
            audit=client[database][AUDIT_COLLECTION],
            by=by,
            why=why,
            idempotent_producer=idempotent_producer,
        )
    finally:
        await client.close()
    for outcome in outcomes:
        colour = "green" if outcome.replayed else "yellow"
        out.print(f"[{colour}]{outcome.letter.coordinates}: {outcome.note}[/]", highlight=False)
    refused = [o for o in outcomes if not o.replayed]
    out.print(f"{len(outcomes) - len(refused)} replayed, {len(refused)} refused", highlight=False)
    return 3 if refused else 0
