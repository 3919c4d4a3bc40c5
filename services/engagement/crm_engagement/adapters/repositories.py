"""Engagement's repositories: every query the service makes, named in the bank's words, one class per aggregate,
each bound to one transaction's session (None: reading outside a transaction). `bind_to` builds the bundle the unit
of work hands the application (crm_kit.unit_of_work); the Protocols are what the application (and the unit tests'
in-memory fakes) see.

The documents' shapes and the mapping to domain objects are in `crm_engagement.adapters.store`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from pymongo import DeleteOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.engagement import ContactBlocked
from crm_engagement.adapters.store import EngagementStore, customer_from_doc, customer_state, task_doc, task_from_doc
from crm_engagement.domain.customer import EngagedCustomer
from crm_engagement.domain.points import Earning
from crm_engagement.domain.policy import EngagementPolicy
from crm_engagement.domain.tasks import TASKS, Task
from crm_kit.auth import Principal
from crm_kit.outbox import Outbox
from crm_kit.policies import PoliciesInTransaction, PolicyVersions
from crm_kit.unit_of_work import AuditOut, EventsOut, TransactionAudit, TransactionOutbox

Doc = dict[str, Any]


@dataclass(frozen=True)
class TaskFilter:
    """What a task list asks for, besides the caller's data scope."""

    assignee: str | None = None
    customer_id: str | None = None
    kind: str | None = None
    status: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    overdue: bool | None = None


@dataclass(frozen=True)
class DueDateRecount:
    """A task's due date counted again under a calendar revision: the fields set, and its history line if it moved.
    `only_open`: written only while the task is open."""

    task_id: str
    fields: dict[str, Any]
    history: dict[str, Any] | None = None
    only_open: bool = True


# --- what the application sees ---------------------------------------------------------------------------------


class Customers(Protocol):
    async def load_many(self, ids: list[str]) -> list[EngagedCustomer]:
        """The customers stored of `ids`; `save_many` then writes only what changed since."""
        ...

    async def save_many(self, customers: list[EngagedCustomer]) -> None: ...

    async def get(self, customer_id: str) -> EngagedCustomer | None: ...

    async def owns_any_in_branch(self, staff_id: str, branch: str | None) -> bool:
        """Whether `staff_id` owns a customer of `branch` (that is how engagement knows the branch's staff)."""
        ...

    async def mark_contact_checked(self, customer_id: str) -> None:
        """Touch the customer, so two marketing contacts checked at once conflict instead of both passing."""
        ...

    async def not_planned_under(self, version: int, among: list[str] | None = None) -> list[str]:
        """Ids of the customers (not merged away) whose plan is older than policy `version`; of `among`, in id
        order, when given."""
        ...

    async def tiered(self, among: list[str] | None = None) -> list[str]:
        """Ids of the customers (not merged away) with a tier; of `among`, in id order, when given."""
        ...


