"""In-memory stand-ins for tiering's repositories (crm_tiering.adapters.repositories), for service-layer tests
with the kit's FakeUnitOfWork: documents in dicts, written and read through the same document mapping as the
MongoDB classes (so what is saved is what the database would hold), each named query answered in Python."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crm_kit.fakes import FakeUnitOfWork, ListAudit, ListOutbox, ListPolicies
from crm_kit.runtime import Runtime, docs_settings
from crm_tiering.adapters.repositories import (
    LIVE,
    Loaded,
    TieringRepositories,
    listed,
    narrowed,
    staff_view,
)
from crm_tiering.adapters.store import customer_from_doc, customer_state, staff_from_doc
from crm_tiering.domain.customer import TieredCustomer
from crm_tiering.domain.policy import DEFAULT_POLICY
from crm_tiering.domain.staff import StaffMember
from crm_tiering.service.context import Tiering
from crm_tiering.settings import TieringSettings

Doc = dict[str, Any]


def matches(doc: Doc, query: Doc) -> bool:
    """The few MongoDB filter forms tiering's queries and the data scopes use."""
    for name, wanted in query.items():
        if name == "$or":
            if not any(matches(doc, alternative) for alternative in wanted):
                return False
            continue
        value = doc.get(name)
        if isinstance(wanted, dict) and any(key.startswith("$") for key in wanted):
            for op, operand in wanted.items():
                if op == "$exists":
                    if (name in doc) != operand:
                        return False
                elif op == "$in":
                    if value not in operand:
                        return False
                elif op == "$nin":
                    if value in operand:
                        return False
                elif op == "$ne":
                    if value == operand:
                        return False
                elif op == "$gt":
                    if value is None or not value > operand:
                        return False
                elif op == "$lte":
                    if value is None or not value <= operand:
                        return False
                else:
                    raise NotImplementedError(op)
        elif isinstance(value, list) and not isinstance(wanted, list):
            if wanted not in value:  # an array field matches any of its elements
                return False
        elif value != wanted:
            return False
    return True


def customer_doc(customer: TieredCustomer, *, event_seq: int = 0) -> Doc:
    """A customer as the database keeps it."""
    return {"_id": customer.customer_id, **customer_state(customer), "event_seq": event_seq}


