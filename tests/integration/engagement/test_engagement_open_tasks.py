"""One open task per customer, kind and occasion, against the real broker and database.

The duplicates seen in a quiet run came from the idle-funds trigger: a task's id held the `as_of` of the balance
event that crossed the amount, so a customer whose AUM crossed it on two days of the feed got two tasks with
different ids — and, counted from the same business day (or across a weekend), the same due date. The store now
keeps each open task's occasion as a unique key (`open_task_keys`), so the second is never stored."""

from __future__ import annotations

from datetime import UTC, date, datetime

from crm_engagement.adapters.store import task_from_doc
from crm_engagement.domain.customer import EngagedCustomer
from crm_engagement.domain.policy import DEFAULT_POLICY
from crm_engagement.domain.tasks import open_key
from crm_engagement.service.context import Loaded, save
from engagement_support import TASK_CREATED, assets, auth, consent, registered, tier_changed, wait_customer
from support import eventually


async def _open(engagement, token, customer_id, kind=None):
    params = {"customer_id": customer_id, "status": "open", **({"kind": kind} if kind else {})}
    r = await engagement.get("/v1/tasks", params=params, headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _duplicates(docs):
    seen: dict[tuple, int] = {}
    for d in docs:
        pair = (d["customer_id"], d["kind"], d["due_on"], d["status"])
        seen[pair] = seen.get(pair, 0) + 1
    return {pair: n for pair, n in seen.items() if n > 1}


async def test_idle_funds_crossed_on_two_days_make_one_open_recommendation(engagement, feed, head_office, rm):
    await feed.profile(registered("C700"), consent("C700", "phone", True))
    await feed.tiering(tier_changed("C700", "ordinary", reason="first_tier"))
    await wait_customer(engagement, "C700", lambda d: d.get("tier") == "ordinary" and d["consents"].get("phone"))
    # Up across 100,000 on 12-02, down on 12-03, up again on 12-04 — in one delivery, then again in another.
    await feed.profile(
        assets("C700", "150000.00", "50000.00", date(2026, 12, 2)),
        assets("C700", "50000.00", "150000.00", date(2026, 12, 3)),
        assets("C700", "160000.00", "50000.00", date(2026, 12, 4)),
    )
    await wait_customer(engagement, "C700", lambda d: str(d.get("aum")) == "160000.00")
    await feed.profile(
        assets("C700", "40000.00", "160000.00", date(2026, 12, 5)),
        assets("C700", "170000.00", "40000.00", date(2026, 12, 6)),
    )
    await wait_customer(engagement, "C700", lambda d: str(d.get("aum")) == "170000.00")
    [task] = await _open(engagement, head_office, "C700", "product_recommendation")
    assert task["id"] == "C700:product_recommendation:2026-12-02" and task["occasion"] == "aum_above_100000.00"
    created = await feed.published(TASK_CREATED, "C700", count=2, settle=1.0)
    assert sorted(e["data"]["kind"] for e in created) == ["follow_up", "product_recommendation"]
    assert await engagement.store.open_keys.find_one({"_id": "C700:product_recommendation:aum_above_100000.00"}) == {
        "_id": "C700:product_recommendation:aum_above_100000.00",
        "task_id": task["id"],
        "customer_id": "C700",
    }

    # Done, the occasion is free again: the next crossing plans the next recommendation.
    r = await engagement.post(
        f"/v1/tasks/{task['id']}/complete", headers=rm, json={"outcome": "reached", "channel": "visit"}
    )  # met at the branch: no quiet hours at any hour
    assert r.status_code == 200, r.text
    await feed.profile(
        assets("C700", "30000.00", "170000.00", date(2026, 12, 7)),
        assets("C700", "180000.00", "30000.00", date(2026, 12, 8)),
    )

    async def next_one():
        items = await _open(engagement, head_office, "C700", "product_recommendation")
        return items or None

    [again] = await eventually(next_one)
    assert again["id"] == "C700:product_recommendation:2026-12-08"
    assert _duplicates(await engagement.store.tasks.find({"status": "open"}).to_list()) == {}


async def test_two_writers_planning_one_occasion_store_one_task(engagement, head_office):
    """Two units of work (as two consumers or replicas would) plan the same occasion under different ids: the second
    is taken out in its own transaction, without an error that would stop its batch, and the cadence rule follows the
    task that is open."""
    service = engagement.service
    policy = DEFAULT_POLICY

    async def plan(day: str) -> Loaded:
        async def work(repos):
            loaded = Loaded()
            customer = loaded.customers["C710"] = EngagedCustomer(
                customer_id="C710", branch="BR001", owner="S-RM1", tier="vip"
            )
            loaded.open_tasks["C710"] = []
            due = date.fromisoformat(day)
            task = customer.plan_task(
                kind="follow_up",
                due_on=due,
                channel="visit",
                policy=policy,
                now=service.now(),
                parts=("monthly_call", day),
                occasion="monthly_call",
            )
            customer.cadence["monthly_call"] = {"task": task.task_id, "last_done": None}
            customer.plan_task(
                kind="product_recommendation",
                due_on=due,
                channel="visit",
                policy=policy,
                now=service.now(),
                parts=(day,),
                occasion="aum_above_100000.00",
            )
            customer.plan_task(
                kind="product_recommendation",
                due_on=due,
                channel="visit",
                policy=policy,
                now=service.now(),
                parts=(f"{day}-again",),
                occasion="aum_above_100000.00",
            )
            loaded.causes["C710"] = (None, None)
            await save(service, repos, loaded)
            return loaded

        return await service.uow.run(work)

    await plan("2026-12-10")
    second = await plan("2026-12-11")
    docs = await engagement.store.tasks.find({"customer_id": "C710"}).to_list()
    assert sorted(d["_id"] for d in docs) == [
        "C710:follow_up:monthly_call:2026-12-10",
        "C710:product_recommendation:2026-12-10",
    ]
    assert second.customers["C710"].cadence["monthly_call"]["task"] == "C710:follow_up:monthly_call:2026-12-10"
    assert (
        {d["open_key"] for d in docs}
        == {open_key(task_from_doc(d)) for d in docs}
        == {"C710:follow_up:monthly_call", "C710:product_recommendation:aum_above_100000.00"}
    )


async def test_open_tasks_stored_before_the_keys_take_theirs_once(engagement):
    """A database from before the open-task keys: its open tasks claim their keys (the earliest of a pair already
    doubled), so nothing new duplicates them; the claim runs once."""
    store = engagement.store
    base = {
        "customer_id": "C720",
        "kind": "product_recommendation",
        "purpose": "marketing",
        "channel": "visit",
        "due_on": "2026-12-04",
        "assignee": "S-RM1",
        "branch": "BR001",
        "tier": "vip",
        "status": "open",
        "occasion": "aum_above_100000.00",
        "history": [],
    }
    await store.tasks.insert_many(
        [
            {**base, "_id": "C720:product_recommendation:2026-11-28", "created_at": datetime(2026, 11, 28, tzinfo=UTC)},
            {**base, "_id": "C720:product_recommendation:2026-11-29", "created_at": datetime(2026, 11, 29, tzinfo=UTC)},
        ]
    )
    await store.scheduler.delete_one({"_id": "migration:open_task_keys"})
    await store.claim_keys_of_open_tasks()
    assert await store.open_keys.find_one({"_id": "C720:product_recommendation:aum_above_100000.00"}) == {
        "_id": "C720:product_recommendation:aum_above_100000.00",
        "task_id": "C720:product_recommendation:2026-11-28",
        "customer_id": "C720",
    }
    assert (await store.scheduler.find_one({"_id": "migration:open_task_keys"}))["done"] is True
