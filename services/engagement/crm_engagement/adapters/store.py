"""Engagement's MongoDB collections and the mapping between documents and domain objects.

Calendar dates (due dates, birthdays, assessment dates) are stored as ISO strings: they are days, not
instants, and sort correctly as strings. Instants are UTC datetimes; money is Decimal128.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne

from crm_engagement.domain.customer import EngagedCustomer
from crm_engagement.domain.tasks import Task, open_key
from crm_kit.audit import AuditTrail
from crm_kit.db import Mongo
from crm_kit.outbox import SubjectSequences


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _s(value: date | None) -> str | None:
    return value.isoformat() if value else None


class EngagementStore:
    def __init__(self, mongo: Mongo) -> None:
        db = mongo.db
        self.customers = db["customers"]
        self.tasks = db["tasks"]
        self.open_keys = db["open_task_keys"]
        """one document per open task's occasion (`_id` = crm_engagement.domain.tasks.open_key): the unique key
        that makes a second open task for the same customer, kind and occasion impossible"""
        self.interactions = db["interactions"]
        self.attempts = db["contact_attempts"]
        self.products = db["products"]
        self.recommendations = db["recommendations"]
        self.surveys = db["surveys"]
        self.points = db["points_accounts"]
        self.ledger = db["points_ledger"]
        self.policies = db["policies"]
        self.scheduler = db["scheduler"]
        self.audit = AuditTrail(db["audit"])
        # Each customer's engagement events are numbered (CloudEvents `sequence`), as every service's are.
        self.sequences = SubjectSequences(db["event_sequences"])

    async def ensure_indexes(self) -> None:
        await self.customers.create_index([("owner", ASCENDING)])
        await self.customers.create_index([("branch", ASCENDING)])
        await self.tasks.create_index([("customer_id", ASCENDING), ("status", ASCENDING)])
        await self.tasks.create_index([("assignee", ASCENDING), ("status", ASCENDING), ("due_on", ASCENDING)])
        await self.tasks.create_index([("branch", ASCENDING), ("status", ASCENDING), ("due_on", ASCENDING)])
        await self.tasks.create_index([("status", ASCENDING), ("overdue", ASCENDING), ("due_on", ASCENDING)])
        await self.interactions.create_index([("customer_id", ASCENDING), ("occurred_at", DESCENDING)])
        await self.attempts.create_index([("customer_id", ASCENDING), ("at", DESCENDING)])
        await self.recommendations.create_index([("customer_id", ASCENDING), ("at", DESCENDING)])
        await self.surveys.create_index([("customer_id", ASCENDING), ("created_at", DESCENDING)])
        await self.ledger.create_index([("customer_id", ASCENDING), ("at", DESCENDING)])
        await self.audit.ensure_indexes()
        await self.claim_keys_of_open_tasks()

    async def claim_keys_of_open_tasks(self) -> None:
        """Once per database: the open tasks stored before the open-task keys existed take their keys (the earliest
        planned first), so a new task can never duplicate one of them. Idempotent, safe on several replicas."""
        if await self.scheduler.find_one({"_id": "migration:open_task_keys", "done": True}) is not None:
            return
        ops: list[UpdateOne] = []
        async for doc in self.tasks.find({"status": "open"}).sort([("created_at", ASCENDING), ("_id", ASCENDING)]):
            key = open_key(task_from_doc(doc))
            if key is not None:
                ops.append(
                    UpdateOne(
                        {"_id": key},
                        {"$setOnInsert": {"task_id": doc["_id"], "customer_id": doc["customer_id"]}},
                        upsert=True,
                    )
                )
            if len(ops) >= 500:
                await self.open_keys.bulk_write(ops, ordered=True)
                ops = []
        if ops:
            await self.open_keys.bulk_write(ops, ordered=True)
        await self.scheduler.update_one({"_id": "migration:open_task_keys"}, {"$set": {"done": True}}, upsert=True)


def customer_from_doc(doc: dict[str, Any]) -> EngagedCustomer:
    return EngagedCustomer(
        customer_id=doc["_id"],
        branch=doc.get("branch"),
        owner=doc.get("owner"),
        tier=doc.get("tier"),
        kind=doc.get("kind"),
        customer_since=_d(doc.get("customer_since")),
        birth_month_day=doc.get("birth_month_day"),
        risk_tolerance=doc.get("risk_tolerance"),
        risk_assessed_on=_d(doc.get("risk_assessed_on")),
        professional_investor=bool(doc.get("professional_investor")),
        consents={k: bool(v) for k, v in (doc.get("consents") or {}).items()},
        consent_at=dict(doc.get("consent_at") or {}),
        aum=doc.get("aum"),
        merged_into=doc.get("merged_into"),
        cadence=dict(doc.get("cadence") or {}),
        plan_version=doc.get("plan_version") or 0,
        profile_seq=doc.get("profile_seq") or 0,
        tiering_seq=doc.get("tiering_seq") or 0,
    )


def customer_state(c: EngagedCustomer) -> dict[str, Any]:
    """Everything but `_id`, for a `$set`."""
    return {
        "branch": c.branch,
        "owner": c.owner,
        "tier": c.tier,
        "kind": c.kind,
        "customer_since": _s(c.customer_since),
        "birth_month_day": c.birth_month_day,
        "risk_tolerance": c.risk_tolerance,
        "risk_assessed_on": _s(c.risk_assessed_on),
        "professional_investor": c.professional_investor,
        "consents": c.consents,
        "consent_at": c.consent_at,
        "aum": c.aum,
        "merged_into": c.merged_into,
        "cadence": c.cadence,
        "plan_version": c.plan_version,
        "profile_seq": c.profile_seq,
        "tiering_seq": c.tiering_seq,
    }


def task_from_doc(doc: dict[str, Any]) -> Task:
    return Task(
        task_id=doc["_id"],
        customer_id=doc["customer_id"],
        kind=doc["kind"],
        purpose=doc["purpose"],
        channel=doc["channel"],
        due_on=date.fromisoformat(doc["due_on"]),
        assignee=doc.get("assignee"),
        branch=doc.get("branch"),
        tier=doc.get("tier"),
        owner=doc.get("owner"),
        occasion=doc.get("occasion"),
        visible_from=_d(doc.get("visible_from")),
        status=doc["status"],
        overdue=bool(doc.get("overdue")),
        created_at=doc.get("created_at"),
        created_by=doc.get("created_by", "engagement"),
        note=doc.get("note"),
        history=list(doc.get("history") or []),
        asked_channel=doc.get("asked_channel"),
        due_counted_from=_d(doc.get("due_counted_from")),
        due_working_days=doc.get("due_working_days"),
        due_planned_on=_d(doc.get("due_planned_on")),
        provisional=bool(doc.get("provisional")),
        calendar_revision=doc.get("calendar_revision"),
    )


def task_doc(t: Task) -> dict[str, Any]:
    doc = asdict(t)
    doc["_id"] = doc.pop("task_id")
    doc["due_on"] = t.due_on.isoformat()
    doc["visible_from"] = _s(t.visible_from)
    doc["due_counted_from"] = _s(t.due_counted_from)
    doc["due_planned_on"] = _s(t.due_planned_on)
    doc["history"] = [{"at": t.created_at, "action": "created", "by": t.created_by}]
    doc["open_key"] = open_key(t)
    return doc