@dataclass
class FakeCustomers:
    docs: dict[str, Doc] = field(default_factory=dict)

    def put(self, customer: TieredCustomer, *, event_seq: int = 0) -> None:
        self.docs[customer.customer_id] = customer_doc(customer, event_seq=event_seq)

    def get(self, customer_id: str) -> TieredCustomer:
        return customer_from_doc(self.docs[customer_id])

    def _live(self, query: Doc) -> list[Doc]:
        return [doc for _, doc in sorted(self.docs.items()) if matches(doc, query)]

    async def load(self, ids: Iterable[str]) -> Loaded:
        loaded = Loaded()
        for cid in sorted(ids):
            if cid in self.docs:
                loaded.add_read(copy.deepcopy(self.docs[cid]))
        return loaded

    async def save_many(self, loaded: Loaded, *, only: set[str] | None = None) -> None:
        for cid, changed in loaded.changes(only):
            self.docs.setdefault(cid, {"_id": cid}).update(copy.deepcopy(changed))

    async def owned_counts(self, staff_ids: Iterable[str]) -> Counter[str]:
        wanted = set(staff_ids)
        return Counter(doc["owner"] for doc in self._live(LIVE) if doc.get("owner") in wanted)

    async def owned_by(self, staff_id: str, *, skip: list[str], limit: int) -> list[str]:
        query = {"owner": staff_id, **LIVE, "_id": {"$nin": skip}}
        return [doc["_id"] for doc in self._live(query)][:limit]

    async def awaiting_owner(self, branch: str, *, skip: list[str], limit: int) -> list[str]:
        query = {"branch": branch, "awaiting_owner": True, **LIVE, "_id": {"$nin": skip}}
        return [doc["_id"] for doc in self._live(query)][:limit]

    async def count(self) -> int:
        return len(self.docs)

    async def ids_after(self, cursor: str) -> list[str]:
        return [cid for cid in sorted(self.docs) if cid > cursor]

    async def due_by(self, day: date) -> list[str]:
        return [doc["_id"] for doc in self._live({"due_on": {"$ne": None, "$lte": day.isoformat()}, **LIVE})]

    async def visible(self, customer_id: str, scope: Doc) -> TieredCustomer | None:
        found = self._live({"_id": customer_id, **LIVE, **scope})
        return customer_from_doc(found[0]) if found else None

    async def page(
        self,
        scope: Doc,
        *,
        tier: str | None,
        owner: str | None,
        branch: str | None,
        stage: str | None,
        at_risk: bool | None,
        after: str | None,
        limit: int,
    ) -> list[Doc]:
        query = narrowed({**LIVE, **scope}, tier=tier, owner=owner, branch=branch, stage=stage)
        if query is None:
            return []
        if at_risk is not None:
            query["at_risk"] = at_risk
        if after:
            query["_id"] = {"$gt": after}
        return [listed(doc) for doc in self._live(query)[:limit]]

    async def balances(self, scope: Doc) -> list[tuple[str | None, Decimal]]:
        return [(doc.get("branch"), doc["aum"]) for doc in self._live({**LIVE, **scope, "aum": {"$ne": None}})]

    async def tier_counts(self, scope: Doc) -> list[tuple[str | None, str | None, int, Decimal]]:
        groups: dict[tuple[str | None, str | None], tuple[int, Decimal]] = {}
        for doc in self._live({**LIVE, **scope}):
            key = (doc.get("branch"), doc.get("tier"))
            n, aum = groups.get(key, (0, Decimal(0)))
            groups[key] = (n + 1, aum + (doc.get("aum") or Decimal(0)))
        return [(branch, tier, n, aum) for (branch, tier), (n, aum) in groups.items()]


@dataclass
class FakeWatchEntries:
    docs: dict[str, Doc] = field(default_factory=dict)

    async def save_many(self, loaded: Loaded, *, only: set[str] | None = None) -> None:
        for eid, entry in loaded.watch_entries(only):
            self.docs.setdefault(eid, {"_id": eid}).update(copy.deepcopy(entry))

    async def latest_day(self, scope: Doc, *, owner: str | None) -> date | None:
        query = narrowed(scope, owner=owner)
        days = [doc["as_of"] for doc in self.docs.values() if query is not None and matches(doc, query)]
        return date.fromisoformat(max(days)) if days else None

    async def of_day(self, scope: Doc, *, owner: str | None, on: date) -> list[Doc]:
        query = narrowed(scope, owner=owner)
        if query is None:
            return []
        return [copy.deepcopy(doc) for doc in self.docs.values() if matches(doc, {**query, "as_of": on.isoformat()})]


@dataclass
class FakeStaffDirectory:
    docs: dict[str, Doc] = field(default_factory=dict)

    def put(self, staff_id: str, branch: str, roles: list[str], *, active: bool = True, owned: int = 0) -> None:
        self.docs[staff_id] = {
            "_id": staff_id,
            "name": staff_id,
            "branch": branch,
            "roles": roles,
            "active": active,
            "owned": owned,
        }

    def owned(self) -> dict[str, int]:
        return {sid: doc.get("owned", 0) for sid, doc in sorted(self.docs.items())}

    async def directory(
        self, *, branch: str | None, every_branch: bool, role: str | None, active: bool | None
    ) -> list[Doc]:
        query: Doc = {} if every_branch else {"branch": branch}
        if role:
            query["roles"] = role
        if active is not None:
            query["active"] = active
        return [staff_view(doc) for _, doc in sorted(self.docs.items()) if matches(doc, query)]

    async def view(self, staff_id: str) -> Doc:
        return staff_view(copy.deepcopy(self.docs.get(staff_id, {})))

    async def load(self, staff_id: str) -> StaffMember | None:
        doc = self.docs.get(staff_id)
        return None if doc is None else staff_from_doc(doc)

    async def in_branches(self, branches: Iterable[str | None]) -> list[StaffMember]:
        wanted = {b for b in branches if b}
        members = [await self.load(sid) for sid, doc in sorted(self.docs.items()) if doc.get("branch") in wanted]
        return [member for member in members if member is not None]

    async def upsert(self, staff_id: str, change: Doc, *, at: datetime, by: str) -> Doc | None:
        before = copy.deepcopy(self.docs.get(staff_id))
        self.docs.setdefault(staff_id, {"_id": staff_id}).update(
            {**copy.deepcopy(change), "updated_at": at, "updated_by": by}
        )
        return before

    async def set_owned(self, staff_id: str, owned: int) -> None:
        if staff_id in self.docs:
            self.docs[staff_id]["owned"] = owned

    async def move_owned(self, moves: Counter[str]) -> None:
        for sid, n in moves.items():
            if n and sid in self.docs:  # no upsert: a counter moves only for a member in the directory
                self.docs[sid]["owned"] = self.docs[sid].get("owned", 0) + n