class Tasks(Protocol):
    async def open_of(self, customer_ids: list[str]) -> list[Task]: ...

    async def get(self, task_id: str) -> Doc | None:
        """The stored task, as the API shows it."""
        ...

    async def page(
        self, principal: Principal, wanted: TaskFilter, *, today: date, after: str | None, limit: int
    ) -> list[Doc]:
        """Up to `limit` tasks in `principal`'s scope after id `after`, in id order, without their history."""
        ...

    async def due_by(self, staff_id: str, day: date, *, branch: str | None, within_branch: bool) -> list[Doc]:
        """The open tasks assigned to `staff_id` due by `day` (of `branch` when `within_branch`), without history."""
        ...

    async def for_report(self, principal: Principal, branch: str | None) -> list[Doc]:
        """Assignee, status, due date and on-time flag of every task in scope (of `branch` when given)."""
        ...

    async def mark_done(self, task_id: str, fields: dict[str, Any], history: dict[str, Any]) -> None: ...

    async def reassign(self, task_id: str, assignee: str, history: dict[str, Any]) -> None: ...

    async def apply_changes(self, changes: list[tuple[str, dict[str, Any]]]) -> None:
        """The domain's changes to open tasks (`EngagedCustomer.task_changes`; `_push`: history lines)."""
        ...

    async def insert_new(self, tasks: list[Task]) -> set[str]:
        """Store the planned tasks whose id is not stored yet; returns the ids inserted."""
        ...

    async def claim_occasions(self, keyed: list[tuple[Task, str]]) -> set[str]:
        """Each task takes its occasion's key unless another task holds it; returns the ids that took theirs."""
        ...

    async def occasion_holders(self, keys: list[str]) -> dict[str, str]: ...

    async def remove(self, task_ids: list[str]) -> None: ...

    async def release_occasion(self, key: str, task_id: str) -> None: ...

    async def release_occasions(self, released: list[tuple[str, str]]) -> None:
        """(key, task id): each key given up, if that task holds it."""
        ...

    async def falling_overdue(self, day: date) -> list[str]:
        """Ids of the open tasks due before `day` not flagged overdue yet."""
        ...

    async def falling_overdue_among(self, day: date, ids: list[str]) -> list[Task]: ...

    async def mark_overdue(self, task_ids: list[str], day: date) -> None: ...

    async def provisional_not_under(self, revision: str, limit: int) -> list[Task]:
        """Open tasks whose due date rests on provisional days and was counted under another calendar revision."""
        ...

    async def recount(self, recounts: list[DueDateRecount]) -> None: ...


class Attempts(Protocol):
    async def add(self, doc: Doc) -> None: ...

    async def keep_blocked(self, blocked: list[tuple[ContactBlocked, str | None]]) -> set[str]:
        """(attempt, customer's branch): each kept once; returns the attempt ids new here."""
        ...

    async def latest(self, match: dict[str, Any], limit: int) -> list[Doc]:
        """Newest first, the attempts whose fields equal `match`'s."""
        ...


class Interactions(Protocol):
    async def add(self, doc: Doc) -> None: ...

    async def marketing_times(self, customer_id: str, *, after: datetime, before: datetime) -> list[datetime]:
        """When the customer's outbound marketing contacts strictly between `after` and `before` were made."""
        ...

    async def history(self, customer_id: str, *, before: datetime | None, limit: int) -> list[Doc]: ...


class Products(Protocol):
    async def catalogue(self, *, risk_level: str | None, active: bool | None) -> list[Doc]: ...

    async def get(self, code: str) -> Doc | None: ...

    async def put(self, code: str, fields: dict[str, Any]) -> None: ...


class Recommendations(Protocol):
    async def add(self, doc: Doc) -> None: ...

    async def latest(self, customer_id: str, limit: int) -> list[Doc]: ...


class Surveys(Protocol):
    async def open(self, survey_id: str, fields: dict[str, Any]) -> None:
        """Idempotent: a survey already opened under this id is left as it is."""
        ...

    async def get(self, survey_id: str) -> Doc | None: ...

    async def record_answer(self, survey_id: str, fields: dict[str, Any]) -> Doc | None:
        """Answer an open survey; the survey after it (None if it was not open)."""
        ...

    async def hand_over_open(self, from_customer: str, to_customer: str) -> None:
        """A merged customer's open surveys go to the survivor."""
        ...

    async def of_customer(self, customer_id: str, status: str | None) -> list[Doc]: ...


class Points(Protocol):
    async def add_new_entries(self, earnings: list[Earning], now: datetime) -> list[Earning]:
        """Ledger entries for the earnings not in the ledger yet; returns those, in order."""
        ...

    async def add_to_balances(self, totals: dict[str, int], now: datetime) -> None: ...

    async def balances(self, customer_ids: list[str]) -> dict[str, int]: ...

    async def set_entry_balances(self, balances: list[tuple[str, int]]) -> None:
        """(entry id, the balance right after it)."""
        ...

    async def entry(self, entry_id: str) -> Doc | None: ...

    async def account(self, customer_id: str) -> Doc | None: ...

    async def take(self, customer_id: str, points: int, now: datetime) -> Doc | None:
        """Take `points` off the balance if it has them; the account after it, or None."""
        ...

    async def add_entry(self, doc: Doc) -> None: ...

    async def latest_entries(self, customer_id: str, limit: int) -> list[Doc]: ...


