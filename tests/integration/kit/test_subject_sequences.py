"""Per-customer event numbers taken in the publishing transaction (crm_kit.outbox.SubjectSequences): consecutive
per customer across transactions, never the same number twice when replicas publish for one customer at once, and
nothing taken by a transaction that rolled back."""

import asyncio

import pytest
from test_reliability import make_runtime

from crm_kit.outbox import OutgoingMessage, SubjectSequences

pytestmark = pytest.mark.integration


def message(key: str, n: int) -> OutgoingMessage:
    return OutgoingMessage(topic="t", key=key, value=f"{key}-{n}".encode())


async def test_numbers_run_on_per_customer_and_are_unique_under_concurrency(service_env):
    rt = make_runtime(service_env)
    sequences = SubjectSequences(rt.mongo.db["event_sequences"])
    try:

        async def publish(messages):
            return await rt.mongo.transaction(lambda session: sequences.number(session, messages))

        first = await publish([message("C1", 1), message("C2", 1), message("C1", 2)])
        assert [(m.key, m.key_seq) for m in first] == [("C1", 1), ("C2", 1), ("C1", 2)]

        # Ten transactions for one customer at once (replicas): they conflict and retry, each number taken once.
        batches = await asyncio.gather(*(publish([message("C1", i), message("C1", i + 100)]) for i in range(10)))
        numbers = sorted(m.key_seq for batch in batches for m in batch)
        assert numbers == list(range(3, 23))
        for batch in batches:  # one transaction's messages are consecutive
            assert batch[1].key_seq == batch[0].key_seq + 1

        async def fails(session):
            await sequences.number(session, [message("C2", 9)])
            raise RuntimeError("the state change failed")

        with pytest.raises(RuntimeError):
            await rt.mongo.transaction(fails)
        assert [m.key_seq for m in await publish([message("C2", 2)])] == [2]
    finally:
        await rt.mongo.close()
