"""Policy versions and the rollout that re-tiers every customer after a new one.

The rollout works through customers in id order, one chunk per transaction; the chunk's effects,
its events and the rollout's cursor commit together, so a crash resumes where the last chunk ended
and nothing is done twice. A customer already evaluated under the new version (by a balance that
arrived meanwhile) is skipped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crm_kit.errors import NotFound
from crm_kit.logging import get_logger
from crm_tiering.adapters.repositories import TieringRepositories
from crm_tiering.domain.policy import Policy
from crm_tiering.service.assignment import assign_owners
from crm_tiering.service.context import Tiering, save

log = get_logger(__name__)


async def read(*, service: Tiering) -> dict[str, Any]:
    return await service.uow.reading().policies.read()


async def publish_new(*, service: Tiering, policy: Policy, by: str, role: str, note: str | None) -> dict[str, Any]:
    """Store the next version and start its rollout. Earlier unfinished rollouts are superseded: the new
    one visits every customer anyway."""
    now = datetime.now(UTC)

    async def work(repos: TieringRepositories) -> dict[str, Any]:
        number = await repos.policies.publish(policy, by=by, note=note)
        await repos.rollouts.supersede_running(at=now)
        total = await repos.customers.count()
        rollout = {
            "_id": f"rollout-{number}",
            "policy_version": number,
            "status": "running",
            "cursor": "",
            "total": total,
            "done": 0,
            "changed": 0,
            "started_at": now,
            "updated_at": now,
            "finished_at": None,
            "started_by": by,
        }
        await repos.rollouts.add(rollout)
        await repos.audit.record(
            staff_id=by,
            role=role,
            action="policy.published",
            target=f"policy-{number}",
            detail={"note": note, "rollout": rollout["_id"]},
        )
        return rollout

    rollout = await service.uow.run(work)
    if service.rollout_job:
        service.rollout_job.wake()
    log.info("policy published", version=rollout["policy_version"], customers=rollout["total"])
    return rollout_view(rollout)


def rollout_view(doc: dict[str, Any]) -> dict[str, Any]:
    done = doc["done"]
    total = max(doc["total"], done)  # customers registered during the rollout are visited too
    return {
        "id": doc["_id"],
        "policy_version": doc["policy_version"],
        "status": doc["status"],
        "total": total,
        "done": done,
        "changed": doc["changed"],
        "percent": round(100 * done / total, 1) if total else 100.0,
        "started_at": doc["started_at"],
        "updated_at": doc["updated_at"],
        "finished_at": doc.get("finished_at"),
    }


async def rollout(*, service: Tiering, rollout_id: str) -> dict[str, Any]:
    doc = await service.uow.reading().rollouts.load(rollout_id)
    if doc is None:
        raise NotFound(f"rollout {rollout_id} not found")
    return rollout_view(doc)


async def rollout_step(service: Tiering) -> bool:
    """Re-tier one chunk of the running rollout. True while there is more to do.

    The customers still to visit (ids after the cursor) are listed once per run of the job — a range
    query costs a scan on the database, so one per chunk would make a rollout quadratic — and each
    chunk commits its effects, its events and the new cursor together."""
    chunk = service.rt.settings.rollout_chunk_size
    reading = service.uow.reading()
    job = await reading.rollouts.first_running()
    if job is None:
        return False
    key = f"rollout:{job['_id']}"

    async def after_cursor() -> list[str]:
        return await reading.customers.ids_after(job["cursor"])

    ids = await service.work_lists.next_chunk(key, size=chunk, fetch=after_cursor, after=job["cursor"])

    async def work(repos: TieringRepositories) -> bool:
        current = await repos.rollouts.load(job["_id"])
        if current is None or current["status"] != "running":
            return False
        number = current["policy_version"]
        policy = await repos.policies.version(number)
        previous = await repos.policies.version(number - 1)
        assert policy is not None
        loaded = await repos.customers.load(ids)
        changed = 0
        todo: set[str] = set()
        for cid in ids:
            customer = loaded.customers.get(cid)
            if customer is None or customer.merged_into or (customer.policy_version or 0) >= number:
                continue
            todo.add(cid)
            before = customer.tier
            on = customer.evaluated_on or customer.as_of
            if on is None:
                customer.policy_version = number  # no balance yet: nothing to tier
                continue
            customer.evaluate(on=on, policy=policy, version=number, policy_changed=True)
            changed += customer.tier != before
            # New responsible roles for an unchanged tier also call for the right owner.
            old_rule, new_rule = (previous.rule(customer.tier) if previous else None), policy.rule(customer.tier)
            if customer.tier and old_rule and new_rule and old_rule.responsible_roles != new_rule.responsible_roles:
                customer.tier_entered = True
        await assign_owners(repos, [loaded.customers[i] for i in sorted(todo)], policy=policy)
        await save(service, repos, loaded, only=todo)
        finished = service.work_lists.is_last(key, ids)
        await repos.rollouts.advance(
            job["_id"],
            cursor=ids[-1] if ids else current["cursor"],
            at=datetime.now(UTC),
            finished=finished,
            done=len(ids),
            changed=changed,
        )
        return not finished

    more = await service.uow.run(work)
    service.published()
    if more and ids:
        service.work_lists.advance(key, ids[-1])
    else:
        service.work_lists.forget(key)
    return more
