"""Every query complaints makes, by name: the cases, what complaints knows of each customer, the roster of
handlers and the deadline clock's progress. `ComplaintsRepositories` bundles them with the outbox and the audit trail
for one transaction (crm_kit.unit_of_work); the application layer (service/) sees only these names.

Saving a case publishes the events it raised (the outbox, same transaction): nothing else publishes a case's events.
Listing queries leave out the description and the complainant's contact details (encrypted, only for `view`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo import UpdateMany, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_complaints.adapters.store import ComplaintsStore, complaint_from_doc, complaint_state
from crm_complaints.domain.complaint import Complaint
from crm_complaints.domain.policy import ComplaintsPolicy
from crm_kit.auth import Principal
from crm_kit.calendar import WorkingCalendar
from crm_kit.outbox import Outbox, outgoing_event
from crm_kit.policies import PoliciesInTransaction, PolicyVersions
from crm_kit.scope import DataScope
from crm_kit.unit_of_work import AuditOut, EventsOut, TransactionAudit, TransactionOutbox

SOURCE = "crm/complaints"
_NOT_PERSONAL = {"description": 0, "complainant": 0}
_WATCHED = {"$or": [{"open": True}, {"state": "resolved"}]}
"""what the deadline clock visits: open cases, and resolved ones waiting for the customer's answer"""


@dataclass(frozen=True)
class CustomerChange:
    """One change to what complaints knows of a customer, from the profile's or tiering's events."""

    customer_id: str
    fields: dict[str, Any] | None = None
    """set as given (tiering's word: tier, owner, branch, its sequence)"""
    registered: tuple[str | None, str | None] | None = None
    """(owner, branch) from the registration: fills only what tiering has not said yet"""
    merged_into: str | None = None
    merged_id: str | None = None
    """a record merged into this one"""


class CaseRepository(Protocol):
    async def document(self, complaint_id: str) -> dict[str, Any] | None: ...
    async def add(self, case: Complaint, personal: dict[str, Any]) -> None: ...
    async def save_many(self, cases: list[Complaint]) -> None: ...
    async def latest_repeat(
        self, customer_ids: list[str], category: str, since: datetime, until: datetime
    ) -> str | None: ...
    async def listed(
        self,
        scope: DataScope,
        principal: Principal,
        *,
        equal: dict[str, str],
        customer_unverified: bool | None,
        after: str | None,
        limit: int,
    ) -> list[dict[str, Any]]: ...
    async def received_between(
        self, scope: DataScope, principal: Principal, since: datetime, until: datetime, *, branch: str | None
    ) -> list[Complaint]: ...
    async def open_of_handler(self, staff_id: str, *, outside_branch: str | None) -> list[Complaint]: ...
    async def open_without_handler(self, branch: str) -> list[Complaint]: ...
    async def open_to_catch_up(self, customer_ids: set[str]) -> list[tuple[Complaint, str | None]]: ...
    async def set_owner(self, complaint_id: str, owner: str) -> None: ...
    async def give_customer_cases_to(self, customer_id: str, owner: str) -> None: ...
    async def follow_owners(self, owners: list[tuple[str, str, bool]]) -> None: ...
    async def waiting_customer_ids(self, *, limit: int) -> list[str]: ...
    async def waiting_since(self, cutoff: datetime, *, limit: int) -> list[Complaint]: ...
    async def watched_ids(self) -> list[str]: ...
    async def watched_among(self, ids: list[str]) -> list[Complaint]: ...
    async def provisional_under_other_revision(self, revision: str, *, limit: int) -> list[Complaint]: ...


class CustomerRepository(Protocol):
    async def get(self, customer_id: str) -> dict[str, Any] | None: ...
    async def get_many(self, customer_ids: set[str]) -> list[dict[str, Any]]: ...
    async def with_branch(self, customer_ids: list[str]) -> list[str]: ...
    async def tiering_seqs(self, customer_ids: set[str]) -> dict[str, int]: ...
    async def apply(self, changes: list[CustomerChange]) -> None: ...


class HandlerRepository(Protocol):
    async def get(self, staff_id: str) -> dict[str, Any] | None: ...
    async def active_of_branch(self, branch: str | None) -> dict[str, list[str] | None]: ...
    async def put(self, staff_id: str, fields: dict[str, Any]) -> None: ...
    async def listed(self, branch: str | None, *, every_branch: bool = False) -> list[dict[str, Any]]: ...


