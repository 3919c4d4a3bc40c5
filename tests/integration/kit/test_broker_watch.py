"""Each replica keeps its topics on the broker: a deleted topic is recreated by the periodic check and its
consumers read it again from the start.

(That a topic the broker will not create makes /readyz 503 is not tested here: the embedded broker creates
any topic it is asked for.)"""

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from test_reliability import deposits_consumer, make_runtime, total

from crm_kit.http import create_http_app
from support import eventually, produce, running

pytestmark = pytest.mark.integration


async def test_a_deleted_topic_is_recreated_and_consumed_again(service_env, stack):
    rt = make_runtime(service_env, kafka_topic_check_seconds=0.5)
    accounts = deposits_consumer(rt)
    topic = rt.topic("deposits")
    async with running(create_http_app(rt, title="t", description="t", routers=[])) as client:
        await produce(stack.kafka_bootstrap, topic, [{"account": "W", "amount": 1}])
        assert await eventually(lambda: total(accounts, "W")) == 1
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([topic, f"{topic}.dlt"])

            async def recreated():
                return {topic, f"{topic}.dlt"} <= set(await admin.list_topics())

            await eventually(recreated, timeout=20)
        finally:
            await admin.close()
        await produce(stack.kafka_bootstrap, topic, [{"account": "W", "amount": 2}])

        async def both_deposits():
            return await total(accounts, "W") == 3

        await eventually(both_deposits, timeout=30)
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["broker"] == {"reachable": True, "missing_topics": []}
