"""Events that arrive late: a balance that overtakes the customer's registration (a redelivery, a replay, a
consumer restarted on another partition order) is kept and evaluated once the registration arrives, giving
what registration-first would have given. Nothing is dead-lettered, nothing is lost, nothing applied twice."""

from datetime import date, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from crm_contracts.topics import PROFILE_CUSTOMERS, dead_letter
from support import events, read_topic
from tiering_support import assets, envelope, registered, wait_tier

pytestmark = pytest.mark.integration

D0 = date(2026, 9, 1)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


async def send_numbered(feed, events) -> None:
    """Profile events with the profile's per-customer numbers (ce_sequence), in the order given."""
    producer = AIOKafkaProducer(bootstrap_servers=feed.bootstrap, acks="all")
    await producer.start()
    try:
        for (data, subject), seq in events:
            await producer.send_and_wait(
                feed.topic(PROFILE_CUSTOMERS),
                envelope(data, subject),
                key=subject.encode(),
                headers=[("ce_sequence", str(seq).encode())],
            )
    finally:
        await producer.stop()


def history(e: dict) -> tuple:
    d = {k: v for k, v in e["data"].items() if k not in ("customer_id", "assigned_at")}
    if d.get("note"):  # a hand-over's note names the customer's core banking number (assets(): "C" + id)
        d["note"] = d["note"].replace(f"C{e['subject']}", "<core no>")
    return e["type"], tuple(sorted(d.items(), key=lambda kv: kv[0]))


async def test_balances_before_the_registration_come_out_as_registration_first(
    tiering, feed, head_office, staff_directory
):
    await staff_directory(
        tiering, [("S-RM1", "BR001", ["relationship_manager"]), ("S-LC1", "BR001", ["low_counter_staff"])]
    )
    first, late = "CL-FIRST", "CL-LATE"

    def week(cid):
        return [assets(cid, day(0), "80000.00"), assets(cid, day(1), "600000.00"), assets(cid, day(2), "450000.00")]

    # The oracle: registration, then its balances.
    await send_numbered(feed, list(zip([registered(first, owner="S-LC1"), *week(first)], [1, 2, 3, 4], strict=True)))
    done = await wait_tier(tiering, first, head_office, lambda b: b["as_of"] == day(2).isoformat())

    # The same customer whose balances overtake the registration, one of them twice.
    balances = list(zip(week(late), [2, 3, 4], strict=True))
    await send_numbered(feed, [*balances, balances[1]])
    assert await feed.published("crm.tiering.customer.tier-changed.v1", late, timeout=1.5) == []
    await send_numbered(feed, [(registered(late, owner="S-LC1"), 1)])
    caught = await wait_tier(tiering, late, head_office, lambda b: b["as_of"] == day(2).isoformat())

    same = {k: v for k, v in done.items() if k != "customer_id"}
    assert {k: v for k, v in caught.items() if k != "customer_id"} == same
    assert (caught["tier"], caught["owner"]) == ("vip", "S-RM1")  # up on day 1, handed to the RM, in grace on day 2
    records = await feed.records(settle=1.0)
    oracle = [history(e) for e in _mine(records, first)]
    assert [history(e) for e in _mine(records, late)] == oracle
    assert [t for t, _ in oracle].count("crm.tiering.customer.tier-changed.v1") == 2
    assert await read_topic(feed.bootstrap, feed.topic(dead_letter(PROFILE_CUSTOMERS)), timeout=1.5) == []

    # Once registered, the held balances count as applied: sent again, they change nothing.
    await send_numbered(feed, balances)
    assert [history(e) for e in _mine(await feed.records(settle=1.5), late)] == oracle


def _mine(records, subject):
    return [e for e in events(records) if e["subject"] == subject]


async def test_a_customer_tiered_before_anyone_may_own_it_is_handed_over_when_someone_joins(
    tiering, feed, head_office, staff_directory
):
    # Branch BR009's directory is filled after its balances arrived: nobody may own a vip customer yet.
    waiting, owner_events = "CL-WAIT", "crm.tiering.customer.owner-assigned.v1"
    await staff_directory(tiering, [("S-LC9", "BR009", ["low_counter_staff"])])
    await feed.profile(registered(waiting, branch="BR009", owner="S-LC9"), assets(waiting, day(0), "600000.00"))
    view = await wait_tier(tiering, waiting, head_office, lambda b: b["tier"] == "vip")
    assert view["owner"] == "S-LC9"  # kept, and counted as waiting for a responsible owner
    assert await feed.published(owner_events, waiting, timeout=1.0) == []

    await staff_directory(tiering, [("S-RM9", "BR009", ["relationship_manager"])])
    [handed] = await feed.published(owner_events, waiting)
    assert (
        handed["data"]["previous_owner"],
        handed["data"]["new_owner"],
        handed["data"]["reason"],
        handed["data"]["tier"],
    ) == ("S-LC9", "S-RM9", "tier_responsibility", "vip")
    assert (await wait_tier(tiering, waiting, head_office, lambda b: b["owner"] == "S-RM9"))["tier"] == "vip"
    # Handed over once: another member joining later changes nothing.
    await staff_directory(tiering, [("S-RM8", "BR009", ["relationship_manager"])])
    assert len(await feed.published(owner_events, waiting, count=2, timeout=1.5)) == 1