class Policies(Protocol):
    """The policy versions (crm_kit.policies.PoliciesInTransaction)."""

    async def current(self) -> tuple[EngagementPolicy, int]: ...

    async def read(self) -> dict[str, Any]: ...

    async def publish(self, policy: EngagementPolicy, *, by: str, note: str | None) -> int: ...


class SchedulerProgress(Protocol):
    async def state(self, key: str) -> Doc | None: ...

    async def save_progress(self, key: str, *, cursor: str, done: bool, visited: int, now: datetime) -> None: ...


@dataclass
class EngagementRepositories:
    """Everything one unit of work of engagement reads and writes."""

    customers: Customers
    tasks: Tasks
    attempts: Attempts
    interactions: Interactions
    products: Products
    recommendations: Recommendations
    surveys: Surveys
    points: Points
    policies: Policies
    scheduler: SchedulerProgress
    outbox: EventsOut
    audit: AuditOut


# --- on MongoDB ------------------------------------------------------------------------------------------------


class MongoCustomers:
    def __init__(self, store: EngagementStore, session: AsyncClientSession | None) -> None:
        self.collection, self.session = store.customers, session
        self.loaded: dict[str, dict[str, Any]] = {}
        """What each customer read here was stored as, so only what differs is written."""

    async def load_many(self, ids: list[str]) -> list[EngagedCustomer]:
        docs = await self.collection.find({"_id": {"$in": ids}}, session=self.session, batch_size=len(ids)).to_list()
        customers = [customer_from_doc(doc) for doc in docs]
        for customer in customers:
            # A copy: the domain changes its dicts (cadence, consents) in place.
            self.loaded[customer.customer_id] = copy.deepcopy(customer_state(customer))
        return customers

    async def save_many(self, customers: list[EngagedCustomer]) -> None:
        writes: list[UpdateOne] = []
        for customer in customers:
            state = customer_state(customer)
            before = self.loaded.get(customer.customer_id)
            changed = state if before is None else {k: v for k, v in state.items() if before.get(k) != v}
            if changed:
                writes.append(UpdateOne({"_id": customer.customer_id}, {"$set": changed}, upsert=True))
        if writes:
            await self.collection.bulk_write(writes, ordered=False, session=self.session)
        for customer in customers:
            self.loaded[customer.customer_id] = copy.deepcopy(customer_state(customer))

    async def get(self, customer_id: str) -> EngagedCustomer | None:
        doc = await self.collection.find_one({"_id": customer_id}, session=self.session)
        return None if doc is None else customer_from_doc(doc)

    async def owns_any_in_branch(self, staff_id: str, branch: str | None) -> bool:
        found = await self.collection.find_one({"branch": branch, "owner": staff_id}, {"_id": 1}, session=self.session)
        return found is not None

    async def mark_contact_checked(self, customer_id: str) -> None:
        await self.collection.update_one({"_id": customer_id}, {"$inc": {"contact_seq": 1}}, session=self.session)

    async def not_planned_under(self, version: int, among: list[str] | None = None) -> list[str]:
        return await self._ids({"merged_into": None, "plan_version": {"$lt": version}}, among)

    async def tiered(self, among: list[str] | None = None) -> list[str]:
        return await self._ids({"merged_into": None, "tier": {"$ne": None}}, among)

    async def _ids(self, query: dict[str, Any], among: list[str] | None) -> list[str]:
        if among is None:
            return [doc["_id"] for doc in await self.collection.find(query, {"_id": 1}, session=self.session).to_list()]
        found = self.collection.find({**query, "_id": {"$in": among}}, {"_id": 1}, session=self.session)
        return [doc["_id"] for doc in await found.sort("_id", 1).to_list()]


