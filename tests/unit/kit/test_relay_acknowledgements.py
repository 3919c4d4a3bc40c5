"""Which outbox documents a relay pass may mark sent, given what the broker answered for each message."""

from aiokafka.errors import KafkaTimeoutError, UnknownTopicOrPartitionError
from aiokafka.structs import RecordMetadata, TopicPartition
from bson import ObjectId

from crm_kit.db import Mongo
from crm_kit.outbox import Outbox, OutboxRelay, publish_order, rows_of


def doc(*keys, topic="crm.profile.customers"):
    return {
        "_id": str(ObjectId()),
        "seq": ObjectId(),
        "messages": [
            {"id": str(ObjectId()), "topic": topic, "key": k, "value": b"{}", "headers": {}, "key_seq": None}
            for k in keys
        ],
    }


def ack(offset=0, topic="crm.profile.customers"):
    return RecordMetadata(topic, 0, TopicPartition(topic, 0), offset, -1, 0, 0)


class Topics:
    """What the broker's metadata says (the relay's TopicCheck)."""

    def __init__(self, missing=(), disturbances=0):
        self.missing, self.disturbances, self.woken = set(missing), disturbances, False

    async def absent(self, topics):
        return topics & self.missing

    def wake(self):
        self.woken = True


def relay(topics):
    mongo = Mongo("mongodb://127.0.0.1:1/?directConnection=true", "unused")  # never connects
    return OutboxRelay(
        outbox=Outbox(mongo), mongo=mongo, broker=None, name="t", poll_seconds=1, batch_size=10, topics=topics
    )


async def acknowledged(docs, results, topics=None, disturbances=0):
    rows = publish_order(rows_of(docs))
    by_key = dict(zip((m["id"] for d in docs for m in d["messages"]), results, strict=True))
    results_in_order = [by_key[r["id"]] for r in rows]
    marked = await relay(topics or Topics())._acknowledged(docs, rows, results_in_order, disturbances)  # noqa: SLF001 - the rule alone
    return [docs.index(d) for d in marked]


async def test_every_message_acknowledged_with_an_offset_marks_every_document():
    docs = [doc("C1", "C2"), doc("C3")]
    assert await acknowledged(docs, [ack(1), ack(2), ack(3)]) == [0, 1]


async def test_documents_after_the_first_unacknowledged_one_stay_unsent_too():
    # The second document's send timed out: it and the third go again (a third marked sent now would
    # reach the consumers before the second).
    docs = [doc("C1"), doc("C2"), doc("C3")]
    assert await acknowledged(docs, [ack(1), KafkaTimeoutError(), ack(3)]) == [0]
    assert await acknowledged(docs, [UnknownTopicOrPartitionError(), ack(2), ack(3)]) == []


async def test_an_answer_without_an_offset_is_no_acknowledgement():
    docs = [doc("C1"), doc("C2")]
    assert await acknowledged(docs, [ack(1), ack(-1)]) == [0]
    assert await acknowledged(docs, [ack(1), None]) == [0]


async def test_acknowledgements_from_a_broker_without_the_topic_are_not_trusted():
    docs = [doc("C1"), doc("C2", topic="crm.profile.customers.dlt")]
    topics = Topics(missing={"crm.profile.customers.dlt"})
    assert await acknowledged(docs, [ack(1), ack(2)], topics) == []


async def test_acknowledgements_across_a_broker_outage_are_not_trusted():
    # The watch saw the broker away (or without topics) while the sends were under way: it may have come
    # back empty and acknowledged records nobody can read.
    docs = [doc("C1")]
    assert await acknowledged(docs, [ack(1)], Topics(disturbances=1), disturbances=0) == []
    assert await acknowledged(docs, [ack(1)], Topics(disturbances=1), disturbances=1) == [0]
