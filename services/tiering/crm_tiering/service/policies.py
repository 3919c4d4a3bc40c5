"""Policy versions and the rollout that re-tiers every customer after a new one.

The rollout works through customers in id order, one chunk per transaction; the chunk's effects,
its events and the rollout's cursor commit together, so a crash resumes where the last chunk ended
and nothing is done twice. A customer already evaluated under the new version (by a balance that
arrived meanwhile) is skipped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_kit.errors import NotFound
from crm_kit.logging import get_logger
from crm_tiering.domain.policy import Policy
from crm_tiering.service.assignment import assign_owners
from crm_tiering.service.context import Tiering, load, save

log = get_logger(__name__)


async def ensure_default(t: Tiering) -> None:
    await t.policies.ensure_default()


async def current(t: Tiering, session: AsyncClientSession | None = None) -> tuple[Policy, int]:
    return await t.policies.current(session)


async def version(t: Tiering, number: int, session: AsyncClientSession | None = None) -> Policy | None:
    return await t.policies.version(number, session)


async def read(*, t: Tiering) -> dict[str, Any]:
    return await t.policies.read()


async def publish_new(*, t: Tiering, policy: Policy, by: str, role: str, note: str | None) -> dict[str, Any]:
    """Store the next version and start its rollout. Earlier unfinished rollouts are superseded: the new
    one visits every customer anyway."""
    now = datetime.now(UTC)

    async def txn(s: AsyncClientSession) -> dict[str, Any]:
        number = await t.policies.add(s, policy, by=by, note=note)
        await t.store.rollouts.update_many(
            {"status": "running"}, {"$set": {"status": "superseded", "finished_at": now}}, session=s
        )
        total = await t.store.customers.count_documents({}, session=s)
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
        await t.store.rollouts.insert_one(rollout, session=s)
        await t.store.audit.record(
            s,
            staff_id=by,
            role=role,
            action="policy.published",
            target=f"policy-{number}",
            detail={"note": note, "rollout": rollout["_id"]},
        )
        return rollout

    rollout = await t.rt.mongo.transaction(txn)
    if t.rollout_job:
        t.rollout_job.wake()
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


async def rollout(*, t: Tiering, rollout_id: str) -> dict[str, Any]:
    doc = await t.store.rollouts.find_one({"_id": rollout_id})
    if doc is None:
        raise NotFound(f"rollout {rollout_id} not found")
    return rollout_view(doc)


async def rollout_step(t: Tiering) -> bool:
    """Re-tier one chunk of the running rollout. True while there is more to do.

    The customers still to visit (ids after the cursor) are listed once per run of the job — a range
    query costs a scan on the database, so one per chunk would make a rollout quadratic — and each
    chunk commits its effects, its events and the new cursor together."""
    chunk = t.rt.settings.rollout_chunk_size
    job = await t.store.rollouts.find_one({"status": "running"}, sort=[("policy_version", ASCENDING)])
    if job is None:
        return False
    key = f"rollout:{job['_id']}"

    async def after_cursor() -> list[str]:
        return [
            d["_id"]
            for d in await t.store.customers.find({"_id": {"$gt": job["cursor"]}}, {"_id": 1})
            .sort("_id", ASCENDING)
            .to_list()
        ]

    ids = await t.work_lists.next_chunk(key, size=chunk, fetch=after_cursor, after=job["cursor"])

    async def txn(s: AsyncClientSession) -> bool:
        current = await t.store.rollouts.find_one({"_id": job["_id"]}, session=s)
        if current is None or current["status"] != "running":
            return False
        number = current["policy_version"]
        policy = await version(t, number, s)
        previous = await version(t, number - 1, s)
        assert policy is not None
        loaded = await load(t, s, ids)
        changed = 0
        todo: set[str] = set()
        for cid in ids:
            c = loaded.customers.get(cid)
            if c is None or c.merged_into or (c.policy_version or 0) >= number:
                continue
            todo.add(cid)
            before = c.tier
            on = c.evaluated_on or c.as_of
            if on is None:
                c.policy_version = number  # no balance yet: nothing to tier
                continue
            c.evaluate(on=on, policy=policy, version=number, policy_changed=True)
            changed += c.tier != before
            # New responsible roles for an unchanged tier also call for the right owner.
            old_rule, new_rule = (previous.rule(c.tier) if previous else None), policy.rule(c.tier)
            if c.tier and old_rule and new_rule and old_rule.responsible_roles != new_rule.responsible_roles:
                c.tier_entered = True
        await assign_owners(t, s, [loaded.customers[i] for i in sorted(todo)], policy=policy)
        await save(t, s, loaded, only=todo)
        now = datetime.now(UTC)
        finished = t.work_lists.is_last(key, ids)
        await t.store.rollouts.update_one(
            {"_id": job["_id"]},
            {
                "$set": {
                    "cursor": ids[-1] if ids else current["cursor"],
                    "updated_at": now,
                    **({"status": "done", "finished_at": now} if finished else {}),
                },
                "$inc": {"done": len(ids), "changed": changed},
            },
            session=s,
        )
        return not finished

    more = await t.rt.mongo.transaction(txn)
    t.rt.outbox.notify()
    if more and ids:
        t.work_lists.advance(key, ids[-1])
    else:
        t.work_lists.forget(key)
    return more
