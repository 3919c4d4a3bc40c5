"""Re-evaluation of customers whose balance did not change but whose dates came due: a downgrade's
grace period ending, dormancy, a large drop leaving the window, a new customer growing up.

The clock is the balance feed's business date, never the wall clock: a balance that does not change
holds (the profile reports changes only). The sweep works on the last complete day — the day before
the latest snapshot date seen — because that day's snapshots may still be arriving for other
customers on other partitions, and a downgrade applied before the customer's own snapshot of the day
would flap back when it arrives."""

from __future__ import annotations

from datetime import date, timedelta

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_tiering.service import policies
from crm_tiering.service.assignment import assign_owners
from crm_tiering.service.context import Tiering, load, save


async def business_date(t: Tiering, session: AsyncClientSession | None = None) -> date | None:
    doc = await t.store.customers.find_one({"as_of": {"$ne": None}}, {"as_of": 1}, sort=[("as_of", DESCENDING)],
                                           session=session)
    return date.fromisoformat(doc["as_of"]) if doc else None


async def sweep_step(t: Tiering) -> bool:
    """Evaluate one chunk of due customers. True while there may be more."""
    chunk = t.rt.settings.rollout_chunk_size

    async def txn(s: AsyncClientSession) -> bool:
        latest = await business_date(t, s)
        if latest is None:
            return False
        today = latest - timedelta(days=1)
        ids = [d["_id"] for d in await t.store.customers.find(
            {"due_on": {"$ne": None, "$lte": today.isoformat()}, "merged_into": None}, {"_id": 1}, session=s,
        ).sort("due_on", ASCENDING).limit(chunk).to_list()]
        if not ids:
            return False
        policy, number = await policies.current(t, s)
        loaded = await load(t, s, ids)
        for c in loaded.customers.values():
            c.evaluate(on=today, policy=policy, version=number,
                       policy_changed=c.policy_version is not None and c.policy_version < number)
        await assign_owners(t, s, list(loaded.customers.values()), policy=policy)
        await save(t, s, loaded)
        return len(ids) == chunk

    more = await t.rt.mongo.transaction(txn)
    t.rt.outbox.notify()
    return more
