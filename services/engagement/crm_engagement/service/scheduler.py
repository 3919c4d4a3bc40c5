"""The daily scheduler: for each business day it re-plans customers whose plan is older than the policy,
creates the care-moment tasks (birthdays, anniversaries, festivals) that come within each tier's lead
time, flags overdue tasks (task-overdue.v1) and credits the month's loyalty points.

Each phase walks customers (or tasks) in id order, one chunk per transaction; the chunk's tasks, events
and the phase's cursor commit together. A scheduler killed half-way resumes at the cursor, and since a
task's id is its reason (`C1:birthday:2026`) even a chunk done twice could not make a task twice."""

from __future__ import annotations

from datetime import date
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.engagement import TaskOverdue
from crm_engagement.service import points, policies
from crm_engagement.service.context import Engagement, load, save
from crm_kit.logging import get_logger

log = get_logger(__name__)
PHASES = ("replan", "care", "overdue", "points")


async def step(e: Engagement) -> bool:
    """One chunk of today's work. True while there is more."""
    day = e.today()
    version = 0  # the policy version a replan run brings customers to (the other phases do not depend on it)
    for phase in PHASES:
        key = f"{phase}:{day.isoformat()}" if phase != "points" else f"points:{day:%Y-%m}"
        state = await e.store.scheduler.find_one({"_id": key})
        if state is not None and state.get("done"):
            continue
        if phase == "replan":
            _, version = await policies.current(e)
            key = f"replan:{version}"
            state = await e.store.scheduler.find_one({"_id": key})
            if state is not None and state.get("done"):
                continue
        cursor = (state or {}).get("cursor", "")
        await _chunk(e, phase, key, day, cursor, version)
        return True
    return False


def _work_of(e: Engagement, phase: str, day: date, version: int) -> tuple[Any, dict[str, Any]]:
    """The collection a phase walks and what makes a record need the phase's work."""
    if phase == "overdue":
        return e.store.tasks, {"status": "open", "overdue": False, "due_on": {"$lt": day.isoformat()}}
    query: dict[str, Any] = {"merged_into": None}
    if phase == "replan":
        query["plan_version"] = {"$lt": version}
    elif phase in ("care", "points"):
        query["tier"] = {"$ne": None}
    return e.store.customers, query


async def _chunk(e: Engagement, phase: str, key: str, day: date, cursor: str, version_of_run: int) -> None:
    size = e.rt.settings.scheduler_chunk_size
    collection, query = _work_of(e, phase, day, version_of_run)

    async def to_visit() -> list[str]:
        return [d["_id"] for d in await collection.find(query, {"_id": 1}).to_list()]

    ids = await e.work_lists.next_chunk(key, size=size, fetch=to_visit, after=cursor)
    last = e.work_lists.is_last(key, ids)

    async def txn(s: AsyncClientSession) -> int:
        policy, version = await policies.current(e, s)
        now = e.now()
        # The list was read when the run began: what still needs the work is read again, by id.
        fields = None if phase == "overdue" else {"_id": 1}  # a customer is loaded below, with its tasks
        still = (
            await collection.find({**query, "_id": {"$in": ids}}, fields, session=s).sort("_id", 1).to_list()
            if ids
            else []
        )
        if phase == "overdue":
            docs = still
            if docs:
                await e.store.tasks.update_many(
                    {"_id": {"$in": [d["_id"] for d in docs]}},
                    {"$set": {"overdue": True, "overdue_since": day.isoformat()}},
                    session=s,
                )
                await e.rt.outbox.add(
                    s,
                    [
                        e.event(
                            TaskOverdue(
                                task_id=d["_id"],
                                customer_id=d["customer_id"],
                                kind=d["kind"],
                                assignee=d.get("assignee"),
                                branch=d.get("branch"),
                                tier=d.get("tier"),
                                due_on=date.fromisoformat(d["due_on"]),
                                detected_on=day,
                                provisional=d.get("provisional") or None,
                            ),
                            customer_id=d["customer_id"],
                        )
                        for d in sorted(docs, key=lambda d: d["_id"])
                    ],
                )
        else:
            customer_ids = [d["_id"] for d in still]
            loaded = await load(e, s, customer_ids, with_tasks=phase == "replan")
            earnings: list[points.Earning] = []
            for cid in customer_ids:
                c = loaded.customers[cid]
                if phase == "replan":
                    c.plan_cadence(
                        policy=policy,
                        version=version,
                        today=day,
                        now=now,
                        open_tasks=loaded.tasks_of(cid),
                        working_day=e.after_public_holiday,
                    )
                elif phase == "care":
                    c.plan_care(policy=policy, today=day, now=now)
                elif phase == "points":
                    monthly = policy.points.monthly.get(c.tier, 0)  # type: ignore[call-overload]
                    if monthly:
                        earnings.append(
                            points.Earning(
                                cid,
                                f"{cid}:monthly:{day:%Y-%m}",
                                monthly,
                                "monthly_tier",
                                f"{c.tier} customer, {day:%Y-%m}",
                            )
                        )
                loaded.causes[cid] = (None, None)
            await points.credit_many(e, s, earnings, now=now)
            await save(e, s, loaded)
        done = last
        await e.store.scheduler.update_one(
            {"_id": key},
            {
                "$set": {"cursor": ids[-1] if ids else cursor, "done": done, "updated_at": now},
                "$inc": {"visited": len(ids)},
            },
            upsert=True,
            session=s,
        )
        return len(ids)

    visited = await e.rt.mongo.transaction(txn)
    e.rt.outbox.notify()
    if last:
        e.work_lists.forget(key)
    else:
        e.work_lists.advance(key, ids[-1])
    if visited:
        log.info("scheduler chunk", phase=phase, key=key, visited=visited)
