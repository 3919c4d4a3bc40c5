"""Every query of the profile service, one repository per collection the archive keeps, bound to one transaction.

The application layer (service/) sees only the `ProfileRepositories` bundle: `bind(session)` builds it for one
transaction (session None: reading, or writing on its own, outside one). The repositories' fields are typed with
the Protocols below, so the in-memory fakes of the unit tests (tests/unit/profile/fakes.py) type-check against
them. A customer is loaded and saved as the domain's `Customer` (its record, version, event numbering, changes and
events); the other collections' rows stay the archive's dicts. How sensitive values are sealed is adapters/store.py's
`SensitiveFields`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crm_kit.auth import Principal
from crm_kit.outbox import Outbox
from crm_kit.scope import CUSTOMERS
from crm_kit.unit_of_work import AuditOut, EventsOut, TransactionOutbox
from crm_profile.adapters.store import ProfileStore
from crm_profile.domain.customer import Customer

Doc = dict[str, Any]

POSITION_FIELDS = ("_id", "core_customer_no", "aum", "event_seq")
"""What the balances feed reads of a customer: its link, its current position and its event numbering."""
TIERING_FIELDS = (
    "_id",
    "status",
    "version",
    "owner",
    "tier",
    "tiering_seq",
)
"""What tiering's decisions need of a customer: whether it is active, the owner and tier held (a history row names
the change), and the number of the last of tiering's events applied (its per-customer sequence)."""


def customer_of(doc: Doc) -> Customer:
    """The domain's customer from its document (the whole document, or the fields a query read)."""
    return Customer(id=doc["_id"], record=doc, version=doc.get("version"), event_seq=doc.get("event_seq", 0))


def feed_changes(customer: Customer) -> Doc:
    """What a feed's save sets on a customer: its changes, and the event number reached when it raised events."""
    return {**customer.changes, **({"event_seq": customer.event_seq} if customer.events else {})}


class KeyTaken(Exception):
    """A unique key (an ID document, a core-banking number) is already held by another customer's record."""


@contextmanager
def _unique_keys() -> Iterator[None]:
    """Turns the database's duplicate-key refusal into `KeyTaken`, except when the transaction will be retried
    (a transient error keeps its own type, so the retry still happens)."""
    try:
        yield
    except (DuplicateKeyError, BulkWriteError) as exc:
        if exc.has_error_label("TransientTransactionError"):
            raise
        raise KeyTaken(str(exc)) from exc


# --- what the application layer is given -------------------------------------------------------------------------


class Customers(Protocol):
    """The customers' records."""

    async def load(self, customer_id: str) -> Customer | None: ...

    async def load_many(self, customer_ids: Sequence[str]) -> list[Customer]: ...

    async def page(
        self,
        principal: Principal,
        *,
        branch: str | None,
        owner: str | None,
        tier: str | None,
        tag: str | None,
        phone_hash: str | None,
        include_merged: bool,
        after: str | None,
        limit: int,
    ) -> list[Doc]:
        """Up to `limit` customers `principal` may see, by id after `after`, filtered as given."""
        ...

    async def holder_of_core_no(self, core_customer_no: str | None) -> str | None:
        """The id of the customer linked to this core-banking number, if any."""
        ...

    async def survivors_of_merged_ids(self, id_hashes: Sequence[str]) -> dict[str, str]:
        """ID-document hash -> survivor id, for merged-away records that held these ID documents."""
        ...

    async def holders_of_ids(self, id_hashes: Sequence[str]) -> dict[str, str]:
        """ID-document hash -> id of the record holding it."""
        ...

    async def core_nos_taken(self, core_nos: Sequence[str]) -> set[str]: ...

    async def add_many(self, docs: Sequence[Doc]) -> None:
        """Register new records, in order; `KeyTaken` when one's ID document or core-banking number is held."""
        ...

    async def save(self, customer: Customer) -> Customer | None:
        """Write a staff member's change: the customer's changes, cleared fields and new version, on the record
        only if still at the version read, taking one event number per event raised; the customer as written,
        None when it changed meanwhile. `KeyTaken` when a unique key is held by another record."""
        ...

    async def save_consent(
        self, customer_id: str, *, channel: str, entry: Doc, version: int, at: datetime, by: str
    ) -> Doc | None:
        """Record a consent change as `version`, taking the next event number; the record as written."""
        ...

    async def mark_merged(self, duplicate: Doc, *, survivor_id: str, at: datetime, by: str) -> None:
        """The duplicate gives up its unique keys and points to its survivor."""
        ...

    async def absorb(self, survivor_id: str, *, duplicate_id: str, changes: Doc, events: int) -> Doc | None:
        """Set `changes` on the survivor, note the merged id and take `events` event numbers; the record as
        written."""
        ...

    async def positions_of(self, core_nos: Sequence[str]) -> list[Customer]:
        """The customers linked to these core-banking numbers, read for POSITION_FIELDS only."""
        ...

    async def tiering_state_of(self, customer_ids: Sequence[str]) -> list[Customer]:
        """These customers, read for TIERING_FIELDS only."""
        ...

    async def save_many(self, customers: Sequence[Customer]) -> None:
        """Write what feeds changed on many customers at once (no version check: a feed's read and write are in one
        snapshot transaction, so a racing writer makes it conflict and retry): the changed fields, and the event
        number reached when events were raised (`feed_changes`)."""
        ...


