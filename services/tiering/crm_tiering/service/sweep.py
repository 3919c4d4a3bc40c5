"""Re-evaluation of customers whose balance did not change but whose dates came due: a downgrade's
grace period ending, dormancy, a large drop or a low survey answer leaving its window, a new customer growing up.

The clock is the balance feed's business date, never the wall clock: a balance that does not change
holds (the profile reports changes only). The sweep works on the last complete day — the day before
the latest snapshot date seen — because that day's snapshots may still be arriving for other
customers on other partitions, and a downgrade applied before the customer's own snapshot of the day
would flap back when it arrives."""

from __future__ import annotations

from datetime import timedelta

from crm_tiering.adapters.repositories import TieringRepositories
from crm_tiering.service.assignment import Owners
from crm_tiering.service.context import Tiering, save


async def sweep_step(service: Tiering) -> bool:
    """Evaluate one chunk of the customers due on the last complete day. True while there is more.

    Runs once per new business day: the due customers are listed with one query (a range query costs a
    scan, so not one per chunk), then handled chunk by chunk, each in its own transaction; the day is
    marked done at the end. After a crash the list is read again: customers already handled are no
    longer due."""
    chunk = service.rt.settings.rollout_chunk_size
    reading = service.uow.reading()
    latest = await reading.clock.business_date()
    if latest is None:
        return False
    today = latest - timedelta(days=1)
    through = await reading.clock.swept_through()
    if through is not None and through >= today.isoformat():
        return False
    key = f"sweep:{today.isoformat()}"

    async def due() -> list[str]:
        return await reading.customers.due_by(today)

    ids = await service.work_lists.next_chunk(key, size=chunk, fetch=due)

    async def work(repos: TieringRepositories) -> None:
        if not ids:
            await repos.clock.mark_swept(today.isoformat())
            return
        policy, number = await repos.policies.current()
        loaded = await repos.customers.load(ids)
        owners = Owners(repos, policy=policy, loaded=loaded)
        # Day by day over what came due, each on its own date: a sweep that comes late (the feed jumped several
        # days, a week arrived at once, the process was down) gives what a sweep every night would have.
        while due := sorted(
            (customer.due_on, cid)
            for cid, customer in loaded.customers.items()
            if customer.due_on is not None and customer.due_on <= today and not customer.merged_into
        ):
            on = due[0][0]
            tonight = [loaded.customers[cid] for day, cid in due if day == on]
            for customer in tonight:
                customer.evaluate(
                    on=on,
                    policy=policy,
                    version=number,
                    policy_changed=customer.policy_version is not None and customer.policy_version < number,
                )
            await owners.settle(tonight)
        await save(service, repos, loaded)

    await service.uow.run(work)
    service.published()
    if ids:
        service.work_lists.advance(key, ids[-1])
    else:
        service.work_lists.forget(key)
    return bool(ids)
