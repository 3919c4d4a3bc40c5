"""Tiering's repositories: every query the service makes, by what the bank asks of it, bound to one transaction.

`bind(session)` (built by `binding`) gives the bundle a unit of work hands to the application
(crm_kit.unit_of_work); `session=None` reads outside a transaction. The bundle's fields are typed by the
protocols below, so the in-memory fakes of the unit tests stand in for the MongoDB classes. The collections
and the document <-> domain mapping are in crm_tiering.adapters.store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_kit.outbox import Outbox
from crm_kit.policies import PoliciesInTransaction, PolicyVersions
from crm_kit.unit_of_work import AuditOut, EventsOut, TransactionAudit, TransactionOutbox
from crm_tiering.adapters.store import TieringStore, customer_from_doc, customer_state, staff_from_doc
from crm_tiering.domain.customer import TieredCustomer
from crm_tiering.domain.policy import Policy
from crm_tiering.domain.staff import StaffMember

LIVE: dict[str, Any] = {"merged_into": None}
"""Customers not merged into another record."""

PAGE_FIELDS = {"_id": 1, "branch": 1, "owner": 1, "tier": 1, "aum": 1, "as_of": 1, "stage": 1, "churn": 1}


@dataclass
class Loaded:
    """Customers read in a transaction, with their event counters, so they can be saved in bulk."""

    customers: dict[str, TieredCustomer] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)
    causes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    """customer id -> (causation id, correlation id) of the message that changed it"""
    owners: dict[str, str | None] = field(default_factory=dict)
    """customer id -> owner as read (None for a merged record): staff counters move by the difference"""
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    """customer id -> state as read: only what changed is written back"""

    def add_new(self, customer_id: str) -> TieredCustomer:
        customer = TieredCustomer(customer_id=customer_id)
        self.customers[customer_id] = customer
        self.seqs[customer_id] = 0
        self.owners[customer_id] = None
        return customer

    def add_read(self, doc: dict[str, Any]) -> None:
        """A customer as stored."""
        customer = customer_from_doc(doc)
        self.customers[doc["_id"]] = customer
        self.seqs[doc["_id"]] = doc.get("event_seq", 0)
        self.owners[doc["_id"]] = None if customer.merged_into else customer.owner
        self.states[doc["_id"]] = customer_state(customer)

    def saved(self, only: set[str] | None) -> list[tuple[str, TieredCustomer]]:
        """The customers to write back (all, or those in `only`), in the order read."""
        return [(cid, customer) for cid, customer in self.customers.items() if only is None or cid in only]

    def changes(self, only: set[str] | None) -> list[tuple[str, dict[str, Any]]]:
        """Per customer to write, the fields that changed (with the event counter), none when nothing did."""
        result: list[tuple[str, dict[str, Any]]] = []
        for cid, customer in self.saved(only):
            seq = self.seqs.get(cid, 0)
            before = self.states.get(cid)
            state = customer_state(customer)
            # Only the fields that changed: the database's cost grows with what a write touches.
            changed = state if before is None else {k: v for k, v in state.items() if before.get(k) != v}
            if customer.events or before is None:
                changed["event_seq"] = seq + len(customer.events)
            if changed:
                result.append((cid, changed))
        return result

    def watch_entries(self, only: set[str] | None) -> list[tuple[str, dict[str, Any]]]:
        """The day's significant changes to keep on the watch list: (entry id, entry)."""
        entries: list[tuple[str, dict[str, Any]]] = []
        for cid, customer in self.saved(only):
            for watch in customer.watches:
                entries.append(
                    (
                        f"{cid}:{watch.as_of.isoformat()}",
                        {
                            "customer_id": cid,
                            **(
                                {"owner": watch.owner, "branch": watch.branch, "tier": watch.tier}
                                if watch.closed
                                else {"owner": customer.owner, "branch": customer.branch, "tier": customer.tier}
                            ),
                            "as_of": watch.as_of.isoformat(),
                            "previous_aum": watch.previous,
                            "aum": watch.aum,
                            "change": watch.change,
                        },
                    )
                )
        return entries

    def owner_moves(self, only: set[str] | None) -> Counter[str]:
        """How many customers each staff member gained (+) or lost (-) since they were read."""
        owned: Counter[str] = Counter()
        for cid, customer in self.saved(only):
            owner_before, owner_after = self.owners.get(cid), (None if customer.merged_into else customer.owner)
            if owner_before != owner_after:
                owned.update({k: v for k, v in ((owner_before, -1), (owner_after, 1)) if k})
        return owned


