"""The daily scheduler: for each business day it re-plans customers whose plan is older than the policy,
creates the care-moment tasks (birthdays, anniversaries, festivals) that come within each tier's lead
time, flags overdue tasks (task-overdue.v1) and credits the month's loyalty points.

Each phase walks customers (or tasks) in id order, one chunk per transaction; the chunk's tasks, events
and the phase's cursor commit together. A scheduler killed half-way resumes at the cursor, and since a
task's id is its reason (`C1:birthday:2026`) even a chunk done twice could not make a task twice."""

from __future__ import annotations

from datetime import date

from crm_contracts.engagement import TaskOverdue
from crm_contracts.tiering import is_tier_name
from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.service import points
from crm_engagement.service.context import Engagement, load, save
from crm_kit.logging import get_logger

log = get_logger(__name__)
PHASES = ("replan", "care", "overdue", "points")


async def step(service: Engagement) -> bool:
    """One chunk of today's work. True while there is more."""
    day = service.today()
    version = 0  # the policy version a replan run brings customers to (the other phases do not depend on it)
    reading = service.uow.reading()
    for phase in PHASES:
        key = f"{phase}:{day.isoformat()}" if phase != "points" else f"points:{day:%Y-%m}"
        state = await reading.scheduler.state(key)
        if state is not None and state.get("done"):
            continue
        if phase == "replan":
            _, version = await reading.policies.current()
            key = f"replan:{version}"
            state = await reading.scheduler.state(key)
            if state is not None and state.get("done"):
                continue
        cursor = (state or {}).get("cursor", "")
        await _chunk(service, phase, key, day, cursor, version)
        return True
    return False


async def _needing_work(
    repos: EngagementRepositories, phase: str, day: date, version: int, among: list[str] | None = None
) -> list[str]:
    """The ids of the records (tasks for `overdue`, else customers) that need the phase's work; of `among` when
    given, in id order."""
    if phase == "overdue":
        if among is None:
            return await repos.tasks.falling_overdue(day)
        return [task.task_id for task in await repos.tasks.falling_overdue_among(day, among)]
    if phase == "replan":
        return await repos.customers.not_planned_under(version, among)
    return await repos.customers.tiered(among)


async def _chunk(service: Engagement, phase: str, key: str, day: date, cursor: str, version_of_run: int) -> None:
    size = service.rt.settings.scheduler_chunk_size

    async def to_visit() -> list[str]:
        return await _needing_work(service.uow.reading(), phase, day, version_of_run)

    ids = await service.work_lists.next_chunk(key, size=size, fetch=to_visit, after=cursor)
    last = service.work_lists.is_last(key, ids)

    async def work(repos: EngagementRepositories) -> int:
        policy, version = await repos.policies.current()
        now = service.now()
        # The list was read when the run began: what still needs the work is read again, by id.
        if phase == "overdue":
            overdue = await repos.tasks.falling_overdue_among(day, ids) if ids else []
            if overdue:
                await repos.tasks.mark_overdue([task.task_id for task in overdue], day)
                await repos.outbox.add(
                    [
                        service.event(
                            TaskOverdue(
                                task_id=task.task_id,
                                customer_id=task.customer_id,
                                kind=task.kind,
                                assignee=task.assignee,
                                branch=task.branch,
                                tier=task.tier,
                                due_on=task.due_on,
                                detected_on=day,
                                provisional=task.provisional or None,
                            ),
                            customer_id=task.customer_id,
                        )
                        for task in sorted(overdue, key=lambda task: task.task_id)
                    ],
                )
        else:
            # A customer is loaded below, with its tasks.
            customer_ids = await _needing_work(repos, phase, day, version_of_run, ids) if ids else []
            loaded = await load(repos, customer_ids, with_tasks=phase == "replan")
            earnings: list[points.Earning] = []
            for cid in customer_ids:
                customer = loaded.customers[cid]
                if phase == "replan":
                    customer.plan_cadence(
                        policy=policy,
                        version=version,
                        today=day,
                        now=now,
                        open_tasks=loaded.tasks_of(cid),
                        working_day=service.after_public_holiday,
                    )
                elif phase == "care":
                    customer.plan_care(policy=policy, today=day, now=now)
                elif phase == "points":
                    monthly = policy.points.monthly.get(customer.tier, 0) if is_tier_name(customer.tier) else 0
                    if monthly:
                        earnings.append(
                            points.Earning(
                                cid,
                                f"{cid}:monthly:{day:%Y-%m}",
                                monthly,
                                "monthly_tier",
                                f"{customer.tier} customer, {day:%Y-%m}",
                            )
                        )
                loaded.causes[cid] = (None, None)
            await points.credit_many(service, repos, earnings, now=now)
            await save(service, repos, loaded)
        await repos.scheduler.save_progress(
            key, cursor=ids[-1] if ids else cursor, done=last, visited=len(ids), now=now
        )
        return len(ids)

    visited = await service.uow.run(work)
    service.published()
    if last:
        service.work_lists.forget(key)
    else:
        service.work_lists.advance(key, ids[-1])
    if visited:
        log.info("scheduler chunk", phase=phase, key=key, visited=visited)