class ClockProgress(Protocol):
    async def get(self, key: str) -> dict[str, Any]: ...
    async def record(self, key: str, *, cursor: str, at: datetime, finished_day: str | None) -> None: ...


class PolicyRepository(Protocol):
    async def current(self) -> tuple[ComplaintsPolicy, int]: ...
    async def read(self) -> dict[str, Any]: ...
    async def publish(self, policy: ComplaintsPolicy, *, by: str, note: str | None) -> int: ...


@dataclass
class ComplaintsRepositories:
    complaints: CaseRepository
    customers: CustomerRepository
    handlers: HandlerRepository
    clock: ClockProgress
    policy: PolicyRepository
    outbox: EventsOut
    audit: AuditOut


class MongoCases:
    def __init__(
        self,
        store: ComplaintsStore,
        session: AsyncClientSession | None,
        *,
        calendar: WorkingCalendar,
        outbox: EventsOut,
        topic: str,
    ) -> None:
        self.collection, self.session, self.calendar, self.outbox, self.topic = (
            store.complaints,
            session,
            calendar,
            outbox,
            topic,
        )

    async def _find(self, query: dict[str, Any], *, personal: bool = False, calendar: bool = False) -> list[Complaint]:
        docs = (
            await self.collection.find(query, None if personal else _NOT_PERSONAL, session=self.session)
            .sort("_id", 1)
            .to_list()
        )
        return [complaint_from_doc(doc, calendar=self.calendar if calendar else None) for doc in docs]

    async def document(self, complaint_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": complaint_id}, session=self.session)

    async def add(self, case: Complaint, personal: dict[str, Any]) -> None:
        """A new case, with what it holds beside the process (who took it in, the owner, the encrypted details)."""
        await self.collection.insert_one(
            {"_id": case.complaint_id, **complaint_state(case), **personal}, session=self.session
        )
        await self._publish([case])

    async def save_many(self, cases: list[Complaint]) -> None:
        """Stored cases and their events: one bulk write and one outbox insert, however many cases."""
        if not cases:
            return
        await self.collection.bulk_write(
            [UpdateOne({"_id": case.complaint_id}, {"$set": complaint_state(case)}) for case in cases],
            ordered=False,
            session=self.session,
        )
        await self._publish(cases)

    async def _publish(self, cases: list[Complaint]) -> None:
        await self.outbox.add(
            [
                outgoing_event(self.topic, event, source=SOURCE, customer_id=case.customer_id or case.complaint_id)
                for case in cases
                for event in case.events
            ]
        )
        for case in cases:
            case.events.clear()

    async def latest_repeat(
        self, customer_ids: list[str], category: str, since: datetime, until: datetime
    ) -> str | None:
        """The newest earlier case of the customer (or of records merged into it) in the category and window."""
        earlier = await self.collection.find_one(
            {"customer_id": {"$in": customer_ids}, "category": category, "received_at": {"$gte": since, "$lte": until}},
            {"_id": 1},
            sort=[("received_at", -1)],
            session=self.session,
        )
        return earlier["_id"] if earlier else None

    async def listed(
        self,
        scope: DataScope,
        principal: Principal,
        *,
        equal: dict[str, str],
        customer_unverified: bool | None,
        after: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """The cases `principal` may see with these field values, a page in id order after `after`."""
        query: dict[str, Any] = scope.query(principal)
        for name, value in equal.items():
            query = {"$and": [query, {name: value}]}
        if customer_unverified is not None:  # cases written before the flag existed have none: not unverified
            flag = {"customer_unverified": True} if customer_unverified else {"customer_unverified": {"$ne": True}}
            query = {"$and": [query, flag]}
        if after:
            query = {"$and": [query, {"_id": {"$gt": after}}]}
        return await self.collection.find(query, session=self.session).sort("_id", 1).limit(limit).to_list()

    async def received_between(
        self, scope: DataScope, principal: Principal, since: datetime, until: datetime, *, branch: str | None
    ) -> list[Complaint]:
        """The cases `principal` may see received in [since, until), of one branch when given."""
        query: dict[str, Any] = scope.query(principal)
        if branch:
            query = {"$and": [query, {"branch": branch}]}
        docs = await self.collection.find(
            {"$and": [query, {"received_at": {"$gte": since, "$lt": until}}]},
            {"description": 0, "complainant": 0, "history": 0},
            session=self.session,
        ).to_list()
        return [complaint_from_doc(doc, calendar=self.calendar) for doc in docs]

    async def open_of_handler(self, staff_id: str, *, outside_branch: str | None) -> list[Complaint]:
        """A handler's open cases (only those outside `outside_branch` when given: the handler moved branch)."""
        return await self._find(
            {"open": True, "handler": staff_id, **({"branch": {"$ne": outside_branch}} if outside_branch else {})}
        )

    async def open_without_handler(self, branch: str) -> list[Complaint]:
        return await self._find({"open": True, "branch": branch, "handler": None})

    async def open_to_catch_up(self, customer_ids: set[str]) -> list[tuple[Complaint, str | None]]:
        """The customers' open cases still waiting for them or without priority, with the owner each has."""
        docs = (
            await self.collection.find(
                {
                    "customer_id": {"$in": sorted(customer_ids)},
                    "open": True,
                    "$or": [{"routing": "pending_customer"}, {"priority": False}],
                },
                _NOT_PERSONAL,
                session=self.session,
            )
            .sort("_id", 1)
            .to_list()
        )
        return [(complaint_from_doc(doc), doc.get("owner")) for doc in docs]

    async def set_owner(self, complaint_id: str, owner: str) -> None:
        await self.collection.update_one({"_id": complaint_id}, {"$set": {"owner": owner}}, session=self.session)

    async def give_customer_cases_to(self, customer_id: str, owner: str) -> None:
        await self.collection.update_many(
            {"customer_id": customer_id, "owner": {"$ne": owner}}, {"$set": {"owner": owner}}, session=self.session
        )

    async def follow_owners(self, owners: list[tuple[str, str, bool]]) -> None:
        """(customer id, owner, replaces): the customer's cases take the owner; without `replaces` only those that
        have none (a registration does not undo tiering's assignment)."""
        if owners:
            await self.collection.bulk_write(
                [
                    UpdateMany(
                        {"customer_id": cid, **({} if replaces else {"owner": None})}, {"$set": {"owner": owner}}
                    )
                    for cid, owner, replaces in owners
                ],
                ordered=True,
                session=self.session,
            )

    async def waiting_customer_ids(self, *, limit: int) -> list[str]:
        """The customers of the longest-waiting cases not flagged yet."""
        young = (
            await self.collection.find(
                {"routing": "pending_customer", "customer_unverified": False, "open": True},
                {"customer_id": 1},
                session=self.session,
            )
            .sort("pending_since", 1)
            .limit(limit)
            .to_list()
        )
        return sorted({doc["customer_id"] for doc in young if doc.get("customer_id")})

    async def waiting_since(self, cutoff: datetime, *, limit: int) -> list[Complaint]:
        docs = (
            await self.collection.find(
                {
                    "routing": "pending_customer",
                    "customer_unverified": False,
                    "open": True,
                    "pending_since": {"$lte": cutoff},
                },
                _NOT_PERSONAL,
                session=self.session,
            )
            .sort("pending_since", 1)
            .limit(limit)
            .to_list()
        )
        return [complaint_from_doc(doc) for doc in docs]

    async def watched_ids(self) -> list[str]:
        return [doc["_id"] for doc in await self.collection.find(_WATCHED, {"_id": 1}, session=self.session).to_list()]

    async def watched_among(self, ids: list[str]) -> list[Complaint]:
        """Read again by id: a case closed since the pass began is not watched any more."""
        if not ids:
            return []
        return await self._find({**_WATCHED, "_id": {"$in": ids}}, personal=True, calendar=True)

    async def provisional_under_other_revision(self, revision: str, *, limit: int) -> list[Complaint]:
        docs = (
            await self.collection.find(
                {"open": True, "provisional_targets.0": {"$exists": True}, "calendar_revision": {"$ne": revision}},
                session=self.session,
            )
            .sort("_id", 1)
            .limit(limit)
            .to_list()
        )
        return [complaint_from_doc(doc, calendar=self.calendar) for doc in docs]


class MongoCustomers:
    def __init__(self, store: ComplaintsStore, session: AsyncClientSession | None) -> None:
        self.collection, self.session = store.customers, session

    async def get(self, customer_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": customer_id}, session=self.session)

    async def get_many(self, customer_ids: set[str]) -> list[dict[str, Any]]:
        return await self.collection.find({"_id": {"$in": sorted(customer_ids)}}, session=self.session).to_list()

    async def with_branch(self, customer_ids: list[str]) -> list[str]:
        """Those of the customers whose branch complaints knows."""
        known = await self.collection.find(
            {"_id": {"$in": customer_ids}, "branch": {"$ne": None}}, {"_id": 1}, session=self.session
        ).to_list()
        return [doc["_id"] for doc in known]

    async def tiering_seqs(self, customer_ids: set[str]) -> dict[str, int]:
        """The sequence of tiering's latest decision applied, per customer."""
        if not customer_ids:
            return {}
        docs = await self.collection.find(
            {"_id": {"$in": sorted(customer_ids)}}, {"tiering_seq": 1}, session=self.session
        ).to_list()
        return {doc["_id"]: doc.get("tiering_seq", 0) for doc in docs}

    async def apply(self, changes: list[CustomerChange]) -> None:
        """In the order given, one bulk write."""
        operations: list[UpdateOne] = []
        for change in changes:
            if change.fields is not None:
                operations.append(UpdateOne({"_id": change.customer_id}, {"$set": change.fields}, upsert=True))
            if change.registered is not None:
                owner, branch = change.registered
                operations.append(
                    UpdateOne(
                        {"_id": change.customer_id},
                        [
                            {
                                "$set": {
                                    "owner": {"$ifNull": ["$owner", owner]},
                                    "branch": {"$ifNull": ["$branch", branch]},
                                }
                            }
                        ],
                        upsert=True,
                    )
                )
            if change.merged_into is not None:
                operations.append(
                    UpdateOne({"_id": change.customer_id}, {"$set": {"merged_into": change.merged_into}}, upsert=True)
                )
            if change.merged_id is not None:
                operations.append(
                    UpdateOne({"_id": change.customer_id}, {"$addToSet": {"merged_ids": change.merged_id}}, upsert=True)
                )
        if operations:
            await self.collection.bulk_write(operations, ordered=True, session=self.session)


class MongoHandlers:
    def __init__(self, store: ComplaintsStore, session: AsyncClientSession | None) -> None:
        self.collection, self.session = store.handlers, session

    async def get(self, staff_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": staff_id}, session=self.session)

    async def active_of_branch(self, branch: str | None) -> dict[str, list[str] | None]:
        """The branch's active handlers and the categories each takes (None: every category)."""
        docs = await self.collection.find({"branch": branch, "active": True}, session=self.session).to_list()
        return {doc["_id"]: doc.get("categories") for doc in docs}

    async def put(self, staff_id: str, fields: dict[str, Any]) -> None:
        await self.collection.update_one({"_id": staff_id}, {"$set": fields}, upsert=True, session=self.session)

    async def listed(self, branch: str | None, *, every_branch: bool = False) -> list[dict[str, Any]]:
        """The branch's handlers (a branch of None: those without one), or every branch's."""
        query = {} if every_branch else {"branch": branch}
        docs = await self.collection.find(query, session=self.session).sort("_id", 1).to_list()
        return [{"staff_id": doc.pop("_id"), **doc} for doc in docs]


class MongoClockProgress:
    """Where a pass of the deadline clock (or another sweep) has got to: its cursor and the passes made."""

    def __init__(self, store: ComplaintsStore, session: AsyncClientSession | None) -> None:
        self.collection, self.session = store.scheduler, session

    async def get(self, key: str) -> dict[str, Any]:
        return await self.collection.find_one({"_id": key}, session=self.session) or {}

    async def record(self, key: str, *, cursor: str, at: datetime, finished_day: str | None) -> None:
        update: dict[str, Any] = {"$set": {"cursor": cursor, "updated_at": at}}
        if finished_day is not None:
            update["$inc"] = {"passes": 1}
            update["$set"]["last_pass_day"] = finished_day
        await self.collection.update_one({"_id": key}, update, upsert=True, session=self.session)


@dataclass(frozen=True)
class MongoComplaints:
    """Builds the repositories for one transaction (or for reading, with no session)."""

    store: ComplaintsStore
    policies: PolicyVersions[ComplaintsPolicy]
    outbox_writer: Outbox
    calendar: WorkingCalendar
    topic: str

    def bind(self, session: AsyncClientSession | None) -> ComplaintsRepositories:
        outbox = TransactionOutbox(self.outbox_writer, session, sequences=self.store.sequences)
        return ComplaintsRepositories(
            complaints=MongoCases(self.store, session, calendar=self.calendar, outbox=outbox, topic=self.topic),
            customers=MongoCustomers(self.store, session),
            handlers=MongoHandlers(self.store, session),
            clock=MongoClockProgress(self.store, session),
            policy=PoliciesInTransaction(self.policies, session),
            outbox=outbox,
            audit=TransactionAudit(self.store.audit, session),
        )