def narrowed(scope: dict[str, Any], **wanted: Any) -> dict[str, Any] | None:
    """The scope's filter narrowed by the fields wanted (None: not filtered); None when they contradict it (a
    relationship manager asking for another owner's customers)."""
    query = dict(scope)
    for name, value in wanted.items():
        if value is not None:
            if name in query and query[name] != value:
                return None
            query[name] = value
    return query


def staff_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A directory entry, with how many customers the member owns."""
    return {
        "staff_id": doc["_id"],
        "name": doc.get("name"),
        "branch": doc.get("branch"),
        "roles": doc.get("roles", []),
        "active": doc.get("active", True),
        "customers": doc.get("owned", 0),
        "updated_at": doc.get("updated_at"),
    }


# -- what the application asks -----------------------------------------------------------------------------------


class Customers(Protocol):
    async def load(self, ids: Iterable[str]) -> Loaded:
        """The customers of these ids that exist, with what is needed to save them."""
        ...

    async def save_many(self, loaded: Loaded, *, only: set[str] | None = None) -> None:
        """Write back what changed of the customers (all, or those in `only`)."""
        ...

    async def owned_counts(self, staff_ids: Iterable[str]) -> Counter[str]:
        """Customers owned by each of these staff members (merged records not counted), counted afresh."""
        ...

    async def owned_by(self, staff_id: str, *, skip: list[str], limit: int) -> list[str]:
        """Ids (in order) of the live customers a staff member owns, but those in `skip`."""
        ...

    async def awaiting_owner(self, branch: str, *, skip: list[str], limit: int) -> list[str]:
        """Ids (in order) of the branch's live customers waiting for someone who may own them."""
        ...

    async def count(self) -> int:
        """Every customer record (merged ones too)."""
        ...

    async def ids_after(self, cursor: str) -> list[str]:
        """Every customer id after `cursor`, in order."""
        ...

    async def due_by(self, day: date) -> list[str]:
        """Ids of the live customers with a re-evaluation due on or before `day`."""
        ...

    async def visible(self, customer_id: str, scope: dict[str, Any]) -> TieredCustomer | None:
        """A live customer, if within the reader's scope."""
        ...

    async def page(
        self,
        scope: dict[str, Any],
        *,
        tier: str | None,
        owner: str | None,
        branch: str | None,
        stage: str | None,
        at_risk: bool | None,
        after: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """A page of live customers in the scope, in id order, as listed."""
        ...

    async def balances(self, scope: dict[str, Any]) -> list[tuple[str | None, Decimal]]:
        """(branch, AUM) of the live customers in the scope who have a balance."""
        ...

    async def tier_counts(self, scope: dict[str, Any]) -> list[tuple[str | None, str | None, int, Decimal]]:
        """(branch, tier, customers, AUM) over the live customers in the scope."""
        ...


class WatchEntries(Protocol):
    async def save_many(self, loaded: Loaded, *, only: set[str] | None = None) -> None:
        """Keep the customers' significant changes of the day."""
        ...

    async def latest_day(self, scope: dict[str, Any], *, owner: str | None) -> date | None:
        """The latest day with entries in the scope (of one owner)."""
        ...

    async def of_day(self, scope: dict[str, Any], *, owner: str | None, on: date) -> list[dict[str, Any]]:
        """The day's entries in the scope (of one owner)."""
        ...


class StaffDirectory(Protocol):
    async def directory(
        self, *, branch: str | None, every_branch: bool, role: str | None, active: bool | None
    ) -> list[dict[str, Any]]:
        """Entries (staff_view) in id order: of `branch`, or of every branch when `every_branch`."""
        ...

    async def view(self, staff_id: str) -> dict[str, Any]:
        """One member's entry (staff_view)."""
        ...

    async def load(self, staff_id: str) -> StaffMember | None: ...

    async def in_branches(self, branches: Iterable[str | None]) -> list[StaffMember]:
        """The members of these branches."""
        ...

    async def upsert(self, staff_id: str, change: dict[str, Any], *, at: datetime, by: str) -> dict[str, Any] | None:
        """Create or change a member; the member's fields as they were (None: new)."""
        ...

    async def set_owned(self, staff_id: str, owned: int) -> None: ...

    async def move_owned(self, moves: Counter[str]) -> None:
        """Move the members' counters of customers owned."""
        ...


class Rollouts(Protocol):
    async def load(self, rollout_id: str) -> dict[str, Any] | None: ...

    async def first_running(self) -> dict[str, Any] | None:
        """The running rollout of the oldest policy version."""
        ...

    async def add(self, rollout: dict[str, Any]) -> None: ...

    async def supersede_running(self, *, at: datetime) -> None:
        """Every running rollout ends, superseded."""
        ...

    async def advance(
        self, rollout_id: str, *, cursor: str, at: datetime, finished: bool, done: int, changed: int
    ) -> None:
        """A chunk is done: the cursor moves, the counters grow; the rollout ends when `finished`."""
        ...


class Clocks(Protocol):
    async def advance(self, instance: str, as_of: str) -> None:
        """The latest snapshot date this process has applied (never back)."""
        ...

    async def business_date(self) -> date | None:
        """The latest snapshot date over all processes."""
        ...

    async def swept_through(self) -> str | None:
        """The last day the sweep finished."""
        ...

    async def mark_swept(self, through: str) -> None: ...


class PolicyBook(Protocol):
    """The policy versions (crm_kit.policies.PoliciesInTransaction)."""

    async def current(self) -> tuple[Policy, int]: ...

    async def version(self, number: int) -> Policy | None: ...

    async def read(self) -> dict[str, Any]: ...

    async def publish(self, policy: Policy, *, by: str, note: str | None) -> int: ...


@dataclass
class TieringRepositories:
    customers: Customers
    watch: WatchEntries
    staff: StaffDirectory
    rollouts: Rollouts
    clock: Clocks
    policies: PolicyBook
    outbox: EventsOut
    audit: AuditOut


# -- on MongoDB ----------------------------------------------------------------------------------------------------


class MongoCustomers:
    def __init__(self, store: TieringStore, session: AsyncClientSession | None = None) -> None:
        self.collection, self.session = store.customers, session

    async def load(self, ids: Iterable[str]) -> Loaded:
        wanted = sorted(ids)
        # One round trip: the whole batch in the first reply.
        docs = await self.collection.find(
            {"_id": {"$in": wanted}}, session=self.session, batch_size=max(1, len(wanted))
        ).to_list()
        loaded = Loaded()
        for doc in docs:
            loaded.add_read(doc)
        return loaded

    async def save_many(self, loaded: Loaded, *, only: set[str] | None = None) -> None:
        updates = [UpdateOne({"_id": cid}, {"$set": changed}, upsert=True) for cid, changed in loaded.changes(only)]
        if updates:
            await self.collection.bulk_write(updates, ordered=False, session=self.session)

    async def owned_counts(self, staff_ids: Iterable[str]) -> Counter[str]:
        rows = await (
            await self.collection.aggregate(
                [
                    {"$match": {"owner": {"$in": sorted(set(staff_ids))}, "merged_into": None}},
                    {"$group": {"_id": "$owner", "n": {"$sum": 1}}},
                ],
                session=self.session,
            )
        ).to_list()
        return Counter({row["_id"]: row["n"] for row in rows})

    async def _ids(self, query: dict[str, Any], limit: int) -> list[str]:
        docs = self.collection.find(query, {"_id": 1}, session=self.session).sort("_id", ASCENDING).limit(limit)
        return [doc["_id"] for doc in await docs.to_list()]

    async def owned_by(self, staff_id: str, *, skip: list[str], limit: int) -> list[str]:
        return await self._ids({"owner": staff_id, "merged_into": None, "_id": {"$nin": skip}}, limit)

    async def awaiting_owner(self, branch: str, *, skip: list[str], limit: int) -> list[str]:
        return await self._ids(
            {"branch": branch, "awaiting_owner": True, "merged_into": None, "_id": {"$nin": skip}}, limit
        )

    async def count(self) -> int:
        return await self.collection.count_documents({}, session=self.session)

    async def ids_after(self, cursor: str) -> list[str]:
        docs = self.collection.find({"_id": {"$gt": cursor}}, {"_id": 1}, session=self.session).sort("_id", ASCENDING)
        return [doc["_id"] for doc in await docs.to_list()]

    async def due_by(self, day: date) -> list[str]:
        docs = self.collection.find(
            {"due_on": {"$ne": None, "$lte": day.isoformat()}, "merged_into": None}, {"_id": 1}, session=self.session
        )
        return [doc["_id"] for doc in await docs.to_list()]

    async def visible(self, customer_id: str, scope: dict[str, Any]) -> TieredCustomer | None:
        doc = await self.collection.find_one({"_id": customer_id, **LIVE, **scope}, session=self.session)
        return None if doc is None else customer_from_doc(doc)

    async def page(
        self,
        scope: dict[str, Any],
        *,
        tier: str | None,
        owner: str | None,
        branch: str | None,
        stage: str | None,
        at_risk: bool | None,
        after: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        query = narrowed({**LIVE, **scope}, tier=tier, owner=owner, branch=branch, stage=stage)
        if query is None:
            return []
        if at_risk is not None:
            query["at_risk"] = at_risk
        if after:
            query["_id"] = {"$gt": after}
        docs = await (
            self.collection.find(query, PAGE_FIELDS, session=self.session).sort("_id", ASCENDING).limit(limit).to_list()
        )
        return [listed(doc) for doc in docs]

    async def balances(self, scope: dict[str, Any]) -> list[tuple[str | None, Decimal]]:
        cursor = self.collection.find(
            {**LIVE, **scope, "aum": {"$ne": None}}, {"branch": 1, "aum": 1}, session=self.session
        )
        return [(doc.get("branch"), doc["aum"]) async for doc in cursor]

    async def tier_counts(self, scope: dict[str, Any]) -> list[tuple[str | None, str | None, int, Decimal]]:
        rows = await (
            await self.collection.aggregate(
                [
                    {"$match": {**LIVE, **scope}},
                    {
                        "$group": {
                            "_id": {"branch": "$branch", "tier": "$tier"},
                            "customers": {"$sum": 1},
                            "aum": {"$sum": {"$ifNull": ["$aum", Decimal(0)]}},
                        }
                    },
                ],
                session=self.session,
            )
        ).to_list()
        return [(row["_id"].get("branch"), row["_id"].get("tier"), row["customers"], row["aum"]) for row in rows]


def listed(doc: dict[str, Any]) -> dict[str, Any]:
    """A customer as a list shows them."""
    return {
        "customer_id": doc["_id"],
        "branch": doc.get("branch"),
        "owner": doc.get("owner"),
        "tier": doc.get("tier"),
        "aum": doc.get("aum"),
        "as_of": doc.get("as_of"),
        "stage": doc.get("stage"),
        "churn_risk": sorted((doc.get("churn") or {}).keys()),
    }


class MongoWatchEntries:
    def __init__(self, store: TieringStore, session: AsyncClientSession | None = None) -> None:
        self.collection, self.session = store.watch, session

    async def save_many(self, loaded: Loaded, *, only: set[str] | None = None) -> None:
        entries = [UpdateOne({"_id": eid}, {"$set": entry}, upsert=True) for eid, entry in loaded.watch_entries(only)]
        if entries:
            await self.collection.bulk_write(entries, ordered=False, session=self.session)

    async def latest_day(self, scope: dict[str, Any], *, owner: str | None) -> date | None:
        query = narrowed(scope, owner=owner)
        if query is None:
            return None
        latest = await self.collection.find_one(query, {"as_of": 1}, sort=[("as_of", -1)], session=self.session)
        return date.fromisoformat(latest["as_of"]) if latest else None

    async def of_day(self, scope: dict[str, Any], *, owner: str | None, on: date) -> list[dict[str, Any]]:
        query = narrowed(scope, owner=owner)
        if query is None:
            return []
        return await self.collection.find({**query, "as_of": on.isoformat()}, session=self.session).to_list()


class MongoStaffDirectory:
    def __init__(self, store: TieringStore, session: AsyncClientSession | None = None) -> None:
        self.collection, self.customers, self.session = store.staff, store.customers, session

    async def directory(
        self, *, branch: str | None, every_branch: bool, role: str | None, active: bool | None
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {}
        if not every_branch:
            query["branch"] = branch
        if role:
            query["roles"] = role
        if active is not None:
            query["active"] = active
        docs = await self.collection.find(query, session=self.session).sort("_id", ASCENDING).to_list()
        return [staff_view(doc) for doc in docs]

    async def view(self, staff_id: str) -> dict[str, Any]:
        return staff_view(await self.collection.find_one({"_id": staff_id}, session=self.session) or {})

    async def load(self, staff_id: str) -> StaffMember | None:
        doc = await self.collection.find_one({"_id": staff_id}, session=self.session)
        return None if doc is None else staff_from_doc(doc)

    async def in_branches(self, branches: Iterable[str | None]) -> list[StaffMember]:
        docs = await self.collection.find(
            {"branch": {"$in": sorted({b for b in branches if b})}}, session=self.session
        ).to_list()
        return [staff_from_doc(doc) for doc in docs]

    async def upsert(self, staff_id: str, change: dict[str, Any], *, at: datetime, by: str) -> dict[str, Any] | None:
        return await self.collection.find_one_and_update(
            {"_id": staff_id},
            {"$set": {**change, "updated_at": at, "updated_by": by}},
            upsert=True,
            session=self.session,
        )

    async def set_owned(self, staff_id: str, owned: int) -> None:
        await self.collection.update_one({"_id": staff_id}, {"$set": {"owned": owned}}, session=self.session)

    async def move_owned(self, moves: Counter[str]) -> None:
        if any(moves.values()):
            # How many customers each staff member owns, kept with the change that moves them: what the staff
            # directory shows, without counting customers on every read.
            await self.collection.bulk_write(
                [UpdateOne({"_id": sid}, {"$inc": {"owned": n}}) for sid, n in sorted(moves.items()) if n],
                ordered=False,
                session=self.session,
            )


class MongoRollouts:
    def __init__(self, store: TieringStore, session: AsyncClientSession | None = None) -> None:
        self.collection, self.session = store.rollouts, session

    async def load(self, rollout_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": rollout_id}, session=self.session)

    async def first_running(self) -> dict[str, Any] | None:
        return await self.collection.find_one(
            {"status": "running"}, sort=[("policy_version", ASCENDING)], session=self.session
        )

    async def add(self, rollout: dict[str, Any]) -> None:
        await self.collection.insert_one(rollout, session=self.session)

    async def supersede_running(self, *, at: datetime) -> None:
        await self.collection.update_many(
            {"status": "running"}, {"$set": {"status": "superseded", "finished_at": at}}, session=self.session
        )

    async def advance(
        self, rollout_id: str, *, cursor: str, at: datetime, finished: bool, done: int, changed: int
    ) -> None:
        await self.collection.update_one(
            {"_id": rollout_id},
            {
                "$set": {
                    "cursor": cursor,
                    "updated_at": at,
                    **({"status": "done", "finished_at": at} if finished else {}),
                },
                "$inc": {"done": done, "changed": changed},
            },
            session=self.session,
        )


SWEPT = "swept"  # clock document: the last day the sweep finished


class MongoClocks:
    """One small document per process with the latest snapshot date it applied (so replicas never write the
    same one), and the sweep's."""

    def __init__(self, store: TieringStore, session: AsyncClientSession | None = None) -> None:
        self.collection, self.session = store.clock, session

    async def advance(self, instance: str, as_of: str) -> None:
        await self.collection.update_one(
            {"_id": instance}, {"$max": {"as_of": as_of}}, upsert=True, session=self.session
        )

    async def business_date(self) -> date | None:
        docs = await self.collection.find({}, {"as_of": 1}, session=self.session).to_list()
        dates = [doc["as_of"] for doc in docs if doc.get("as_of")]
        return date.fromisoformat(max(dates)) if dates else None

    async def swept_through(self) -> str | None:
        doc = await self.collection.find_one({"_id": SWEPT}, session=self.session)
        return None if doc is None else doc["through"]

    async def mark_swept(self, through: str) -> None:
        await self.collection.update_one(
            {"_id": SWEPT}, {"$max": {"through": through}}, upsert=True, session=self.session
        )


def binding(
    store: TieringStore, outbox: Outbox, policies: PolicyVersions[Policy]
) -> Callable[[AsyncClientSession | None], TieringRepositories]:
    """`bind(session)`: the repositories, outbox and audit trail in one transaction (None: reading outside one)."""

    def bind(session: AsyncClientSession | None) -> TieringRepositories:
        return TieringRepositories(
            customers=MongoCustomers(store, session),
            watch=MongoWatchEntries(store, session),
            staff=MongoStaffDirectory(store, session),
            rollouts=MongoRollouts(store, session),
            clock=MongoClocks(store, session),
            policies=PoliciesInTransaction(policies, session),
            outbox=TransactionOutbox(outbox, session),
            audit=TransactionAudit(store.audit, session),
        )

    return bind
