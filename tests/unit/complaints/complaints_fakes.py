"""Complaints' repositories in memory (the Protocols of crm_complaints.adapters.repositories), for service-layer
tests on crm_kit.fakes.FakeUnitOfWork: documents are kept as the database would keep them (the same mapping,
crm_complaints.adapters.store), and the named queries are answered in Python."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from crm_complaints.adapters.repositories import SOURCE, ComplaintsRepositories, CustomerChange
from crm_complaints.adapters.store import complaint_from_doc, complaint_state
from crm_complaints.domain.complaint import Complaint
from crm_complaints.domain.policy import DEFAULT_POLICY
from crm_kit.auth import Principal
from crm_kit.calendar import WorkingCalendar
from crm_kit.fakes import ListAudit, ListOutbox, ListPolicies
from crm_kit.outbox import outgoing_event
from crm_kit.scope import DataScope

TOPIC = "crm.complaints.cases"
_WATCHED = lambda doc: doc.get("open") or doc.get("state") == "resolved"  # noqa: E731 - the deadline clock's cases


class FakeCases:
    def __init__(self, outbox: ListOutbox, calendar: WorkingCalendar) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.outbox, self.calendar = outbox, calendar

    def _cases(self, keep: Any, *, calendar: bool = False) -> list[Complaint]:
        return [
            complaint_from_doc(copy.deepcopy(doc), calendar=self.calendar if calendar else None)
            for _, doc in sorted(self.docs.items())
            if keep(doc)
        ]

    async def _publish(self, cases: list[Complaint]) -> None:
        await self.outbox.add(
            [
                outgoing_event(TOPIC, event, source=SOURCE, customer_id=case.customer_id or case.complaint_id)
                for case in cases
                for event in case.events
            ]
        )
        for case in cases:
            case.events.clear()

    async def document(self, complaint_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.docs.get(complaint_id))

    async def add(self, case: Complaint, personal: dict[str, Any]) -> None:
        assert case.complaint_id not in self.docs, "a new case's id is new"
        self.docs[case.complaint_id] = {"_id": case.complaint_id, **complaint_state(case), **personal}
        await self._publish([case])

    async def save_many(self, cases: list[Complaint]) -> None:
        for case in cases:
            self.docs[case.complaint_id].update(complaint_state(case))
        await self._publish(cases)

    async def latest_repeat(
        self, customer_ids: list[str], category: str, since: datetime, until: datetime
    ) -> str | None:
        earlier = [
            doc
            for doc in self.docs.values()
            if doc["customer_id"] in customer_ids
            and doc["category"] == category
            and since <= doc["received_at"] <= until
        ]
        return max(earlier, key=lambda doc: doc["received_at"])["_id"] if earlier else None

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
        return [
            copy.deepcopy(doc)
            for _, doc in sorted(self.docs.items())
            if scope.allows(principal, doc)
            and all(doc.get(name) == value for name, value in equal.items())
            and (customer_unverified is None or bool(doc.get("customer_unverified")) == customer_unverified)
            and (after is None or doc["_id"] > after)
        ][:limit]

    async def received_between(
        self, scope: DataScope, principal: Principal, since: datetime, until: datetime, *, branch: str | None
    ) -> list[Complaint]:
        return self._cases(
            lambda doc: (
                scope.allows(principal, doc)
                and since <= doc["received_at"] < until
                and (not branch or doc.get("branch") == branch)
            ),
            calendar=True,
        )

    async def open_of_handler(self, staff_id: str, *, outside_branch: str | None) -> list[Complaint]:
        return self._cases(
            lambda doc: (
                doc["open"]
                and doc.get("handler") == staff_id
                and (not outside_branch or doc.get("branch") != outside_branch)
            )
        )

    async def open_without_handler(self, branch: str) -> list[Complaint]:
        return self._cases(lambda doc: doc["open"] and doc.get("branch") == branch and doc.get("handler") is None)

    async def open_to_catch_up(self, customer_ids: set[str]) -> list[tuple[Complaint, str | None]]:
        docs = [
            doc
            for _, doc in sorted(self.docs.items())
            if doc["customer_id"] in customer_ids
            and doc["open"]
            and (doc.get("routing") == "pending_customer" or doc.get("priority") is False)
        ]
        return [(complaint_from_doc(copy.deepcopy(doc)), doc.get("owner")) for doc in docs]

    async def set_owner(self, complaint_id: str, owner: str) -> None:
        self.docs[complaint_id]["owner"] = owner

    async def give_customer_cases_to(self, customer_id: str, owner: str) -> None:
        for doc in self.docs.values():
            if doc["customer_id"] == customer_id:
                doc["owner"] = owner

    async def follow_owners(self, owners: list[tuple[str, str, bool]]) -> None:
        for customer_id, owner, replaces in owners:
            for doc in self.docs.values():
                if doc["customer_id"] == customer_id and (replaces or doc.get("owner") is None):
                    doc["owner"] = owner

    def _waiting(self, doc: dict[str, Any]) -> bool:
        return doc.get("routing") == "pending_customer" and not doc.get("customer_unverified") and doc["open"]

    async def waiting_customer_ids(self, *, limit: int) -> list[str]:
        waiting = sorted((doc for doc in self.docs.values() if self._waiting(doc)), key=lambda d: d["pending_since"])
        return sorted({doc["customer_id"] for doc in waiting[:limit] if doc.get("customer_id")})

    async def waiting_since(self, cutoff: datetime, *, limit: int) -> list[Complaint]:
        waiting = sorted(
            (doc for doc in self.docs.values() if self._waiting(doc) and doc["pending_since"] <= cutoff),
            key=lambda doc: doc["pending_since"],
        )
        return [complaint_from_doc(copy.deepcopy(doc)) for doc in waiting[:limit]]

    async def watched_ids(self) -> list[str]:
        return [doc["_id"] for doc in self.docs.values() if _WATCHED(doc)]

    async def watched_among(self, ids: list[str]) -> list[Complaint]:
        return self._cases(lambda doc: doc["_id"] in ids and _WATCHED(doc), calendar=True)

    async def provisional_under_other_revision(self, revision: str, *, limit: int) -> list[Complaint]:
        return self._cases(
            lambda doc: doc["open"] and doc.get("provisional_targets") and doc.get("calendar_revision") != revision,
            calendar=True,
        )[:limit]


class FakeCustomers:
    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    async def get(self, customer_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.records.get(customer_id))

    async def get_many(self, customer_ids: set[str]) -> list[dict[str, Any]]:
        return [copy.deepcopy(self.records[cid]) for cid in sorted(customer_ids) if cid in self.records]

    async def with_branch(self, customer_ids: list[str]) -> list[str]:
        return [cid for cid in customer_ids if (self.records.get(cid) or {}).get("branch") is not None]

    async def tiering_seqs(self, customer_ids: set[str]) -> dict[str, int]:
        return {cid: self.records[cid].get("tiering_seq", 0) for cid in customer_ids if cid in self.records}

    async def apply(self, changes: list[CustomerChange]) -> None:
        for change in changes:
            record = self.records.setdefault(change.customer_id, {"_id": change.customer_id})
            if change.fields is not None:
                record.update(change.fields)
            if change.registered is not None:
                owner, branch = change.registered
                if record.get("owner") is None:
                    record["owner"] = owner
                if record.get("branch") is None:
                    record["branch"] = branch
            if change.merged_into is not None:
                record["merged_into"] = change.merged_into
            if change.merged_id is not None and change.merged_id not in record.setdefault("merged_ids", []):
                record["merged_ids"].append(change.merged_id)


class FakeHandlers:
    def __init__(self) -> None:
        self.roster: dict[str, dict[str, Any]] = {}

    async def get(self, staff_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.roster.get(staff_id))

    async def active_of_branch(self, branch: str | None) -> dict[str, list[str] | None]:
        return {
            staff_id: handler.get("categories")
            for staff_id, handler in self.roster.items()
            if handler.get("branch") == branch and handler.get("active")
        }

    async def put(self, staff_id: str, fields: dict[str, Any]) -> None:
        self.roster.setdefault(staff_id, {"_id": staff_id}).update(fields)

    async def listed(self, branch: str | None, *, every_branch: bool = False) -> list[dict[str, Any]]:
        return [
            {"staff_id": staff_id, **{k: v for k, v in handler.items() if k != "_id"}}
            for staff_id, handler in sorted(self.roster.items())
            if every_branch or handler.get("branch") == branch
        ]


class FakeClockProgress:
    def __init__(self) -> None:
        self.progress: dict[str, dict[str, Any]] = {}

    async def get(self, key: str) -> dict[str, Any]:
        return dict(self.progress.get(key, {}))

    async def record(self, key: str, *, cursor: str, at: datetime, finished_day: str | None) -> None:
        progress = self.progress.setdefault(key, {})
        progress.update(cursor=cursor, updated_at=at)
        if finished_day is not None:
            progress["passes"] = progress.get("passes", 0) + 1
            progress["last_pass_day"] = finished_day


def fake_repositories(calendar: WorkingCalendar) -> ComplaintsRepositories:
    outbox = ListOutbox(numbered=True)
    return ComplaintsRepositories(
        complaints=FakeCases(outbox, calendar),
        customers=FakeCustomers(),
        handlers=FakeHandlers(),
        clock=FakeClockProgress(),
        policy=ListPolicies(DEFAULT_POLICY),
        outbox=outbox,
        audit=ListAudit(),
    )