class CustomerHistory(Protocol):
    """Each customer's history rows (who changed what, when, through which channel)."""

    async def add(self, row: Doc) -> None: ...

    async def add_many(self, rows: Sequence[Doc]) -> None: ...

    async def of_customer(self, customer_id: str) -> list[Doc]:
        """Oldest first."""
        ...


class BalanceHistory(Protocol):
    """Each customer's daily assets under management from core banking, one row per day."""

    async def latest_of(self, customer_id: str, *, limit: int) -> list[Doc]:
        """Newest day first."""
        ...

    async def record_days(self, days: Sequence[Doc]) -> None:
        """Write each day (customer_id, as_of, aum, breakdown, received_at), replacing what the day held."""
        ...

    async def move(self, from_customer: str, to_customer: str) -> None:
        """Re-key one customer's days to another (a merge hands the core-banking link over)."""
        ...


class Relationships(Protocol):
    """Links between customers (family, referral...)."""

    async def find_link(self, from_id: str, to_id: str, kind: str, *, either_way: bool) -> Doc | None: ...

    async def add(self, relationship: Doc) -> None: ...

    async def of_customer(self, customer_id: str) -> list[Doc]:
        """Either way, oldest first."""
        ...

    async def remove(self, relationship_id: str, *, customer_id: str) -> Doc | None:
        """Remove the link if it involves `customer_id`; the removed link, None when there was none."""
        ...

    async def repoint(self, from_customer: str, to_customer: str) -> None:
        """Move every link of one customer to another, dropping the links it would have with itself."""
        ...


@dataclass
class ProfileRepositories:
    customers: Customers
    history: CustomerHistory
    balances: BalanceHistory
    relationships: Relationships
    outbox: EventsOut
    audit: AuditOut
    """Who saw which customer's full sensitive values, and why (the target is the customer)."""


def binder(store: ProfileStore, outbox: Outbox) -> Callable[[AsyncClientSession | None], ProfileRepositories]:
    """The `bind(session)` of the profile's unit of work."""

    def bind(session: AsyncClientSession | None) -> ProfileRepositories:
        return ProfileRepositories(
            customers=MongoCustomers(store.customers, session),
            history=MongoCustomerHistory(store.history, session),
            balances=MongoBalanceHistory(store.balances, session),
            relationships=MongoRelationships(store.relationships, session),
            outbox=TransactionOutbox(outbox, session),
            audit=MongoAuditLog(store.audit, session),
        )

    return bind


