"""Complaints' MongoDB collections and the mapping between documents and the domain's Complaint.

Days (receipt day, due dates, appraisal days) are ISO strings; instants are UTC datetimes; money Decimal128.
The description and the complainant's contact details are stored encrypted (AES-GCM, bound to the field)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from pymongo import ASCENDING, DESCENDING

from crm_complaints.domain.complaint import Complaint
from crm_complaints.domain.deadlines import rolled_past_holiday
from crm_complaints.domain.workflow import OPEN_STATES
from crm_kit.audit import AuditTrail
from crm_kit.calendar import WorkingCalendar
from crm_kit.db import Mongo
from crm_kit.outbox import SubjectSequences

_DATES = ("received_on", "acknowledge_due", "first_contact_due", "clock_start")


class ComplaintsStore:
    def __init__(self, mongo: Mongo) -> None:
        db = mongo.db
        self.complaints = db["complaints"]
        self.customers = db["customers"]
        self.handlers = db["handlers"]
        self.policies = db["policies"]
        self.audit = AuditTrail(db["audit"])
        self.scheduler = db["scheduler"]
        # Each customer's complaint events are numbered (CloudEvents `sequence`), as every service's are.
        self.sequences = SubjectSequences(db["event_sequences"])

    async def ensure_indexes(self) -> None:
        await self.complaints.create_index(
            [("customer_id", ASCENDING), ("category", ASCENDING), ("received_at", DESCENDING)]
        )
        await self.complaints.create_index([("branch", ASCENDING), ("received_at", DESCENDING)])
        await self.complaints.create_index([("handler", ASCENDING), ("state", ASCENDING)])
        await self.complaints.create_index([("open", ASCENDING), ("_id", ASCENDING)])
        # Cases waiting for their customer: the unverified sweep, and the catch-up when the customer arrives.
        await self.complaints.create_index(
            [("routing", ASCENDING), ("customer_unverified", ASCENDING), ("pending_since", ASCENDING)]
        )
        await self.handlers.create_index([("branch", ASCENDING), ("active", ASCENDING)])
        await self.audit.ensure_indexes()


def complaint_from_doc(doc: dict[str, Any], *, calendar: WorkingCalendar | None = None) -> Complaint:
    """The case; with the working-day calendar, a decision due on a public holiday can move (policy option)."""
    fields: dict[str, Any] = {
        k: doc.get(k)
        for k in Complaint.__dataclass_fields__
        if k not in ("complaint_id", "events", "holiday_roll") and k in doc
    }
    for k in _DATES:
        if fields.get(k):
            fields[k] = date.fromisoformat(fields[k])
    c = Complaint(complaint_id=doc["_id"], **fields)
    return with_calendar(c, calendar) if calendar is not None else c


def with_calendar(c: Complaint, calendar: WorkingCalendar) -> Complaint:
    c.holiday_roll = lambda due: rolled_past_holiday(
        due, is_public_holiday=calendar.is_public_holiday, next_workday=calendar.next_workday
    )
    return c


def complaint_state(c: Complaint) -> dict[str, Any]:
    """Everything but `_id` and the events, for a `$set`; plus `open` for the deadline sweep's index."""
    doc = asdict(c)
    doc.pop("complaint_id")
    doc.pop("events")
    doc.pop("holiday_roll")
    for k in _DATES:
        doc[k] = doc[k].isoformat() if doc[k] else None
    doc["open"] = c.state in OPEN_STATES
    return doc
