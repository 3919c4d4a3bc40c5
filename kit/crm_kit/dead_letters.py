"""What a dead letter carries and how a replay of one is marked: shared by the consumers that write them
(crm_kit.messaging) and the operators' tool that replays them (`crm dlt`).

A replay is republished to the letter's source topic for the one consumer group that rejected it. It is
identified by the letter (not by the original message), so:
- the group's inbox, which remembers the original id (a handler's rejection is recorded too), does not take
  the replay for a redelivery, and the fixed consumer applies it;
- the same letter replayed again has the same id: a duplicate, no second effect;
- the other groups on the source topic, which applied the original already, skip it.
"""

from __future__ import annotations

ERROR = "dlt-error"
SOURCE_TOPIC = "dlt-source-topic"
SOURCE_PARTITION = "dlt-source-partition"
SOURCE_OFFSET = "dlt-source-offset"
CONSUMER_GROUP = "dlt-consumer-group"
ATTEMPTS = "dlt-attempts"

REPLAY_ID = "crm-replay-id"
"""The replayed message's id for the inbox: `replay:<dead-letter topic>/<partition>/<offset>`."""
REPLAY_GROUP = "crm-replay-group"
"""The only consumer group that applies the replay."""
REPLAY_BY = "crm-replay-by"

_OWN_PREFIXES = ("dlt-", "crm-replay-")


def replay_id(dlt_topic: str, partition: int, offset: int) -> str:
    return f"replay:{dlt_topic}/{partition}/{offset}"


def original_headers(headers: dict[str, str]) -> dict[str, str]:
    """The message's own headers (ce_id, ce_type, ce_sequence …), without a dead letter's or a replay's."""
    return {k: v for k, v in headers.items() if not k.startswith(_OWN_PREFIXES)}


def for_another_group(headers: dict[str, str], group: str) -> bool:
    """A replay meant for another consumer group: this group applied the original and skips it."""
    target = headers.get(REPLAY_GROUP)
    return target is not None and target != group
