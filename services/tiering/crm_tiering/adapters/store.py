"""Tiering's MongoDB collections and the mapping between documents and domain objects.

Dates of snapshots are stored as ISO strings (YYYY-MM-DD): they are calendar dates, not instants,
and sort correctly as strings. Money is Decimal128.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pymongo import ASCENDING, DESCENDING

from crm_kit.audit import AuditTrail
from crm_kit.db import Mongo
from crm_tiering.domain.balances import Point
from crm_tiering.domain.churn import LargeDrop, SurveyAnswer
from crm_tiering.domain.customer import HeldBalance, TieredCustomer
from crm_tiering.domain.staff import StaffMember


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _s(value: date | None) -> str | None:
    return value.isoformat() if value else None


class TieringStore:
    def __init__(self, mongo: Mongo) -> None:
        db = mongo.db
        self.customers = db["customers"]
        self.staff = db["staff"]
        self.policies = db["policies"]
        self.rollouts = db["rollouts"]
        self.watch = db["watch"]
        self.clock = db["clock"]
        self.audit = AuditTrail(db["audit"])

    async def ensure_indexes(self) -> None:
        # Few indexes on customers on purpose: every index is rewritten on every update of a customer, and the
        # balance feed updates each customer daily. Scope queries use owner or branch; the due sweep due_on.
        await self.customers.create_index([("owner", ASCENDING)])
        await self.customers.create_index([("branch", ASCENDING)])
        await self.customers.create_index([("due_on", ASCENDING)], sparse=True)
        await self.staff.create_index([("branch", ASCENDING), ("active", ASCENDING)])
        await self.watch.create_index([("owner", ASCENDING), ("as_of", DESCENDING)])
        await self.watch.create_index([("branch", ASCENDING), ("as_of", DESCENDING)])
        await self.rollouts.create_index([("status", ASCENDING)])
        await self.audit.ensure_indexes()


def _answer(doc: dict[str, Any] | None) -> SurveyAnswer | None:
    if not doc:
        return None
    return SurveyAnswer(
        survey_id=doc["survey_id"],
        answered_at=doc["answered_at"],
        on=date.fromisoformat(doc["on"]),
        csat=doc.get("csat"),
        nps=doc.get("nps"),
        complaint_id=doc.get("complaint_id"),
    )


def _answer_doc(a: SurveyAnswer | None) -> dict[str, Any] | None:
    if a is None:
        return None
    return {
        "survey_id": a.survey_id,
        "answered_at": a.answered_at,
        "on": a.on.isoformat(),
        "csat": a.csat,
        "nps": a.nps,
        "complaint_id": a.complaint_id,
    }


def customer_from_doc(doc: dict[str, Any]) -> TieredCustomer:
    drop = doc.get("drop")
    return TieredCustomer(
        customer_id=doc["_id"],
        branch=doc.get("branch"),
        owner=doc.get("owner"),
        kind=doc.get("kind"),
        registered_on=_d(doc.get("registered_on")),
        age_band=doc.get("age_band"),
        income_band=doc.get("income_band"),
        aum=doc.get("aum"),
        as_of=_d(doc.get("as_of")),
        breakdown=dict(doc.get("breakdown") or {}),
        series=[Point(date.fromisoformat(p["d"]), p["a"]) for p in doc.get("series") or []],
        last_change=_d(doc.get("last_change")),
        ever_held=doc.get("ever_held") or Decimal(0),
        tier=doc.get("tier"),
        tier_since=_d(doc.get("tier_since")),
        policy_version=doc.get("policy_version"),
        below_since=_d(doc.get("below_since")),
        tier_history=list(doc.get("tier_history") or []),
        stage=doc.get("stage"),
        stage_since=_d(doc.get("stage_since")),
        churn=dict(doc.get("churn") or {}),
        churn_since=_d(doc.get("churn_since")),
        drop=LargeDrop(date.fromisoformat(drop["as_of"]), drop["before"], drop["after"]) if drop else None,
        open_complaints=list(doc.get("open_complaints") or []),
        satisfaction=_answer(doc.get("satisfaction")),
        evaluated_on=_d(doc.get("evaluated_on")),
        due_on=_d(doc.get("due_on")),
        merged_into=doc.get("merged_into"),
        profile_seq=doc.get("profile_seq") or 0,
        complaints_seq=doc.get("complaints_seq") or 0,
        outflow_from=doc.get("outflow_from"),
        held_balances=[
            HeldBalance(date.fromisoformat(h["d"]), h["a"], dict(h.get("b") or {}), h.get("s"))
            for h in doc.get("held_balances") or []
        ],
        held_on=_d(doc.get("held_on")),
        awaiting_owner=bool(doc.get("awaiting_owner")),
        core_customer_no=doc.get("core_customer_no"),
    )


def customer_state(c: TieredCustomer) -> dict[str, Any]:
    """Everything but `_id` and the event counter, for a `$set`."""
    return {
        "branch": c.branch,
        "owner": c.owner,
        "kind": c.kind,
        "registered_on": _s(c.registered_on),
        "age_band": c.age_band,
        "income_band": c.income_band,
        "aum": c.aum,
        "as_of": _s(c.as_of),
        "breakdown": c.breakdown,
        "series": [{"d": p.as_of.isoformat(), "a": p.aum} for p in c.series],
        "last_change": _s(c.last_change),
        "ever_held": c.ever_held,
        "tier": c.tier,
        "tier_since": _s(c.tier_since),
        "policy_version": c.policy_version,
        "below_since": _s(c.below_since),
        "tier_history": c.tier_history,
        "stage": c.stage,
        "stage_since": _s(c.stage_since),
        "churn": c.churn,
        "at_risk": bool(c.churn),
        "churn_since": _s(c.churn_since),
        "drop": {"as_of": c.drop.as_of.isoformat(), "before": c.drop.before, "after": c.drop.after} if c.drop else None,
        "open_complaints": c.open_complaints,
        "satisfaction": _answer_doc(c.satisfaction),
        "evaluated_on": _s(c.evaluated_on),
        "due_on": _s(c.due_on),
        "merged_into": c.merged_into,
        "profile_seq": c.profile_seq,
        "complaints_seq": c.complaints_seq,
        "outflow_from": c.outflow_from,
        "held_balances": [
            {"d": h.as_of.isoformat(), "a": h.aum, "b": h.breakdown, "s": h.seq} for h in c.held_balances
        ],
        "held_on": _s(c.held_on),
        "awaiting_owner": c.awaiting_owner,
        "core_customer_no": c.core_customer_no,
    }


def staff_from_doc(doc: dict[str, Any]) -> StaffMember:
    """The member as the rules see them; how many customers they own is `doc["owned"]`."""
    return StaffMember(
        staff_id=doc["_id"],
        branch=doc.get("branch"),
        roles=frozenset(doc.get("roles") or []),
        active=bool(doc.get("active", True)),
        name=doc.get("name"),
    )