@dataclass
class FakeRollouts:
    docs: dict[str, Doc] = field(default_factory=dict)

    async def load(self, rollout_id: str) -> Doc | None:
        return copy.deepcopy(self.docs.get(rollout_id))

    async def first_running(self) -> Doc | None:
        running = sorted(
            (doc for doc in self.docs.values() if doc["status"] == "running"), key=lambda doc: doc["policy_version"]
        )
        return copy.deepcopy(running[0]) if running else None

    async def add(self, rollout: Doc) -> None:
        if rollout["_id"] in self.docs:
            raise KeyError(f"duplicate rollout {rollout['_id']}")
        self.docs[rollout["_id"]] = copy.deepcopy(rollout)

    async def supersede_running(self, *, at: datetime) -> None:
        for doc in self.docs.values():
            if doc["status"] == "running":
                doc.update(status="superseded", finished_at=at)

    async def advance(
        self, rollout_id: str, *, cursor: str, at: datetime, finished: bool, done: int, changed: int
    ) -> None:
        doc = self.docs[rollout_id]
        doc.update(cursor=cursor, updated_at=at)
        if finished:
            doc.update(status="done", finished_at=at)
        doc["done"] += done
        doc["changed"] += changed


@dataclass
class FakeClocks:
    docs: dict[str, Doc] = field(default_factory=dict)

    async def advance(self, instance: str, as_of: str) -> None:
        doc = self.docs.setdefault(instance, {"_id": instance})
        doc["as_of"] = max(doc.get("as_of") or "", as_of)

    async def business_date(self) -> date | None:
        dates = [doc["as_of"] for doc in self.docs.values() if doc.get("as_of")]
        return date.fromisoformat(max(dates)) if dates else None

    async def swept_through(self) -> str | None:
        doc = self.docs.get("swept")
        return None if doc is None else doc["through"]

    async def mark_swept(self, through: str) -> None:
        doc = self.docs.setdefault("swept", {"_id": "swept"})
        doc["through"] = max(doc.get("through") or "", through)


def fake_repositories() -> TieringRepositories:
    """Empty fake repositories. Keep the bundle, not its parts: a rolled back or retried run puts copies of the
    parts as they were into the bundle."""
    audit = ListAudit()
    return TieringRepositories(
        customers=FakeCustomers(),
        watch=FakeWatchEntries(),
        staff=FakeStaffDirectory(),
        rollouts=FakeRollouts(),
        clock=FakeClocks(),
        policies=ListPolicies(DEFAULT_POLICY),
        outbox=ListOutbox(),
        audit=audit,
    )


def fake_service(
    repositories: TieringRepositories, **settings: Any
) -> tuple[Tiering, FakeUnitOfWork[TieringRepositories]]:
    """The tiering context on the fake unit of work. The runtime is built but never connects (its database and
    broker clients are lazy); only its settings, topic names and outbox notice are used."""
    base = docs_settings(TieringSettings)
    rt = Runtime(base.model_copy(update=settings), topics=[])
    uow = FakeUnitOfWork(repositories)
    return Tiering(rt=rt, uow=uow, instance="test:1"), uow
