"""The outbox relay under a pause: a relay stopped (SIGSTOP) mid-batch — its batch read, the lease confirmed —
while another replica's relay takes over, then resumed (SIGCONT), sends nothing: no event id goes out twice and
no customer's ce_sequence goes backwards on the topic."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections import defaultdict

import pytest

from crm_kit.outbox import OutboxRelay, OutgoingMessage, in_sequence
from crm_kit.runtime import Runtime
from crm_kit.settings import ServiceSettings
from support import eventually, read_topic, settings_kwargs

pytestmark = pytest.mark.integration

CUSTOMERS, EVENTS = 3, 30

# A relay process that stops itself (SIGSTOP, as an operator or a frozen VM would stop it) in its first pass, with
# the batch read from the outbox and the lease confirmed, before it sends any of it.
PAUSING_RELAY = textwrap.dedent("""
    import asyncio, os, signal
    from crm_kit import outbox
    from crm_kit.runtime import Runtime
    from crm_kit.settings import ServiceSettings

    in_order, paused = outbox.publish_order, False

    def publish_order(rows):
        global paused
        if rows and not paused:
            paused = True
            print("pausing mid-batch", len(rows), flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)
        return in_order(rows)

    outbox.publish_order = publish_order

    async def main():
        rt = Runtime(ServiceSettings(), topics=["deposits"])
        await rt.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await rt.stop()

    asyncio.run(main())
""")


def runtime(env):
    return Runtime(ServiceSettings(**settings_kwargs(env)), topics=["deposits"])


async def test_a_relay_paused_mid_batch_and_resumed_sends_nothing(service_env, stack, tmp_path):
    env = {**service_env, "SERVICE_NAME": "kit-test", "PORT": "1", "LEASE_SECONDS": "2"}
    rt = runtime(env)
    topic = rt.topic("deposits")
    for n in range(CUSTOMERS):  # each customer's events numbered in order, a few per transaction
        cid = f"C{n}"
        for first in range(1, EVENTS + 1, 10):
            messages = in_sequence(
                [
                    OutgoingMessage(
                        topic=topic,
                        key=cid,
                        value=f'{{"n": {first + i}}}'.encode(),
                        headers={"ce_id": f"{cid}-{first + i}"},
                    )
                    for i in range(10)
                ],
                first=first,
            )
            await rt.mongo.transaction(lambda s, m=messages: rt.outbox.add(s, m))
    await rt.outbox.ensure_indexes()

    log = tmp_path / "paused-relay.log"
    with open(log, "wb") as out:
        paused = subprocess.Popen(
            [sys.executable, "-c", PAUSING_RELAY], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    leases = rt.mongo.db["leases"]
    try:

        async def stopped_mid_batch():
            with open(f"/proc/{paused.pid}/stat") as f:
                return "pausing mid-batch" in log.read_text() and f.read().split(")")[1].split()[0] == "T"

        await eventually(stopped_mid_batch, timeout=60)
        first = await leases.find_one({"_id": "outbox-relay:kit-test"})
        assert first["owner"].split(":")[1] == str(paused.pid) and first["epoch"] == 1

        await rt.start()  # another replica: its relay takes over once the stopped one's lease runs out
        try:

            async def all_sent():
                return await rt.outbox.collection.count_documents({"sent_at": None}) == 0

            await eventually(all_sent, timeout=30)
            os.kill(paused.pid, signal.SIGCONT)

            async def resumed_and_refused():
                return "lease deadline passed mid-batch" in log.read_text()

            await eventually(resumed_and_refused, timeout=20)
            await asyncio.sleep(1.0)  # anything the resumed relay still sent would be on the topic by now
            marks = {
                (d["sent_by"]["owner"].split(":")[1], d["sent_by"]["epoch"])
                for d in await rt.outbox.collection.find({}, {"sent_by": 1}).to_list()
            }
        finally:
            paused.send_signal(signal.SIGTERM)
            await asyncio.to_thread(paused.wait, 30)
            await rt.stop()
    finally:
        if paused.poll() is None:
            paused.kill()

    records = await read_topic(stack.kafka_bootstrap, topic, until=lambda rs: len(rs) >= CUSTOMERS * EVENTS, settle=1.0)
    headers = [dict(r.headers) for r in records]
    ids = [h["ce_id"] for h in headers]
    assert len(records) == len(set(ids)) == CUSTOMERS * EVENTS  # no event id twice
    sequences = defaultdict(list)
    for r, h in zip(records, headers, strict=True):
        sequences[r.key.decode()].append(int(h["ce_sequence"]))
    assert dict(sequences) == {f"C{n}": list(range(1, EVENTS + 1)) for n in range(CUSTOMERS)}  # never backwards
    # All of it sent by the replica that took over (epoch 2), none by the stopped one (epoch 1).
    assert marks == {(str(os.getpid()), 2)}
    assert {h[OutboxRelay.RELAY_EPOCH_HEADER] for h in headers} == {b"2"}
