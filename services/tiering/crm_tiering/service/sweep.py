"""Re-evaluation of customers whose balance did not change but whose dates came due: a downgrade's
grace period ending, dormancy, a large drop or a low survey answer leaving its window, a new customer growing up.

The clock is the balance feed's business date, never the wall clock: a balance that does not change
holds (the profile reports changes only). The sweep works on the last complete day — the day before
the latest snapshot date seen — because that day's snapshots may still be arriving for other
customers on other partitions, and a downgrade applied before the customer's own snapshot of the day
would flap back when it arrives."""

from __future__ import annotations

from datetime import timedelta

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_tiering.service import policies
from crm_tiering.service.assignment import Owners
from crm_tiering.service.context import Tiering, business_date, load, save

SWEPT = "swept"  # clock document: the last day the sweep finished


async def sweep_step(t: Tiering) -> bool:
    """Evaluate one chunk of the customers due on the last complete day. True while there is more.

    Runs once per new business day: the due customers are listed with one query (a range query costs a
    scan, so not one per chunk), then handled chunk by chunk, each in its own transaction; the day is
    marked done at the end. After a crash the list is read again: customers already handled are no
    longer due."""
    chunk = t.rt.settings.rollout_chunk_size
    latest = await business_date(t)
    if latest is None:
        return False
    today = latest - timedelta(days=1)
    done = await t.store.clock.find_one({"_id": SWEPT})
    if done is not None and done["through"] >= today.isoformat():
        return False
    key = f"sweep:{today.isoformat()}"

    async def due() -> list[str]:
        return [
            d["_id"]
            for d in await t.store.customers.find(
                {"due_on": {"$ne": None, "$lte": today.isoformat()}, "merged_into": None}, {"_id": 1}
            ).to_list()
        ]

    ids = await t.work_lists.next_chunk(key, size=chunk, fetch=due)

    async def txn(s: AsyncClientSession) -> None:
        if not ids:
            await t.store.clock.update_one(
                {"_id": SWEPT}, {"$max": {"through": today.isoformat()}}, upsert=True, session=s
            )
            return
        policy, number = await policies.current(t, s)
        loaded = await load(t, s, ids)
        owners = Owners(t, s, policy=policy, loaded=loaded)
        # Day by day over what came due, each on its own date: a sweep that comes late (the feed jumped several
        # days, a week arrived at once, the process was down) gives what a sweep every night would have.
        while due := sorted(
            (c.due_on, cid)
            for cid, c in loaded.customers.items()
            if c.due_on is not None and c.due_on <= today and not c.merged_into
        ):
            on = due[0][0]
            tonight = [loaded.customers[cid] for day, cid in due if day == on]
            for c in tonight:
                c.evaluate(
                    on=on,
                    policy=policy,
                    version=number,
                    policy_changed=c.policy_version is not None and c.policy_version < number,
                )
            await owners.settle(tonight)
        await save(t, s, loaded)

    await t.rt.mongo.transaction(txn)
    t.rt.outbox.notify()
    if ids:
        t.work_lists.advance(key, ids[-1])
    else:
        t.work_lists.forget(key)
    return bool(ids)
