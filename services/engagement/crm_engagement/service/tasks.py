"""Follow-up tasks through the API: the lists, a staff member's day, completing a task (the contact it
stands for is checked against the contact rules), reassignment by supervisors and tasks made by hand."""

from __future__ import annotations

from datetime import date
from typing import Any

from crm_contracts.engagement import TaskCompleted, TaskReassigned
from crm_engagement.adapters.repositories import EngagementRepositories, TaskFilter
from crm_engagement.adapters.store import task_from_doc
from crm_engagement.domain.tasks import is_overdue, open_key, priority
from crm_engagement.schemas import TaskAssign, TaskComplete, TaskCreate
from crm_engagement.service import contacts, interactions
from crm_engagement.service.context import Engagement, load, save
from crm_engagement.service.scope import TASKS, customer_in_scope
from crm_kit.auth import ALL_SCOPE, BRANCH_SCOPE, SUPERVISING, Principal
from crm_kit.clock import local_day
from crm_kit.errors import Conflict, Forbidden, Invalid, NotFound, must_exist


def view(doc: dict[str, Any], *, today: date | None = None) -> dict[str, Any]:
    out = {"id": doc["_id"], **{k: v for k, v in doc.items() if k not in ("_id", "open_key")}}
    if today is not None and doc["status"] == "open":
        out["overdue"] = is_overdue(status=doc["status"], due_on=date.fromisoformat(doc["due_on"]), today=today)
    return out


async def list_tasks(
    *,
    service: Engagement,
    principal: Principal,
    assignee: str | None,
    customer_id: str | None,
    kind: str | None,
    status: str | None,
    due_from: date | None,
    due_to: date | None,
    overdue: bool | None,
    limit: int,
    after: str | None,
) -> dict[str, Any]:
    today = service.today()
    wanted = TaskFilter(
        assignee=assignee,
        customer_id=customer_id,
        kind=kind,
        status=status,
        due_from=due_from,
        due_to=due_to,
        overdue=overdue,
    )
    docs = await service.uow.reading().tasks.page(principal, wanted, today=today, after=after, limit=limit + 1)
    more = len(docs) > limit
    docs = docs[:limit]
    return {"items": [view(doc, today=today) for doc in docs], "next": docs[-1]["_id"] if more else None}


async def get_task(*, service: Engagement, principal: Principal, task_id: str) -> dict[str, Any]:
    doc = await service.uow.reading().tasks.get(task_id)
    if doc is None or not TASKS.allows(principal, doc):
        raise NotFound(f"task {task_id} not found")
    return view(doc, today=service.today())


async def agenda(*, service: Engagement, principal: Principal, staff: str | None, on: date | None) -> dict[str, Any]:
    """The open tasks a staff member should work on `on` (default today): due that day or earlier (overdue), and
    visible by then; most important first — the customer's tier, then the due date, then the kind."""
    staff = staff or principal.staff_id
    day = on or service.today()
    within_branch = False
    if staff != principal.staff_id:
        if principal.role in BRANCH_SCOPE:
            within_branch = True
        elif principal.role not in ALL_SCOPE:
            raise Forbidden("you may see only your own agenda")
    docs = await service.uow.reading().tasks.due_by(staff, day, branch=principal.branch, within_branch=within_branch)
    docs = [doc for doc in docs if not doc.get("visible_from") or doc["visible_from"] <= day.isoformat()]
    docs.sort(key=lambda doc: priority(tier=doc.get("tier"), due_on=doc["due_on"], kind=doc["kind"]))
    return {"staff_id": staff, "date": day, "items": [view(doc, today=day) for doc in docs]}


async def complete(*, service: Engagement, principal: Principal, task_id: str, body: TaskComplete) -> dict[str, Any]:
    at = interactions.when(service, body.occurred_at)  # the same rule as a logged contact

    async def work(repos: EngagementRepositories) -> tuple[dict[str, Any] | None, contacts.BlockedAttempt | None]:
        doc = await repos.tasks.get(task_id)
        if doc is None or not TASKS.allows(principal, doc):
            raise NotFound(f"task {task_id} not found")
        if doc["status"] != "open":
            raise Conflict(
                f"task {task_id} is {doc['status']}; only an open task can be completed", state=doc["status"]
            )
        if doc.get("assignee") != principal.staff_id and principal.role not in SUPERVISING:
            raise Forbidden(f"task {task_id} is assigned to {doc.get('assignee')}; a supervisor may reassign it")
        policy, version = await repos.policies.current()
        loaded = await load(repos, [doc["customer_id"]])
        customer = loaded.get_or_new(doc["customer_id"])
        task = next(
            (task for task in loaded.tasks_of(customer.customer_id) if task.task_id == task_id), task_from_doc(doc)
        )
        channel = body.channel or task.channel
        if body.outcome != "not_needed":
            blocked = await contacts.check(
                service,
                repos,
                customer=customer,
                channel=channel,
                purpose=task.purpose,
                at=at,
                policy=policy,
                staff_id=principal.staff_id,
                context="task",
                task_id=task_id,
            )
            if blocked:
                return None, blocked
        day = local_day(at)
        on_time = day <= task.due_on
        await repos.tasks.mark_done(
            task_id,
            {
                "status": "done",
                "completed_at": at,
                "completed_by": principal.staff_id,
                "outcome": body.outcome,
                "completed_channel": channel,
                "notes": body.notes,
                "on_time": on_time,
            },
            {"at": service.now(), "action": "completed", "by": principal.staff_id, "outcome": body.outcome},
        )
        task.status = "done"
        if (key := open_key(task)) is not None:  # the occasion is free again: a next task may be planned for it
            await repos.tasks.release_occasion(key, task_id)
        if body.outcome != "not_needed":
            await interactions.record(
                service,
                repos,
                customer=customer,
                channel=channel,
                purpose=task.purpose,
                direction="outbound",
                staff_id=principal.staff_id,
                occurred_at=at,
                policy=policy,
                task_id=task_id,
                outcome=body.outcome,
                notes=body.notes,
            )
        customer.events.append(
            TaskCompleted(
                task_id=task_id,
                customer_id=customer.customer_id,
                kind=task.kind,
                assignee=task.assignee,
                completed_by=principal.staff_id,
                completed_at=at,
                outcome=body.outcome,
                channel=channel,
                on_time=on_time,
            )
        )
        if task.kind == "follow_up":
            customer.follow_up_done(task, on=day)
            customer.plan_cadence(
                policy=policy,
                version=version,
                today=max(day, service.today()),
                now=service.now(),
                open_tasks=[other for other in loaded.tasks_of(customer.customer_id) if other.task_id != task_id],
                working_day=service.after_public_holiday,
            )
        loaded.causes[customer.customer_id] = (None, None)
        await save(service, repos, loaded)
        return await repos.tasks.get(task_id), None

    done, blocked = await service.uow.run(work)
    service.published()
    if blocked:
        raise blocked.error("contact for this task")
    assert done is not None
    return view(done, today=service.today())