# --- on MongoDB ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MongoCustomers:
    collection: AsyncCollection[Doc]
    session: AsyncClientSession | None = None

    async def load(self, customer_id: str) -> Customer | None:
        doc = await self.collection.find_one({"_id": customer_id}, session=self.session)
        return customer_of(doc) if doc is not None else None

    async def load_many(self, customer_ids: Sequence[str]) -> list[Customer]:
        docs = await self.collection.find({"_id": {"$in": list(customer_ids)}}, session=self.session).to_list()
        return [customer_of(doc) for doc in docs]

    async def page(
        self,
        principal: Principal,
        *,
        branch: str | None,
        owner: str | None,
        tier: str | None,
        tag: str | None,
        phone_hash: str | None,
        include_merged: bool,
        after: str | None,
        limit: int,
    ) -> list[Doc]:
        query: dict[str, Any] = {}
        scope = CUSTOMERS.query(principal)
        for field, value in (("branch", branch), ("owner", owner), ("tier", tier)):
            if value is not None:
                query[field] = value
        if tag is not None:
            query["tags"] = tag
        if phone_hash is not None:
            query["lookup.phones"] = phone_hash
        if not include_merged:
            query["status"] = "active"
        if after:
            query["_id"] = {"$gt": after}
        full = {"$and": [query, scope]} if scope else query
        return await self.collection.find(full, session=self.session).sort("_id", ASCENDING).limit(limit).to_list()

    async def holder_of_core_no(self, core_customer_no: str | None) -> str | None:
        doc = await self.collection.find_one({"core_customer_no": core_customer_no}, {"_id": 1}, session=self.session)
        return doc["_id"] if doc is not None else None

    async def survivors_of_merged_ids(self, id_hashes: Sequence[str]) -> dict[str, str]:
        docs = await self.collection.find(
            {"lookup.merged_id": {"$in": list(id_hashes)}},
            {"lookup.merged_id": 1, "merged_into": 1},
            session=self.session,
        ).to_list()
        return {doc["lookup"]["merged_id"]: doc["merged_into"] for doc in docs}

    async def holders_of_ids(self, id_hashes: Sequence[str]) -> dict[str, str]:
        docs = await self.collection.find(
            {"lookup.id": {"$in": list(id_hashes)}}, {"lookup.id": 1}, session=self.session
        ).to_list()
        return {doc["lookup"]["id"]: doc["_id"] for doc in docs}

    async def core_nos_taken(self, core_nos: Sequence[str]) -> set[str]:
        docs = await self.collection.find(
            {"core_customer_no": {"$in": list(core_nos)}}, {"core_customer_no": 1}, session=self.session
        ).to_list()
        return {doc["core_customer_no"] for doc in docs}

    async def add_many(self, docs: Sequence[Doc]) -> None:
        with _unique_keys():
            await self.collection.insert_many(list(docs), ordered=True, session=self.session)

    async def save(self, customer: Customer) -> Customer | None:
        with _unique_keys():
            doc = await self.collection.find_one_and_update(
                {"_id": customer.id, "version": customer.stored_version},
                {
                    "$set": {**customer.changes, "version": customer.version},
                    "$inc": {"event_seq": len(customer.events)},
                    **({"$unset": dict.fromkeys(customer.cleared, "")} if customer.cleared else {}),
                },
                session=self.session,
                return_document=ReturnDocument.AFTER,
            )
        return customer_of(doc) if doc is not None else None

    async def save_consent(
        self, customer_id: str, *, channel: str, entry: Doc, version: int, at: datetime, by: str
    ) -> Doc | None:
        return await self.collection.find_one_and_update(
            {"_id": customer_id},
            {
                "$set": {f"consents.{channel}": entry, "version": version, "updated_at": at, "updated_by": by},
                "$inc": {"event_seq": 1},
            },
            session=self.session,
            return_document=ReturnDocument.AFTER,
        )

    async def mark_merged(self, duplicate: Doc, *, survivor_id: str, at: datetime, by: str) -> None:
        await self.collection.update_one(
            {"_id": duplicate["_id"]},
            {
                "$set": {
                    "status": "merged",
                    "merged_into": survivor_id,
                    "updated_at": at,
                    "updated_by": by,
                    "lookup.merged_id": duplicate["lookup"].get("id"),
                    "version": duplicate["version"] + 1,
                },
                "$unset": {"lookup.id": "", "core_customer_no": ""},
            },
            session=self.session,
        )

    async def absorb(self, survivor_id: str, *, duplicate_id: str, changes: Doc, events: int) -> Doc | None:
        return await self.collection.find_one_and_update(
            {"_id": survivor_id},
            {"$set": changes, "$inc": {"event_seq": events}, "$addToSet": {"merged_ids": duplicate_id}},
            session=self.session,
            return_document=ReturnDocument.AFTER,
        )

    async def positions_of(self, core_nos: Sequence[str]) -> list[Customer]:
        docs = await self.collection.find(
            {"core_customer_no": {"$in": list(core_nos)}},
            dict.fromkeys(POSITION_FIELDS, 1),
            session=self.session,
            batch_size=max(1, len(core_nos)),  # the whole batch in one reply
        ).to_list()
        return [customer_of(doc) for doc in docs]

    async def tiering_state_of(self, customer_ids: Sequence[str]) -> list[Customer]:
        docs = await self.collection.find(
            {"_id": {"$in": list(customer_ids)}},
            dict.fromkeys(TIERING_FIELDS, 1),
            session=self.session,
            batch_size=max(1, len(customer_ids)),
        ).to_list()
        return [customer_of(doc) for doc in docs]

    async def save_many(self, customers: Sequence[Customer]) -> None:
        await self.collection.bulk_write(
            [UpdateOne({"_id": customer.id}, {"$set": feed_changes(customer)}) for customer in customers],
            ordered=False,
            session=self.session,
        )


