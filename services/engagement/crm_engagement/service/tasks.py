"""Follow-up tasks through the API: the lists, a staff member's day, completing a task (the contact it
stands for is checked against the contact rules), reassignment by supervisors and tasks made by hand."""

from __future__ import annotations

from datetime import date
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.engagement import TaskCompleted, TaskReassigned
from crm_engagement.adapters.store import task_from_doc
from crm_engagement.domain.tasks import is_overdue, open_key, priority
from crm_engagement.schemas import TaskAssign, TaskComplete, TaskCreate
from crm_engagement.service import contacts, interactions, policies
from crm_engagement.service.context import Engagement, load, save
from crm_engagement.service.scope import TASKS, customer_in_scope
from crm_kit.auth import ALL_SCOPE, BRANCH_SCOPE, Principal, Role
from crm_kit.clock import local_day
from crm_kit.errors import Conflict, Forbidden, Invalid, NotFound, must_exist

SUPERVISORS = frozenset({Role.RM_SUPERVISOR, Role.BRANCH_MANAGER, Role.HEAD_OFFICE, Role.ADMIN})


def view(doc: dict[str, Any], *, today: date | None = None) -> dict[str, Any]:
    out = {"id": doc["_id"], **{k: v for k, v in doc.items() if k not in ("_id", "open_key")}}
    if today is not None and doc["status"] == "open":
        out["overdue"] = is_overdue(status=doc["status"], due_on=date.fromisoformat(doc["due_on"]), today=today)
    return out


