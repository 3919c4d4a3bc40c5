"""Fenced leases against the real database: the epoch goes up each time a lease changes hands, the database's
clock (not a replica's) says when it runs out, and a holder that lost it writes nothing."""

import asyncio
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from crm_kit import jobs
from crm_kit.db import Mongo, fenced_by
from crm_kit.jobs import EXPIRED, Lease, LeasedJob, LeaseLost
from crm_kit.metrics import UNFENCED_WRITES
from crm_kit.outbox import Outbox, OutgoingMessage

pytestmark = pytest.mark.integration


@pytest.fixture
async def mongo(service_env):
    m = Mongo(service_env["MONGODB_URI"], service_env["MONGODB_DATABASE"])
    yield m
    await m.close()


async def server_time(mongo):
    return (await mongo.client.admin.command("hello"))["localTime"]


async def run_out_at_the_server(mongo, name):
    """What the server's clock passing `until` looks like to everyone else, whatever the holder's clock says."""
    await mongo.db["leases"].update_one({"_id": name}, {"$set": {"until": EXPIRED}})


def deposit(session_mongo, outbox, account):
    async def txn(s):
        await session_mongo.db["accounts"].update_one({"_id": account}, {"$inc": {"total": 1}}, upsert=True, session=s)
        await outbox.add(s, [OutgoingMessage(topic="t.deposits", key=account, value=b'{"total": 1}')])

    return txn


async def test_the_epoch_goes_up_each_time_the_lease_changes_hands(mongo):
    a, b = Lease(mongo, "job", seconds=1), Lease(mongo, "job", seconds=1)
    assert await a.hold() and a.epoch == 1
    assert await a.renew() and a.epoch == 1  # a renewal is not a change of hands
    assert not await b.hold() and b.epoch is None

    await asyncio.sleep(1.2)  # a's lease runs out by the server's clock
    assert await b.hold() and b.epoch == 2
    assert not await a.renew() and a.epoch is None

    await b.release()  # a graceful stop: the next holder need not wait, and its epoch is still higher
    assert await a.hold() and a.epoch == 3
    doc = await mongo.db["leases"].find_one({"_id": "job"})
    assert (doc["owner"], doc["epoch"]) == (a.owner, 3)


async def test_the_servers_clock_not_a_skewed_replicas_decides_when_a_lease_runs_out(mongo, monkeypatch):
    class AnHourAhead(jobs.datetime):  # this replica's wall clock is wrong
        @classmethod
        def now(cls, tz=None):
            return super().now(tz) + timedelta(hours=1)

    holder = Lease(mongo, "sweep", seconds=30)
    assert await holder.hold()
    monkeypatch.setattr(jobs, "datetime", AnHourAhead)
    skewed = Lease(mongo, "sweep", seconds=30)
    # By its own clock the holder's lease ran out 59 minutes ago; by the server's it has 30 s to go.
    assert not await skewed.hold()

    await skewed.collection.update_one({"_id": "sweep"}, {"$set": {"until": EXPIRED}})  # run out at the server
    assert await skewed.hold() and skewed.epoch == 2
    doc = await mongo.db["leases"].find_one({"_id": "sweep"})
    now = await server_time(mongo)
    # `until` is the server's time plus the lease, not the skewed replica's.
    assert abs((doc["renewed_at"].replace(tzinfo=None) - now).total_seconds()) < 2
    assert doc["until"] - doc["renewed_at"] == timedelta(seconds=30)
    assert 29 < skewed.remaining() + skewed.margin <= 30  # the time left, as the server counted it


async def test_a_holder_knows_its_time_is_up_by_its_monotonic_clock(mongo):
    lease = Lease(mongo, "rollout", seconds=1.5, margin=0.5)
    assert await lease.hold() and 0.5 < lease.remaining() <= 1.0
    await asyncio.sleep(1.1)  # a pause of the holder: the monotonic clock ran on
    assert not lease.held() and lease.remaining() == 0  # within the margin: nothing new is started
    await asyncio.sleep(0.5)  # past the server's expiry too: not even a write already under way commits
    async with mongo.client.start_session() as s:
        with pytest.raises(LeaseLost):
            await lease.fence(s)