@dataclass(frozen=True)
class MongoCustomerHistory:
    collection: AsyncCollection[Doc]
    session: AsyncClientSession | None = None

    async def add(self, row: Doc) -> None:
        await self.collection.insert_one(row, session=self.session)

    async def add_many(self, rows: Sequence[Doc]) -> None:
        await self.collection.insert_many(list(rows), ordered=True, session=self.session)

    async def of_customer(self, customer_id: str) -> list[Doc]:
        return (
            await self.collection.find({"customer_id": customer_id}, {"_id": 0}, session=self.session)
            .sort("at", ASCENDING)
            .to_list()
        )


@dataclass(frozen=True)
class MongoBalanceHistory:
    collection: AsyncCollection[Doc]
    session: AsyncClientSession | None = None

    async def latest_of(self, customer_id: str, *, limit: int) -> list[Doc]:
        return (
            await self.collection.find({"customer_id": customer_id}, {"_id": 0, "customer_id": 0}, session=self.session)
            .sort("as_of", -1)
            .limit(limit)
            .to_list()
        )

    async def record_days(self, days: Sequence[Doc]) -> None:
        await self.collection.bulk_write(
            [UpdateOne({"_id": f"{day['customer_id']}:{day['as_of']}"}, {"$set": day}, upsert=True) for day in days],
            ordered=False,
            session=self.session,
        )

    async def move(self, from_customer: str, to_customer: str) -> None:
        rows = await self.collection.find({"customer_id": from_customer}, session=self.session).to_list()
        if rows:
            await self.collection.insert_many(
                [{**row, "_id": f"{to_customer}:{row['as_of']}", "customer_id": to_customer} for row in rows],
                session=self.session,
            )
            await self.collection.delete_many({"customer_id": from_customer}, session=self.session)


@dataclass(frozen=True)
class MongoRelationships:
    collection: AsyncCollection[Doc]
    session: AsyncClientSession | None = None

    async def find_link(self, from_id: str, to_id: str, kind: str, *, either_way: bool) -> Doc | None:
        same_way = {"from_id": from_id, "to_id": to_id, "kind": kind}
        other_way = {"from_id": to_id, "to_id": from_id, "kind": kind}
        return await self.collection.find_one(
            {"$or": [same_way, other_way]} if either_way else same_way, session=self.session
        )

    async def add(self, relationship: Doc) -> None:
        await self.collection.insert_one(relationship, session=self.session)

    async def of_customer(self, customer_id: str) -> list[Doc]:
        return (
            await self.collection.find(
                {"$or": [{"from_id": customer_id}, {"to_id": customer_id}]}, session=self.session
            )
            .sort("created_at", ASCENDING)
            .to_list()
        )

    async def remove(self, relationship_id: str, *, customer_id: str) -> Doc | None:
        return await self.collection.find_one_and_delete(
            {"_id": relationship_id, "$or": [{"from_id": customer_id}, {"to_id": customer_id}]}, session=self.session
        )

    async def repoint(self, from_customer: str, to_customer: str) -> None:
        await self.collection.update_many(
            {"from_id": from_customer}, {"$set": {"from_id": to_customer}}, session=self.session
        )
        await self.collection.update_many(
            {"to_id": from_customer}, {"$set": {"to_id": to_customer}}, session=self.session
        )
        await self.collection.delete_many({"from_id": to_customer, "to_id": to_customer}, session=self.session)


@dataclass(frozen=True)
class MongoAuditLog:
    """The profile's audit log. Its rows keep the shape they have always had (customer_id, branch, fields,
    purpose at the top level), so `target` is written as `customer_id` and `detail` is spread into the row."""

    collection: AsyncCollection[Doc]
    session: AsyncClientSession | None = None

    async def record(
        self, *, staff_id: str, role: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> None:
        rest = dict(detail or {})
        row = {
            "at": datetime.now(UTC),
            "staff_id": staff_id,
            "role": role,
            "branch": rest.pop("branch", None),
            "action": action,
            "customer_id": target,
            **rest,
        }
        await self.collection.insert_one(row, session=self.session)

    async def read(self, *, target: str | None, staff_id: str | None, limit: int) -> list[Doc]:
        """Newest first, filtered by customer and/or staff member."""
        query: dict[str, Any] = {}
        if target:
            query["customer_id"] = target
        if staff_id:
            query["staff_id"] = staff_id
        return await self.collection.find(query, {"_id": 0}, session=self.session).sort("at", -1).limit(limit).to_list()