class MongoTasks:
    def __init__(self, store: EngagementStore, session: AsyncClientSession | None) -> None:
        self.collection, self.open_keys, self.session = store.tasks, store.open_keys, session

    async def open_of(self, customer_ids: list[str]) -> list[Task]:
        query = {"customer_id": {"$in": customer_ids}, "status": "open"}
        return [task_from_doc(doc) async for doc in self.collection.find(query, session=self.session)]

    async def get(self, task_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": task_id}, session=self.session)

    async def page(
        self, principal: Principal, wanted: TaskFilter, *, today: date, after: str | None, limit: int
    ) -> list[Doc]:
        query: dict[str, Any] = dict(TASKS.query(principal))
        for k, v in (
            ("assignee", wanted.assignee),
            ("customer_id", wanted.customer_id),
            ("kind", wanted.kind),
            ("status", wanted.status),
        ):
            if v:
                query[k] = v
        due: dict[str, str] = {}
        if wanted.due_from:
            due["$gte"] = wanted.due_from.isoformat()
        if wanted.due_to:
            due["$lte"] = wanted.due_to.isoformat()
        if wanted.overdue is True:
            query["status"] = "open"
            due["$lt"] = min(due.get("$lt", "9999"), today.isoformat())
        elif wanted.overdue is False:
            query = {"$and": [query, {"$or": [{"status": {"$ne": "open"}}, {"due_on": {"$gte": today.isoformat()}}]}]}
        if due:
            query = {"$and": [query, {"due_on": due}]}
        if after:
            query = {"$and": [query, {"_id": {"$gt": after}}]}
        found = self.collection.find(query, {"history": 0}, session=self.session)
        return await found.sort("_id", 1).limit(limit).to_list()

    async def due_by(self, staff_id: str, day: date, *, branch: str | None, within_branch: bool) -> list[Doc]:
        query: dict[str, Any] = {"assignee": staff_id, "status": "open", "due_on": {"$lte": day.isoformat()}}
        if within_branch:
            query["branch"] = branch
        return await self.collection.find(query, {"history": 0}, session=self.session).to_list()

    async def for_report(self, principal: Principal, branch: str | None) -> list[Doc]:
        match: dict[str, Any] = dict(TASKS.query(principal))
        if branch:
            match = {"$and": [match, {"branch": branch}]}
        fields = {"assignee": 1, "status": 1, "due_on": 1, "on_time": 1}
        return [doc async for doc in self.collection.find(match, fields, session=self.session)]

    async def mark_done(self, task_id: str, fields: dict[str, Any], history: dict[str, Any]) -> None:
        await self.collection.update_one(
            {"_id": task_id, "status": "open"}, {"$set": fields, "$push": {"history": history}}, session=self.session
        )

    async def reassign(self, task_id: str, assignee: str, history: dict[str, Any]) -> None:
        await self.collection.update_one(
            {"_id": task_id}, {"$set": {"assignee": assignee}, "$push": {"history": history}}, session=self.session
        )

    async def apply_changes(self, changes: list[tuple[str, dict[str, Any]]]) -> None:
        writes: list[UpdateOne] = []
        for task_id, changed in changes:
            fields = dict(changed)
            push = fields.pop("_push", None)
            update: dict[str, Any] = {"$set": fields} if fields else {}
            if push:
                update["$push"] = {"history": {"$each": push}}
            if update:
                writes.append(
                    UpdateOne(
                        {"_id": task_id, "status": "open"} if "status" not in fields else {"_id": task_id}, update
                    )
                )
        if writes:
            await self.collection.bulk_write(writes, ordered=True, session=self.session)

    async def insert_new(self, tasks: list[Task]) -> set[str]:
        ops = [
            UpdateOne(
                {"_id": task.task_id},
                {"$setOnInsert": {k: v for k, v in task_doc(task).items() if k != "_id"}},
                upsert=True,
            )
            for task in tasks
        ]
        result = await self.collection.bulk_write(ops, ordered=True, session=self.session)
        return {tasks[i].task_id for i in result.upserted_ids or {}}

    async def claim_occasions(self, keyed: list[tuple[Task, str]]) -> set[str]:
        result = await self.open_keys.bulk_write(
            [
                UpdateOne(
                    {"_id": key},
                    {"$setOnInsert": {"task_id": task.task_id, "customer_id": task.customer_id}},
                    upsert=True,
                )
                for task, key in keyed
            ],
            ordered=True,
            session=self.session,
        )
        return {keyed[i][0].task_id for i in result.upserted_ids or {}}

    async def occasion_holders(self, keys: list[str]) -> dict[str, str]:
        found = await self.open_keys.find({"_id": {"$in": keys}}, session=self.session).to_list()
        return {doc["_id"]: doc["task_id"] for doc in found}

    async def remove(self, task_ids: list[str]) -> None:
        await self.collection.delete_many({"_id": {"$in": task_ids}}, session=self.session)

    async def release_occasion(self, key: str, task_id: str) -> None:
        await self.open_keys.delete_one({"_id": key, "task_id": task_id}, session=self.session)

    async def release_occasions(self, released: list[tuple[str, str]]) -> None:
        await self.open_keys.bulk_write(
            [DeleteOne({"_id": key, "task_id": task_id}) for key, task_id in released],
            ordered=True,
            session=self.session,
        )

    @staticmethod
    def _falling_overdue(day: date) -> dict[str, Any]:
        return {"status": "open", "overdue": False, "due_on": {"$lt": day.isoformat()}}

    async def falling_overdue(self, day: date) -> list[str]:
        found = self.collection.find(self._falling_overdue(day), {"_id": 1}, session=self.session)
        return [doc["_id"] for doc in await found.to_list()]

    async def falling_overdue_among(self, day: date, ids: list[str]) -> list[Task]:
        found = self.collection.find({**self._falling_overdue(day), "_id": {"$in": ids}}, None, session=self.session)
        return [task_from_doc(doc) for doc in await found.sort("_id", 1).to_list()]

    async def mark_overdue(self, task_ids: list[str], day: date) -> None:
        await self.collection.update_many(
            {"_id": {"$in": task_ids}},
            {"$set": {"overdue": True, "overdue_since": day.isoformat()}},
            session=self.session,
        )

    async def provisional_not_under(self, revision: str, limit: int) -> list[Task]:
        found = self.collection.find(
            {"status": "open", "provisional": True, "calendar_revision": {"$ne": revision}}, session=self.session
        )
        return [task_from_doc(doc) for doc in await found.sort("_id", 1).limit(limit).to_list()]

    async def recount(self, recounts: list[DueDateRecount]) -> None:
        writes: list[UpdateOne] = []
        for recount in recounts:
            update: dict[str, Any] = {"$set": recount.fields}
            if recount.history is not None:
                update["$push"] = {"history": recount.history}
            where = {"_id": recount.task_id, "status": "open"} if recount.only_open else {"_id": recount.task_id}
            writes.append(UpdateOne(where, update))
        if writes:
            await self.collection.bulk_write(writes, ordered=False, session=self.session)


class MongoAttempts:
    def __init__(self, store: EngagementStore, session: AsyncClientSession | None) -> None:
        self.collection, self.session = store.attempts, session

    async def add(self, doc: Doc) -> None:
        await self.collection.insert_one(doc, session=self.session)

    async def keep_blocked(self, blocked: list[tuple[ContactBlocked, str | None]]) -> set[str]:
        result = await self.collection.bulk_write(
            [
                UpdateOne(
                    {"_id": attempt.attempt_id},
                    {
                        "$setOnInsert": {
                            "customer_id": attempt.customer_id,
                            "channel": attempt.channel,
                            "purpose": attempt.purpose,
                            "rule": attempt.rule,
                            "detail": attempt.detail,
                            "staff_id": attempt.staff_id,
                            "at": attempt.at,
                            "context": attempt.context,
                            "task_id": attempt.task_id,
                            "branch": branch,
                        }
                    },
                    upsert=True,
                )
                for attempt, branch in blocked
            ],
            ordered=True,
            session=self.session,
        )
        return {blocked[i][0].attempt_id for i in result.upserted_ids or {}}

    async def latest(self, match: dict[str, Any], limit: int) -> list[Doc]:
        return await self.collection.find(match, session=self.session).sort("at", -1).limit(limit).to_list()


class MongoInteractions:
    def __init__(self, store: EngagementStore, session: AsyncClientSession | None) -> None:
        self.collection, self.session = store.interactions, session

    async def add(self, doc: Doc) -> None:
        await self.collection.insert_one(doc, session=self.session)

    async def marketing_times(self, customer_id: str, *, after: datetime, before: datetime) -> list[datetime]:
        docs = await self.collection.find(
            {
                "customer_id": customer_id,
                "purpose": "marketing",
                "direction": "outbound",
                "occurred_at": {"$gt": after, "$lt": before},
            },
            {"occurred_at": 1},
            session=self.session,
        ).to_list()
        return [doc["occurred_at"] for doc in docs]

    async def history(self, customer_id: str, *, before: datetime | None, limit: int) -> list[Doc]:
        query: dict[str, Any] = {"customer_id": customer_id}
        if before:
            query["occurred_at"] = {"$lt": before}
        found = self.collection.find(query, session=self.session)
        return await found.sort("occurred_at", -1).limit(limit).to_list()


class MongoProducts:
    def __init__(self, store: EngagementStore, session: AsyncClientSession | None) -> None:
        self.collection, self.session = store.products, session

    async def catalogue(self, *, risk_level: str | None, active: bool | None) -> list[Doc]:
        query = {k: v for k, v in (("risk_level", risk_level), ("active", active)) if v is not None}
        return await self.collection.find(query, session=self.session).sort("_id", 1).to_list()

    async def get(self, code: str) -> Doc | None:
        return await self.collection.find_one({"_id": code}, session=self.session)

    async def put(self, code: str, fields: dict[str, Any]) -> None:
        await self.collection.update_one({"_id": code}, {"$set": fields}, upsert=True, session=self.session)


class MongoRecommendations:
    def __init__(self, store: EngagementStore, session: AsyncClientSession | None) -> None:
        self.collection, self.session = store.recommendations, session

    async def add(self, doc: Doc) -> None:
        await self.collection.insert_one(doc, session=self.session)

    async def latest(self, customer_id: str, limit: int) -> list[Doc]:
        found = self.collection.find({"customer_id": customer_id}, session=self.session)
        return await found.sort("at", -1).limit(limit).to_list()


class MongoSurveys:
    def __init__(self, store: EngagementStore, session: AsyncClientSession | None) -> None:
        self.collection, self.session = store.surveys, session

    async def open(self, survey_id: str, fields: dict[str, Any]) -> None:
        await self.collection.update_one(
            {"_id": survey_id}, {"$setOnInsert": fields}, upsert=True, session=self.session
        )

    async def get(self, survey_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": survey_id}, session=self.session)

    async def record_answer(self, survey_id: str, fields: dict[str, Any]) -> Doc | None:
        return await self.collection.find_one_and_update(
            {"_id": survey_id, "status": "open"},
            {"$set": fields},
            return_document=ReturnDocument.AFTER,
            session=self.session,
        )

    async def hand_over_open(self, from_customer: str, to_customer: str) -> None:
        await self.collection.update_many(
            {"customer_id": from_customer, "status": "open"},
            {"$set": {"customer_id": to_customer, "merged_from": from_customer}},
            session=self.session,
        )

    async def of_customer(self, customer_id: str, status: str | None) -> list[Doc]:
        query: dict[str, Any] = {"customer_id": customer_id, **({"status": status} if status else {})}
        return await self.collection.find(query, session=self.session).sort("created_at", -1).limit(200).to_list()


class MongoPoints:
    def __init__(self, store: EngagementStore, session: AsyncClientSession | None) -> None:
        self.ledger, self.accounts, self.session = store.ledger, store.points, session

    async def add_new_entries(self, earnings: list[Earning], now: datetime) -> list[Earning]:
        result = await self.ledger.bulk_write(
            [
                UpdateOne(
                    {"_id": x.entry_id},
                    {
                        "$setOnInsert": {
                            "customer_id": x.customer_id,
                            "change": x.points,
                            "reason": x.reason,
                            "at": now,
                            "note": x.note,
                        }
                    },
                    upsert=True,
                )
                for x in earnings
            ],
            ordered=True,
            session=self.session,
        )
        return [earnings[i] for i in sorted(result.upserted_ids or {})]

    async def add_to_balances(self, totals: dict[str, int], now: datetime) -> None:
        await self.accounts.bulk_write(
            [
                UpdateOne({"_id": cid}, {"$inc": {"balance": n, "earned": n}, "$set": {"updated_at": now}}, upsert=True)
                for cid, n in sorted(totals.items())
            ],
            ordered=True,
            session=self.session,
        )

    async def balances(self, customer_ids: list[str]) -> dict[str, int]:
        found = self.accounts.find({"_id": {"$in": customer_ids}}, {"balance": 1}, session=self.session)
        return {doc["_id"]: doc["balance"] for doc in await found.to_list()}

    async def set_entry_balances(self, balances: list[tuple[str, int]]) -> None:
        await self.ledger.bulk_write(
            [UpdateOne({"_id": entry_id}, {"$set": {"balance": b}}) for entry_id, b in balances],
            ordered=False,
            session=self.session,
        )

    async def entry(self, entry_id: str) -> Doc | None:
        return await self.ledger.find_one({"_id": entry_id}, session=self.session)

    async def account(self, customer_id: str) -> Doc | None:
        return await self.accounts.find_one({"_id": customer_id}, session=self.session)

    async def take(self, customer_id: str, points: int, now: datetime) -> Doc | None:
        return await self.accounts.find_one_and_update(
            {"_id": customer_id, "balance": {"$gte": points}},
            {"$inc": {"balance": -points, "redeemed": points}, "$set": {"updated_at": now}},
            return_document=ReturnDocument.AFTER,
            session=self.session,
        )

    async def add_entry(self, doc: Doc) -> None:
        await self.ledger.insert_one(doc, session=self.session)

    async def latest_entries(self, customer_id: str, limit: int) -> list[Doc]:
        found = self.ledger.find({"customer_id": customer_id}, session=self.session)
        return await found.sort("at", -1).limit(limit).to_list()


class MongoSchedulerProgress:
    def __init__(self, store: EngagementStore, session: AsyncClientSession | None) -> None:
        self.collection, self.session = store.scheduler, session

    async def state(self, key: str) -> Doc | None:
        return await self.collection.find_one({"_id": key}, session=self.session)

    async def save_progress(self, key: str, *, cursor: str, done: bool, visited: int, now: datetime) -> None:
        await self.collection.update_one(
            {"_id": key},
            {"$set": {"cursor": cursor, "done": done, "updated_at": now}, "$inc": {"visited": visited}},
            upsert=True,
            session=self.session,
        )


def bind_to(
    store: EngagementStore, outbox: Outbox, policies: PolicyVersions[EngagementPolicy]
) -> Callable[[AsyncClientSession | None], EngagementRepositories]:
    """The `bind(session)` of engagement's unit of work: its repositories in one transaction (None: reading)."""

    def bind(session: AsyncClientSession | None) -> EngagementRepositories:
        return EngagementRepositories(
            customers=MongoCustomers(store, session),
            tasks=MongoTasks(store, session),
            attempts=MongoAttempts(store, session),
            interactions=MongoInteractions(store, session),
            products=MongoProducts(store, session),
            recommendations=MongoRecommendations(store, session),
            surveys=MongoSurveys(store, session),
            points=MongoPoints(store, session),
            policies=PoliciesInTransaction(policies, session),
            scheduler=MongoSchedulerProgress(store, session),
            outbox=TransactionOutbox(outbox, session, sequences=store.sequences),
            audit=TransactionAudit(store.audit, session),
        )

    return bind