async def reassign(*, service: Engagement, principal: Principal, task_id: str, body: TaskAssign) -> dict[str, Any]:
    now = service.now()

    async def work(repos: EngagementRepositories) -> dict[str, Any]:
        doc = await repos.tasks.get(task_id)
        if doc is None or not TASKS.allows(principal, doc):
            raise NotFound(f"task {task_id} not found")
        if doc["status"] != "open":
            raise Conflict(
                f"task {task_id} is {doc['status']}; only an open task can be reassigned", state=doc["status"]
            )
        if doc.get("assignee") == body.assignee:
            return doc
        await _must_be_branch_staff(repos, staff_id=body.assignee, branch=doc.get("branch"), principal=principal)
        await repos.tasks.reassign(
            task_id,
            body.assignee,
            {
                "at": now,
                "action": "reassigned",
                "by": principal.staff_id,
                "from": doc.get("assignee"),
                "to": body.assignee,
                "reason": body.reason,
            },
        )
        await repos.outbox.add(
            [
                service.event(
                    TaskReassigned(
                        task_id=task_id,
                        customer_id=doc["customer_id"],
                        from_assignee=doc.get("assignee"),
                        to_assignee=body.assignee,
                        reason="supervisor",
                        by=principal.staff_id,
                        at=now,
                    ),
                    customer_id=doc["customer_id"],
                )
            ],
        )
        await repos.audit.record(
            staff_id=principal.staff_id,
            role=principal.role.value,
            action="task.reassigned",
            target=task_id,
            detail={"from": doc.get("assignee"), "to": body.assignee, "reason": body.reason},
        )
        return must_exist(await repos.tasks.get(task_id), f"task {task_id}")

    doc = await service.uow.run(work)
    service.published()
    return view(doc, today=service.today())


async def _must_be_branch_staff(
    repos: EngagementRepositories, *, staff_id: str, branch: str | None, principal: Principal
) -> None:
    """A task goes only to staff of the customer's branch — as engagement knows them: someone who owns customers
    there, or the supervisor doing it. Anyone else could read the task's notes about a customer out of their
    scope, and a typo would leave the task with nobody."""
    if staff_id == principal.staff_id and principal.branch == branch:
        return
    if not await repos.customers.owns_any_in_branch(staff_id, branch):
        raise Invalid(
            f"assignee: {staff_id} is not staff of branch {branch} (owns no customer there)", field="assignee"
        )


async def create(*, service: Engagement, principal: Principal, body: TaskCreate) -> dict[str, Any]:
    """A task made by hand (e.g. a call-back the customer asked for), for the caller or, by a supervisor, for a
    colleague. Planned on a channel the customer has not refused, like every task."""
    now, today = service.now(), service.today()
    if body.due_on < today:
        raise Invalid("due_on: is in the past", field="due_on")
    if body.assignee and body.assignee != principal.staff_id and principal.role not in SUPERVISING:
        raise Forbidden("only a supervisor may create a task for someone else")

    async def work(repos: EngagementRepositories) -> dict[str, Any]:
        customer = await customer_in_scope(repos, principal, body.customer_id)
        if body.assignee and body.assignee != principal.staff_id:
            await _must_be_branch_staff(repos, staff_id=body.assignee, branch=customer.branch, principal=principal)
        policy, _ = await repos.policies.current()
        loaded = await load(repos, [body.customer_id])
        planning = loaded.customers[body.customer_id]
        task = planning.plan_task(
            kind="manual",
            due_on=body.due_on,
            channel=body.channel,
            policy=policy,
            now=now,
            parts=(now.strftime("%Y%m%d%H%M%S%f"),),
            note=body.note,
            created_by=principal.staff_id,
            purpose=body.purpose,
        )
        if task is None:
            blocked = planning.events[-1]
            loaded.causes[planning.customer_id] = (None, None)
            await save(service, repos, loaded)
            return {"blocked": blocked}
        task.assignee = body.assignee or principal.staff_id
        loaded.causes[planning.customer_id] = (None, None)
        await save(service, repos, loaded)
        return must_exist(await repos.tasks.get(task.task_id), f"task {task.task_id}")

    doc = await service.uow.run(work)
    service.published()
    if "blocked" in doc:
        blocked = doc["blocked"]
        raise Conflict(
            f"task blocked by rule {blocked.rule}: {blocked.detail}", rule=blocked.rule, attempt_id=blocked.attempt_id
        )
    return view(doc, today=today)
