"""In-memory repositories of the profile service (a module name of its own: test directories are not packages, so
every service's fakes need a distinct one): the Protocols of crm_profile.adapters.repositories, kept in dicts
of the archive's documents, each named query done in Python the way the Mongo repository asks the database.

Reads hand out copies, as a database does, so the application cannot change what is stored without saving it;
unique keys (ID document, core-banking number) are enforced like the indexes do, with `KeyTaken`."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_kit.auth import Principal
from crm_kit.fakes import ListAudit, ListOutbox
from crm_kit.scope import CUSTOMERS
from crm_profile.adapters.repositories import (
    POSITION_FIELDS,
    TIERING_FIELDS,
    KeyTaken,
    ProfileRepositories,
    customer_of,
    feed_changes,
)
from crm_profile.domain.customer import Customer

Doc = dict[str, Any]


def _get(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _set(doc: Doc, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[last] = copy.deepcopy(value)


def _unset(doc: Doc, path: str) -> None:
    *parents, last = path.split(".")
    for part in parents:
        doc = doc.get(part) or {}
    doc.pop(last, None)


def _project(doc: Doc, fields: Sequence[str]) -> Doc:
    return {name: copy.deepcopy(doc[name]) for name in fields if name in doc}


@dataclass
class FakeCustomers:
    docs: dict[str, Doc] = field(default_factory=dict)

    # The unique indexes: lookup.id (the ID document) and core_customer_no, both sparse.
    def _check_unique(self, doc: Doc) -> None:
        for other in self.docs.values():
            if other["_id"] == doc["_id"]:
                continue
            for path in ("lookup.id", "core_customer_no"):
                if _get(doc, path) is not None and _get(doc, path) == _get(other, path):
                    raise KeyTaken(f"{path} already held by {other['_id']}")

    def _write(self, doc: Doc) -> Doc:
        self._check_unique(doc)
        self.docs[doc["_id"]] = doc
        return copy.deepcopy(doc)

    async def load(self, customer_id: str) -> Customer | None:
        doc = self.docs.get(customer_id)
        return customer_of(copy.deepcopy(doc)) if doc is not None else None

    async def load_many(self, customer_ids: Sequence[str]) -> list[Customer]:
        return [customer_of(copy.deepcopy(self.docs[cid])) for cid in customer_ids if cid in self.docs]

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
        def matches(doc: Doc) -> bool:
            return (
                CUSTOMERS.allows(principal, doc)
                and all(
                    value is None or doc.get(name) == value
                    for name, value in (("branch", branch), ("owner", owner), ("tier", tier))
                )
                and (tag is None or tag in (doc.get("tags") or []))
                and (phone_hash is None or phone_hash in (_get(doc, "lookup.phones") or []))
                and (include_merged or doc.get("status") == "active")
                and (not after or doc["_id"] > after)
            )

        found = sorted((doc for doc in self.docs.values() if matches(doc)), key=lambda doc: doc["_id"])
        return copy.deepcopy(found[:limit])

    async def holder_of_core_no(self, core_customer_no: str | None) -> str | None:
        return next((doc["_id"] for doc in self.docs.values() if doc.get("core_customer_no") == core_customer_no), None)

    async def survivors_of_merged_ids(self, id_hashes: Sequence[str]) -> dict[str, str]:
        return {
            _get(doc, "lookup.merged_id"): doc["merged_into"]
            for doc in self.docs.values()
            if _get(doc, "lookup.merged_id") in id_hashes
        }

    async def holders_of_ids(self, id_hashes: Sequence[str]) -> dict[str, str]:
        return {_get(doc, "lookup.id"): doc["_id"] for doc in self.docs.values() if _get(doc, "lookup.id") in id_hashes}

    async def core_nos_taken(self, core_nos: Sequence[str]) -> set[str]:
        return {doc["core_customer_no"] for doc in self.docs.values() if doc.get("core_customer_no") in core_nos}

    async def add_many(self, docs: Sequence[Doc]) -> None:
        for doc in docs:
            if doc["_id"] in self.docs:
                raise KeyTaken(f"_id {doc['_id']} already registered")
            self._write(copy.deepcopy(doc))

    async def save(self, customer: Customer) -> Customer | None:
        stored = self.docs.get(customer.id)
        if stored is None or stored["version"] != customer.stored_version:
            return None
        doc = copy.deepcopy(stored)
        for path, value in {**customer.changes, "version": customer.version}.items():
            _set(doc, path, value)
        doc["event_seq"] = doc.get("event_seq", 0) + len(customer.events)
        for path in customer.cleared:
            _unset(doc, path)
        return customer_of(self._write(doc))

    async def save_consent(
        self, customer_id: str, *, channel: str, entry: Doc, version: int, at: datetime, by: str
    ) -> Doc | None:
        stored = self.docs.get(customer_id)
        if stored is None:
            return None
        doc = copy.deepcopy(stored)
        for path, value in {
            f"consents.{channel}": entry,
            "version": version,
            "updated_at": at,
            "updated_by": by,
        }.items():
            _set(doc, path, value)
        doc["event_seq"] = doc.get("event_seq", 0) + 1
        return self._write(doc)

    async def mark_merged(self, duplicate: Doc, *, survivor_id: str, at: datetime, by: str) -> None:
        stored = self.docs.get(duplicate["_id"])
        if stored is None:
            return
        doc = copy.deepcopy(stored)
        changes = {
            "status": "merged",
            "merged_into": survivor_id,
            "updated_at": at,
            "updated_by": by,
            "lookup.merged_id": (duplicate.get("lookup") or {}).get("id"),
            "version": duplicate["version"] + 1,
        }
        for path, value in changes.items():
            _set(doc, path, value)
        for path in ("lookup.id", "core_customer_no"):
            _unset(doc, path)
        self._write(doc)

    async def absorb(self, survivor_id: str, *, duplicate_id: str, changes: Doc, events: int) -> Doc | None:
        stored = self.docs.get(survivor_id)
        if stored is None:
            return None
        doc = copy.deepcopy(stored)
        for path, value in changes.items():
            _set(doc, path, value)
        doc["event_seq"] = doc.get("event_seq", 0) + events
        if duplicate_id not in doc.setdefault("merged_ids", []):
            doc["merged_ids"].append(duplicate_id)
        return self._write(doc)

    async def positions_of(self, core_nos: Sequence[str]) -> list[Customer]:
        return [
            customer_of(_project(doc, POSITION_FIELDS))
            for doc in self.docs.values()
            if doc.get("core_customer_no") in core_nos
        ]

    async def tiering_state_of(self, customer_ids: Sequence[str]) -> list[Customer]:
        return [customer_of(_project(self.docs[cid], TIERING_FIELDS)) for cid in customer_ids if cid in self.docs]

    async def save_many(self, customers: Sequence[Customer]) -> None:
        for customer in customers:
            if customer.id in self.docs:
                doc = copy.deepcopy(self.docs[customer.id])
                for path, value in feed_changes(customer).items():
                    _set(doc, path, value)
                self._write(doc)


@dataclass
class FakeCustomerHistory:
    rows: list[Doc] = field(default_factory=list)

    async def add(self, row: Doc) -> None:
        self.rows.append(copy.deepcopy(row))

    async def add_many(self, rows: Sequence[Doc]) -> None:
        self.rows.extend(copy.deepcopy(list(rows)))

    async def of_customer(self, customer_id: str) -> list[Doc]:
        return sorted(
            (copy.deepcopy(row) for row in self.rows if row["customer_id"] == customer_id), key=lambda row: row["at"]
        )

    def actions(self, customer_id: str) -> list[str]:
        """The actions recorded for one customer, in the order written."""
        return [row["action"] for row in self.rows if row["customer_id"] == customer_id]


@dataclass
class FakeBalanceHistory:
    days: dict[str, Doc] = field(default_factory=dict)

    async def latest_of(self, customer_id: str, *, limit: int) -> list[Doc]:
        rows = [row for row in self.days.values() if row["customer_id"] == customer_id]
        rows.sort(key=lambda row: row["as_of"], reverse=True)
        return [
            {k: copy.deepcopy(v) for k, v in row.items() if k not in ("_id", "customer_id")} for row in rows[:limit]
        ]

    async def record_days(self, days: Sequence[Doc]) -> None:
        for day in days:
            key = f"{day['customer_id']}:{day['as_of']}"
            self.days[key] = {**self.days.get(key, {"_id": key}), **copy.deepcopy(day)}

    async def move(self, from_customer: str, to_customer: str) -> None:
        rows = [row for row in self.days.values() if row["customer_id"] == from_customer]
        for row in rows:
            key = f"{to_customer}:{row['as_of']}"
            if key in self.days:
                raise KeyTaken(f"balance day {key} already recorded")
            self.days[key] = {**row, "_id": key, "customer_id": to_customer}
        for row in rows:
            del self.days[row["_id"]]


@dataclass
class FakeRelationships:
    links: dict[str, Doc] = field(default_factory=dict)

    async def find_link(self, from_id: str, to_id: str, kind: str, *, either_way: bool) -> Doc | None:
        for link in self.links.values():
            if link["kind"] != kind:
                continue
            if (link["from_id"], link["to_id"]) == (from_id, to_id) or (
                either_way and (link["from_id"], link["to_id"]) == (to_id, from_id)
            ):
                return copy.deepcopy(link)
        return None

    async def add(self, relationship: Doc) -> None:
        if relationship["_id"] in self.links:
            raise KeyTaken(f"relationship {relationship['_id']} already recorded")
        self.links[relationship["_id"]] = copy.deepcopy(relationship)

    async def of_customer(self, customer_id: str) -> list[Doc]:
        found = [link for link in self.links.values() if customer_id in (link["from_id"], link["to_id"])]
        return copy.deepcopy(sorted(found, key=lambda link: link["created_at"]))

    async def remove(self, relationship_id: str, *, customer_id: str) -> Doc | None:
        link = self.links.get(relationship_id)
        if link is None or customer_id not in (link["from_id"], link["to_id"]):
            return None
        return self.links.pop(relationship_id)

    async def repoint(self, from_customer: str, to_customer: str) -> None:
        for link in self.links.values():
            if link["from_id"] == from_customer:
                link["from_id"] = to_customer
        for link in self.links.values():
            if link["to_id"] == from_customer:
                link["to_id"] = to_customer
        for key in [k for k, link in self.links.items() if link["from_id"] == link["to_id"] == to_customer]:
            del self.links[key]


def fake_repositories() -> ProfileRepositories:
    return ProfileRepositories(
        customers=FakeCustomers(),
        history=FakeCustomerHistory(),
        balances=FakeBalanceHistory(),
        relationships=FakeRelationships(),
        outbox=ListOutbox(),
        audit=ListAudit(),
    )
