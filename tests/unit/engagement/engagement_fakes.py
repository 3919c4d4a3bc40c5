"""In-memory engagement repositories (the Protocols of crm_engagement.adapters.repositories), for service-layer tests
with crm_kit.fakes.FakeUnitOfWork: documents in dicts, the named queries in Python. Tasks are kept as the documents
the database would hold (the adapters' own mapping), so a view of a task reads what the API would show."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from crm_contracts.engagement import ContactBlocked
from crm_engagement.adapters.repositories import DueDateRecount, EngagementRepositories, TaskFilter
from crm_engagement.adapters.store import task_doc, task_from_doc
from crm_engagement.domain.customer import EngagedCustomer
from crm_engagement.domain.points import Earning
from crm_engagement.domain.policy import DEFAULT_POLICY
from crm_engagement.domain.tasks import TASKS, Task
from crm_kit.auth import Principal
from crm_kit.fakes import ListAudit, ListOutbox, ListPolicies

Doc = dict[str, Any]


def _newest_first(docs: list[Doc], key: str, limit: int) -> list[Doc]:
    return copy.deepcopy(sorted(docs, key=lambda doc: doc[key], reverse=True)[:limit])


def _within(ids: list[str], among: list[str] | None) -> list[str]:
    return sorted(ids) if among is None else sorted(i for i in ids if i in among)


@dataclass
class FakeCustomers:
    stored: dict[str, EngagedCustomer] = field(default_factory=dict)
    contact_checks: dict[str, int] = field(default_factory=dict)

    def add(self, *customers: EngagedCustomer) -> None:
        for customer in customers:
            self.stored[customer.customer_id] = copy.deepcopy(customer)

    async def load_many(self, ids: list[str]) -> list[EngagedCustomer]:
        return [copy.deepcopy(self.stored[i]) for i in ids if i in self.stored]

    async def save_many(self, customers: list[EngagedCustomer]) -> None:
        for customer in customers:
            kept = copy.deepcopy(customer)
            kept.new_tasks, kept.task_changes, kept.events = [], {}, []
            self.stored[customer.customer_id] = kept

    async def get(self, customer_id: str) -> EngagedCustomer | None:
        customer = self.stored.get(customer_id)
        return copy.deepcopy(customer) if customer is not None else None

    async def owns_any_in_branch(self, staff_id: str, branch: str | None) -> bool:
        return any(c.branch == branch and c.owner == staff_id for c in self.stored.values())

    async def mark_contact_checked(self, customer_id: str) -> None:
        self.contact_checks[customer_id] = self.contact_checks.get(customer_id, 0) + 1

    async def not_planned_under(self, version: int, among: list[str] | None = None) -> list[str]:
        ids = [i for i, c in self.stored.items() if c.merged_into is None and c.plan_version < version]
        return _within(ids, among)

    async def tiered(self, among: list[str] | None = None) -> list[str]:
        ids = [i for i, c in self.stored.items() if c.merged_into is None and c.tier is not None]
        return _within(ids, among)


@dataclass
class FakeTasks:
    docs: dict[str, Doc] = field(default_factory=dict)
    open_keys: dict[str, Doc] = field(default_factory=dict)

    def add(self, *tasks: Task) -> None:
        """Tasks stored as the service would have stored them, holding their occasions."""
        for task in tasks:
            self.docs[task.task_id] = task_doc(task)
            if task.status == "open" and (key := task_doc(task)["open_key"]) is not None:
                self.open_keys[key] = {"task_id": task.task_id, "customer_id": task.customer_id}

    async def open_of(self, customer_ids: list[str]) -> list[Task]:
        return [
            task_from_doc(doc)
            for doc in self.docs.values()
            if doc["customer_id"] in customer_ids and doc["status"] == "open"
        ]

    async def get(self, task_id: str) -> Doc | None:
        return copy.deepcopy(self.docs.get(task_id))

    async def page(
        self, principal: Principal, wanted: TaskFilter, *, today: date, after: str | None, limit: int
    ) -> list[Doc]:
        def matches(doc: Doc) -> bool:
            if not TASKS.allows(principal, doc):
                return False
            for name in ("assignee", "customer_id", "kind", "status"):
                value = getattr(wanted, name)
                if value and doc.get(name) != value:
                    return False
            due = doc["due_on"]
            if wanted.due_from and due < wanted.due_from.isoformat():
                return False
            if wanted.due_to and due > wanted.due_to.isoformat():
                return False
            if wanted.overdue is True and not (doc["status"] == "open" and due < today.isoformat()):
                return False
            if wanted.overdue is False and doc["status"] == "open" and due < today.isoformat():
                return False
            return not after or doc["_id"] > after

        found = sorted((doc for doc in self.docs.values() if matches(doc)), key=lambda doc: doc["_id"])[:limit]
        return [{k: v for k, v in copy.deepcopy(doc).items() if k != "history"} for doc in found]

    async def due_by(self, staff_id: str, day: date, *, branch: str | None, within_branch: bool) -> list[Doc]:
        return [
            {k: v for k, v in copy.deepcopy(doc).items() if k != "history"}
            for doc in self.docs.values()
            if doc.get("assignee") == staff_id
            and doc["status"] == "open"
            and doc["due_on"] <= day.isoformat()
            and (not within_branch or doc.get("branch") == branch)
        ]

    async def for_report(self, principal: Principal, branch: str | None) -> list[Doc]:
        return [
            {k: doc.get(k) for k in ("_id", "assignee", "status", "due_on", "on_time") if k in doc}
            for doc in self.docs.values()
            if TASKS.allows(principal, doc) and (not branch or doc.get("branch") == branch)
        ]

    async def mark_done(self, task_id: str, fields: dict[str, Any], history: dict[str, Any]) -> None:
        doc = self.docs.get(task_id)
        if doc is not None and doc["status"] == "open":
            doc.update(copy.deepcopy(fields))
            doc["history"].append(copy.deepcopy(history))

    async def reassign(self, task_id: str, assignee: str, history: dict[str, Any]) -> None:
        doc = self.docs[task_id]
        doc["assignee"] = assignee
        doc["history"].append(copy.deepcopy(history))

    async def apply_changes(self, changes: list[tuple[str, dict[str, Any]]]) -> None:
        for task_id, changed in changes:
            fields = copy.deepcopy(changed)
            push = fields.pop("_push", None)
            doc = self.docs.get(task_id)
            if doc is None or ("status" not in fields and doc["status"] != "open"):
                continue
            doc.update(fields)
            doc["history"].extend(push or [])

    async def insert_new(self, tasks: list[Task]) -> set[str]:
        inserted = set()
        for task in tasks:
            if task.task_id not in self.docs:
                self.docs[task.task_id] = task_doc(task)
                inserted.add(task.task_id)
        return inserted

    async def claim_occasions(self, keyed: list[tuple[Task, str]]) -> set[str]:
        claimed = set()
        for task, key in keyed:
            if key not in self.open_keys:
                self.open_keys[key] = {"task_id": task.task_id, "customer_id": task.customer_id}
                claimed.add(task.task_id)
        return claimed

    async def occasion_holders(self, keys: list[str]) -> dict[str, str]:
        return {key: self.open_keys[key]["task_id"] for key in keys if key in self.open_keys}

    async def remove(self, task_ids: list[str]) -> None:
        for task_id in task_ids:
            self.docs.pop(task_id, None)

    async def release_occasion(self, key: str, task_id: str) -> None:
        if self.open_keys.get(key, {}).get("task_id") == task_id:
            del self.open_keys[key]

    async def release_occasions(self, released: list[tuple[str, str]]) -> None:
        for key, task_id in released:
            await self.release_occasion(key, task_id)

    def _falling_overdue(self, day: date) -> list[Doc]:
        return [
            doc
            for doc in self.docs.values()
            if doc["status"] == "open" and doc.get("overdue") is False and doc["due_on"] < day.isoformat()
        ]

    async def falling_overdue(self, day: date) -> list[str]:
        return sorted(doc["_id"] for doc in self._falling_overdue(day))

    async def falling_overdue_among(self, day: date, ids: list[str]) -> list[Task]:
        found = sorted((doc for doc in self._falling_overdue(day) if doc["_id"] in ids), key=lambda doc: doc["_id"])
        return [task_from_doc(doc) for doc in found]

    async def mark_overdue(self, task_ids: list[str], day: date) -> None:
        for task_id in task_ids:
            self.docs[task_id].update({"overdue": True, "overdue_since": day.isoformat()})

    async def provisional_not_under(self, revision: str, limit: int) -> list[Task]:
        found = [
            doc
            for doc in self.docs.values()
            if doc["status"] == "open" and doc.get("provisional") is True and doc.get("calendar_revision") != revision
        ]
        return [task_from_doc(doc) for doc in sorted(found, key=lambda doc: doc["_id"])[:limit]]

    async def recount(self, recounts: list[DueDateRecount]) -> None:
        for recount in recounts:
            doc = self.docs.get(recount.task_id)
            if doc is None or (recount.only_open and doc["status"] != "open"):
                continue
            doc.update(copy.deepcopy(recount.fields))
            if recount.history is not None:
                doc["history"].append(copy.deepcopy(recount.history))


@dataclass
class FakeAttempts:
    docs: dict[str, Doc] = field(default_factory=dict)

    async def add(self, doc: Doc) -> None:
        assert doc["_id"] not in self.docs, "duplicate key"
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def keep_blocked(self, blocked: list[tuple[ContactBlocked, str | None]]) -> set[str]:
        fresh = set()
        for attempt, branch in blocked:
            if attempt.attempt_id not in self.docs:
                self.docs[attempt.attempt_id] = {
                    "_id": attempt.attempt_id,
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
                fresh.add(attempt.attempt_id)
        return fresh

    async def latest(self, match: dict[str, Any], limit: int) -> list[Doc]:
        found = [doc for doc in self.docs.values() if all(doc.get(k) == v for k, v in match.items())]
        return _newest_first(found, "at", limit)


@dataclass
class FakeInteractions:
    docs: dict[str, Doc] = field(default_factory=dict)

    async def add(self, doc: Doc) -> None:
        assert doc["_id"] not in self.docs, "duplicate key"
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def marketing_times(self, customer_id: str, *, after: datetime, before: datetime) -> list[datetime]:
        return [
            doc["occurred_at"]
            for doc in self.docs.values()
            if doc["customer_id"] == customer_id
            and doc["purpose"] == "marketing"
            and doc["direction"] == "outbound"
            and after < doc["occurred_at"] < before
        ]

    async def history(self, customer_id: str, *, before: datetime | None, limit: int) -> list[Doc]:
        found = [
            doc
            for doc in self.docs.values()
            if doc["customer_id"] == customer_id and (before is None or doc["occurred_at"] < before)
        ]
        return _newest_first(found, "occurred_at", limit)


@dataclass
class FakeProducts:
    docs: dict[str, Doc] = field(default_factory=dict)

    async def catalogue(self, *, risk_level: str | None, active: bool | None) -> list[Doc]:
        return [
            copy.deepcopy(doc)
            for _, doc in sorted(self.docs.items())
            if (risk_level is None or doc.get("risk_level") == risk_level)
            and (active is None or doc.get("active") == active)
        ]

    async def get(self, code: str) -> Doc | None:
        return copy.deepcopy(self.docs.get(code))

    async def put(self, code: str, fields: dict[str, Any]) -> None:
        self.docs.setdefault(code, {"_id": code}).update(copy.deepcopy(fields))


@dataclass
class FakeRecommendations:
    docs: dict[str, Doc] = field(default_factory=dict)

    async def add(self, doc: Doc) -> None:
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def latest(self, customer_id: str, limit: int) -> list[Doc]:
        return _newest_first([doc for doc in self.docs.values() if doc["customer_id"] == customer_id], "at", limit)


@dataclass
class FakeSurveys:
    docs: dict[str, Doc] = field(default_factory=dict)

    async def open(self, survey_id: str, fields: dict[str, Any]) -> None:
        self.docs.setdefault(survey_id, {"_id": survey_id, **copy.deepcopy(fields)})

    async def get(self, survey_id: str) -> Doc | None:
        return copy.deepcopy(self.docs.get(survey_id))

    async def record_answer(self, survey_id: str, fields: dict[str, Any]) -> Doc | None:
        doc = self.docs.get(survey_id)
        if doc is None or doc["status"] != "open":
            return None
        doc.update(copy.deepcopy(fields))
        return copy.deepcopy(doc)

    async def hand_over_open(self, from_customer: str, to_customer: str) -> None:
        for doc in self.docs.values():
            if doc["customer_id"] == from_customer and doc["status"] == "open":
                doc.update({"customer_id": to_customer, "merged_from": from_customer})

    async def of_customer(self, customer_id: str, status: str | None) -> list[Doc]:
        found = [
            doc
            for doc in self.docs.values()
            if doc["customer_id"] == customer_id and (not status or doc["status"] == status)
        ]
        return _newest_first(found, "created_at", 200)


@dataclass
class FakePoints:
    ledger: dict[str, Doc] = field(default_factory=dict)
    accounts: dict[str, Doc] = field(default_factory=dict)

    async def add_new_entries(self, earnings: list[Earning], now: datetime) -> list[Earning]:
        new = []
        for earning in earnings:
            if earning.entry_id not in self.ledger:
                self.ledger[earning.entry_id] = {
                    "_id": earning.entry_id,
                    "customer_id": earning.customer_id,
                    "change": earning.points,
                    "reason": earning.reason,
                    "at": now,
                    "note": earning.note,
                }
                new.append(earning)
        return new

    async def add_to_balances(self, totals: dict[str, int], now: datetime) -> None:
        for customer_id, points in totals.items():
            account = self.accounts.setdefault(customer_id, {"_id": customer_id, "balance": 0, "earned": 0})
            account["balance"] += points
            account["earned"] = account.get("earned", 0) + points
            account["updated_at"] = now

    async def balances(self, customer_ids: list[str]) -> dict[str, int]:
        return {i: self.accounts[i]["balance"] for i in customer_ids if i in self.accounts}

    async def set_entry_balances(self, balances: list[tuple[str, int]]) -> None:
        for entry_id, balance in balances:
            self.ledger[entry_id]["balance"] = balance

    async def entry(self, entry_id: str) -> Doc | None:
        return copy.deepcopy(self.ledger.get(entry_id))

    async def account(self, customer_id: str) -> Doc | None:
        return copy.deepcopy(self.accounts.get(customer_id))

    async def take(self, customer_id: str, points: int, now: datetime) -> Doc | None:
        account = self.accounts.get(customer_id)
        if account is None or account["balance"] < points:
            return None
        account["balance"] -= points
        account["redeemed"] = account.get("redeemed", 0) + points
        account["updated_at"] = now
        return copy.deepcopy(account)

    async def add_entry(self, doc: Doc) -> None:
        assert doc["_id"] not in self.ledger, "duplicate key"
        self.ledger[doc["_id"]] = copy.deepcopy(doc)

    async def latest_entries(self, customer_id: str, limit: int) -> list[Doc]:
        return _newest_first([doc for doc in self.ledger.values() if doc["customer_id"] == customer_id], "at", limit)


@dataclass
class FakeSchedulerProgress:
    docs: dict[str, Doc] = field(default_factory=dict)

    async def state(self, key: str) -> Doc | None:
        return copy.deepcopy(self.docs.get(key))

    async def save_progress(self, key: str, *, cursor: str, done: bool, visited: int, now: datetime) -> None:
        doc = self.docs.setdefault(key, {"_id": key, "visited": 0})
        doc.update({"cursor": cursor, "done": done, "updated_at": now, "visited": doc["visited"] + visited})


def fake_repositories() -> EngagementRepositories:
    audit = ListAudit()
    return EngagementRepositories(
        customers=FakeCustomers(),
        tasks=FakeTasks(),
        attempts=FakeAttempts(),
        interactions=FakeInteractions(),
        products=FakeProducts(),
        recommendations=FakeRecommendations(),
        surveys=FakeSurveys(),
        points=FakePoints(),
        policies=ListPolicies(DEFAULT_POLICY),
        scheduler=FakeSchedulerProgress(),
        outbox=ListOutbox(),
        audit=audit,
    )