async def test_a_holders_fenced_transaction_commits_with_its_epoch_on_the_outbox(mongo):
    outbox = Outbox(mongo)
    lease = Lease(mongo, "deadlines", seconds=10)
    assert await lease.hold()
    with fenced_by(lease):
        await mongo.transaction(deposit(mongo, outbox, "A1"))
    assert (await mongo.db["accounts"].find_one({"_id": "A1"}))["total"] == 1
    row = await outbox.collection.find_one({})
    assert row["lease"] == {"name": "deadlines", "owner": lease.owner, "epoch": 1}
    assert (await mongo.db["leases"].find_one({"_id": "deadlines"}))["fenced_writes"] == 1
    # Outside a leased job nothing is fenced or stamped.
    await mongo.transaction(deposit(mongo, outbox, "A2"))
    assert "lease" not in await outbox.collection.find_one({"messages.key": "A2"})


async def test_a_stale_holders_fenced_transaction_is_refused_and_writes_nothing(mongo):
    outbox = Outbox(mongo)
    stale, new = Lease(mongo, "scheduler", seconds=10), Lease(mongo, "scheduler", seconds=10)
    assert await stale.hold()
    # The lease ran out at the server and another replica took it, while the stale holder's monotonic clock
    # still gives it time (the server's check, not the local one, refuses it).
    await run_out_at_the_server(mongo, "scheduler")
    assert await new.hold() and new.epoch == 2
    assert stale.remaining() > 0
    with fenced_by(stale), pytest.raises(LeaseLost):
        await mongo.transaction(deposit(mongo, outbox, "B1"))
    assert await mongo.db["accounts"].count_documents({}) == 0
    assert await outbox.collection.count_documents({}) == 0

    # The new holder's writes go through, stamped with its epoch.
    with fenced_by(new):
        await mongo.transaction(deposit(mongo, outbox, "B1"))
    assert [d["lease"]["epoch"] for d in await outbox.collection.find({}).to_list()] == [2]


async def test_a_takeover_during_a_holders_transaction_makes_it_write_nothing(mongo):
    outbox = Outbox(mongo)
    holder, other = Lease(mongo, "policy-rollout", seconds=10), Lease(mongo, "policy-rollout", seconds=10)
    assert await holder.hold()
    runs = 0

    async def txn(s):
        nonlocal runs
        runs += 1
        await deposit(mongo, outbox, "C1")(s)
        if runs == 1:  # mid-transaction the holder stalls; its lease runs out and the other replica takes it
            await run_out_at_the_server(mongo, "policy-rollout")
            assert await other.hold()

    with fenced_by(holder), pytest.raises(LeaseLost):
        await mongo.transaction(txn)
    assert runs == 2  # the takeover conflicted with the fence; run again, it found the lease another's
    assert await mongo.db["accounts"].count_documents({}) == 0
    assert await outbox.collection.count_documents({}) == 0


async def test_a_leased_job_that_lost_its_lease_mid_step_writes_nothing_and_the_new_holder_carries_on(mongo):
    outbox = Outbox(mongo)
    done: list[str] = []
    stall = asyncio.Event()

    def job(name):
        async def step():
            if name in done:
                return False
            if name == "first":
                await stall.wait()  # paused past its lease
            await mongo.transaction(deposit(mongo, outbox, name))
            done.append(name)
            return False

        return LeasedJob(mongo, "kit-test:due-sweep", step, interval=0.1, lease_seconds=1)

    first, second = job("first"), job("second")
    first.start()
    await asyncio.sleep(0.2)
    second.start()
    try:
        while "second" not in done:
            await asyncio.sleep(0.1)
        stall.set()
        await asyncio.sleep(0.5)
    finally:
        await first.stop()
        await second.stop()
    assert "first" not in done
    assert await mongo.db["accounts"].distinct("_id") == ["second"]
    assert [d["lease"]["epoch"] for d in await outbox.collection.find({}).to_list()] == [2]


async def test_a_leased_jobs_write_outside_a_fenced_transaction_is_reported(mongo):
    lease = Lease(mongo, "calendar-recompute", seconds=10)
    assert await lease.hold()
    UNFENCED_WRITES.labels("update")  # the series exists from here on, at 0 if never counted

    def unfenced() -> float:
        return REGISTRY.get_sample_value("crm_unfenced_writes_total", {"command": "update"}) or 0.0

    before = unfenced()
    with fenced_by(lease):
        await mongo.transaction(
            lambda s: mongo.db["state"].update_one({"_id": 1}, {"$set": {"n": 1}}, upsert=True, session=s)
        )
        assert unfenced() == before  # in the fenced transaction: fine
        await mongo.db["state"].update_one({"_id": 1}, {"$set": {"n": 2}})  # a bare write: a stale holder's would land
    assert unfenced() == before + 1
    await mongo.db["state"].update_one({"_id": 1}, {"$set": {"n": 3}})  # outside a leased job: not a job's write
    assert unfenced() == before + 1