async def list_tasks(
    *,
    e: Engagement,
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
    today = e.today()
    query: dict[str, Any] = dict(TASKS.query(principal))
    for k, v in (("assignee", assignee), ("customer_id", customer_id), ("kind", kind), ("status", status)):
        if v:
            query[k] = v
    due: dict[str, str] = {}
    if due_from:
        due["$gte"] = due_from.isoformat()
    if due_to:
        due["$lte"] = due_to.isoformat()
    if overdue is True:
        query["status"] = "open"
        due["$lt"] = min(due.get("$lt", "9999"), today.isoformat())
    elif overdue is False:
        query = {"$and": [query, {"$or": [{"status": {"$ne": "open"}}, {"due_on": {"$gte": today.isoformat()}}]}]}
    if due:
        query = {"$and": [query, {"due_on": due}]}
    if after:
        query = {"$and": [query, {"_id": {"$gt": after}}]}
    docs = await e.store.tasks.find(query, {"history": 0}).sort("_id", 1).limit(limit + 1).to_list()
    more = len(docs) > limit
    docs = docs[:limit]
    return {"items": [view(d, today=today) for d in docs], "next": docs[-1]["_id"] if more else None}


async def get_task(*, e: Engagement, principal: Principal, task_id: str) -> dict[str, Any]:
    doc = await e.store.tasks.find_one({"_id": task_id})
    if doc is None or not TASKS.allows(principal, doc):
        raise NotFound(f"task {task_id} not found")
    return view(doc, today=e.today())


async def agenda(*, e: Engagement, principal: Principal, staff: str | None, on: date | None) -> dict[str, Any]:
    """The open tasks a staff member should work on `on` (default today): due that day or earlier (overdue), and
    visible by then; most important first — the customer's tier, then the due date, then the kind."""
    staff = staff or principal.staff_id
    day = on or e.today()
    query: dict[str, Any] = {"assignee": staff, "status": "open", "due_on": {"$lte": day.isoformat()}}
    if staff != principal.staff_id:
        if principal.role in BRANCH_SCOPE:
            query["branch"] = principal.branch
        elif principal.role not in ALL_SCOPE:
            raise Forbidden("you may see only your own agenda")
    docs = await e.store.tasks.find(query, {"history": 0}).to_list()
    docs = [d for d in docs if not d.get("visible_from") or d["visible_from"] <= day.isoformat()]
    docs.sort(key=lambda d: priority(tier=d.get("tier"), due_on=d["due_on"], kind=d["kind"]))
    return {"staff_id": staff, "date": day, "items": [view(d, today=day) for d in docs]}


async def complete(*, e: Engagement, principal: Principal, task_id: str, body: TaskComplete) -> dict[str, Any]:
    at = interactions._when(e, body.occurred_at)  # noqa: SLF001 - the same rule as a logged contact

    async def txn(s: AsyncClientSession) -> tuple[dict[str, Any] | None, contacts.BlockedAttempt | None]:
        doc = await e.store.tasks.find_one({"_id": task_id}, session=s)
        if doc is None or not TASKS.allows(principal, doc):
            raise NotFound(f"task {task_id} not found")
        if doc["status"] != "open":
            raise Conflict(
                f"task {task_id} is {doc['status']}; only an open task can be completed", state=doc["status"]
            )
        if doc.get("assignee") != principal.staff_id and principal.role not in SUPERVISORS:
            raise Forbidden(f"task {task_id} is assigned to {doc.get('assignee')}; a supervisor may reassign it")
        policy, version = await policies.current(e, s)
        loaded = await load(e, s, [doc["customer_id"]])
        c = loaded.get_or_new(doc["customer_id"])
        task = next((t for t in loaded.tasks_of(c.customer_id) if t.task_id == task_id), task_from_doc(doc))
        channel = body.channel or task.channel
        if body.outcome != "not_needed":
            blocked = await contacts.check(
                e,
                s,
                customer=c,
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
        await e.store.tasks.update_one(
            {"_id": task_id, "status": "open"},
            {
                "$set": {
                    "status": "done",
                    "completed_at": at,
                    "completed_by": principal.staff_id,
                    "outcome": body.outcome,
                    "completed_channel": channel,
                    "notes": body.notes,
                    "on_time": on_time,
                },
                "$push": {
                    "history": {"at": e.now(), "action": "completed", "by": principal.staff_id, "outcome": body.outcome}
                },
            },
            session=s,
        )
        task.status = "done"
        if (key := open_key(task)) is not None:  # the occasion is free again: a next task may be planned for it
            await e.store.open_keys.delete_one({"_id": key, "task_id": task_id}, session=s)
        if body.outcome != "not_needed":
            await interactions.record(
                e,
                s,
                customer=c,
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
        c.events.append(
            TaskCompleted(
                task_id=task_id,
                customer_id=c.customer_id,
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
            c.follow_up_done(task, on=day)
            c.plan_cadence(
                policy=policy,
                version=version,
                today=max(day, e.today()),
                now=e.now(),
                open_tasks=[t for t in loaded.tasks_of(c.customer_id) if t.task_id != task_id],
                working_day=e.after_public_holiday,
            )
        loaded.causes[c.customer_id] = (None, None)
        await save(e, s, loaded)
        return await e.store.tasks.find_one({"_id": task_id}, session=s), None

    done, blocked = await e.rt.mongo.transaction(txn)
    e.rt.outbox.notify()
    if blocked:
        raise blocked.error("contact for this task")
    assert done is not None
    return view(done, today=e.today())


async def reassign(*, e: Engagement, principal: Principal, task_id: str, body: TaskAssign) -> dict[str, Any]:
    now = e.now()

    async def txn(s: AsyncClientSession) -> dict[str, Any]:
        doc = await e.store.tasks.find_one({"_id": task_id}, session=s)
        if doc is None or not TASKS.allows(principal, doc):
            raise NotFound(f"task {task_id} not found")
        if doc["status"] != "open":
            raise Conflict(
                f"task {task_id} is {doc['status']}; only an open task can be reassigned", state=doc["status"]
            )
        if doc.get("assignee") == body.assignee:
            return doc
        await _must_be_branch_staff(e, s, staff_id=body.assignee, branch=doc.get("branch"), principal=principal)
        await e.store.tasks.update_one(
            {"_id": task_id},
            {
                "$set": {"assignee": body.assignee},
                "$push": {
                    "history": {
                        "at": now,
                        "action": "reassigned",
                        "by": principal.staff_id,
                        "from": doc.get("assignee"),
                        "to": body.assignee,
                        "reason": body.reason,
                    }
                },
            },
            session=s,
        )
        await e.rt.outbox.add(
            s,
            [
                e.event(
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
        await e.store.audit.record(
            s,
            staff_id=principal.staff_id,
            role=principal.role.value,
            action="task.reassigned",
            target=task_id,
            detail={"from": doc.get("assignee"), "to": body.assignee, "reason": body.reason},
        )
        return must_exist(await e.store.tasks.find_one({"_id": task_id}, session=s), f"task {task_id}")

    doc = await e.rt.mongo.transaction(txn)
    e.rt.outbox.notify()
    return view(doc, today=e.today())


async def _must_be_branch_staff(
    e: Engagement, s: AsyncClientSession, *, staff_id: str, branch: str | None, principal: Principal
) -> None:
    """A task goes only to staff of the customer's branch — as engagement knows them: someone who owns customers
    there, or the supervisor doing it. Anyone else could read the task's notes about a customer out of their
    scope, and a typo would leave the task with nobody."""
    if staff_id == principal.staff_id and principal.branch == branch:
        return
    if await e.store.customers.find_one({"branch": branch, "owner": staff_id}, {"_id": 1}, session=s) is None:
        raise Invalid(
            f"assignee: {staff_id} is not staff of branch {branch} (owns no customer there)", field="assignee"
        )


async def create(*, e: Engagement, principal: Principal, body: TaskCreate) -> dict[str, Any]:
    """A task made by hand (e.g. a call-back the customer asked for), for the caller or, by a supervisor, for a
    colleague. Planned on a channel the customer has not refused, like every task."""
    now, today = e.now(), e.today()
    if body.due_on < today:
        raise Invalid("due_on: is in the past", field="due_on")
    if body.assignee and body.assignee != principal.staff_id and principal.role not in SUPERVISORS:
        raise Forbidden("only a supervisor may create a task for someone else")

    async def txn(s: AsyncClientSession) -> dict[str, Any]:
        customer = await customer_in_scope(e, principal, body.customer_id, s)
        if body.assignee and body.assignee != principal.staff_id:
            await _must_be_branch_staff(e, s, staff_id=body.assignee, branch=customer.branch, principal=principal)
        policy, _ = await policies.current(e, s)
        loaded = await load(e, s, [body.customer_id])
        c = loaded.customers[body.customer_id]
        task = c.plan_task(
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
            blocked = c.events[-1]
            loaded.causes[c.customer_id] = (None, None)
            await save(e, s, loaded)
            return {"blocked": blocked}
        task.assignee = body.assignee or principal.staff_id
        loaded.causes[c.customer_id] = (None, None)
        await save(e, s, loaded)
        return must_exist(await e.store.tasks.find_one({"_id": task.task_id}, session=s), f"task {task.task_id}")

    doc = await e.rt.mongo.transaction(txn)
    e.rt.outbox.notify()
    if "blocked" in doc:
        b = doc["blocked"]
        raise Conflict(f"task blocked by rule {b.rule}: {b.detail}", rule=b.rule, attempt_id=b.attempt_id)
    return view(doc, today=today)
