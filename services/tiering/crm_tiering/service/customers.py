"""What staff read: a customer's tier, value and the lists and reports over customers, always within
the reader's data scope (an RM their own customers, branch roles their branch, head office all)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pymongo import ASCENDING

from crm_kit.auth import Principal
from crm_kit.errors import NotFound
from crm_kit.scope import CUSTOMERS
from crm_tiering.adapters.store import customer_from_doc
from crm_tiering.domain import lifecycle, value
from crm_tiering.domain.customer import TieredCustomer
from crm_tiering.domain.policy import TIER_ORDER
from crm_tiering.service import policies
from crm_tiering.service.context import Tiering

LIVE = {"merged_into": None}
TOP_SHARE = Decimal("0.2")


async def _visible(t: Tiering, principal: Principal, customer_id: str) -> TieredCustomer:
    doc = await t.store.customers.find_one({"_id": customer_id, **LIVE, **CUSTOMERS.query(principal)})
    if doc is None:
        raise NotFound(f"customer {customer_id} not found")
    return customer_from_doc(doc)


async def tier(*, t: Tiering, principal: Principal, customer_id: str) -> dict[str, Any]:
    c = await _visible(t, principal, customer_id)
    policy = await policies.version(t, c.policy_version) if c.policy_version else None
    pending = None
    if c.below_since and policy:
        # The downgrade's own date: `due_on` is the next date any rule needs a look (a churn or lifecycle
        # check may come sooner than the end of the grace period).
        pending = {
            "below_since": c.below_since,
            "due": c.below_since + timedelta(days=policy.downgrade_grace_days),
            "grace_days": policy.downgrade_grace_days,
        }
    return {
        "customer_id": c.customer_id,
        "branch": c.branch,
        "owner": c.owner,
        "tier": c.tier,
        "since": c.tier_since,
        "policy_version": c.policy_version,
        "aum": c.aum,
        "as_of": c.as_of,
        "pending_downgrade": pending,
        "lifecycle": {"stage": c.stage, "since": c.stage_since} if c.stage else None,
        "churn_risk": {"since": c.churn_since, "reasons": c.churn} if c.churn else None,
        "history": [
            {
                "from_tier": h["from"],
                "to_tier": h["to"],
                "reason": h["reason"],
                "policy_version": h["policy_version"],
                "as_of": h["as_of"],
                "basis_amount": h["basis_amount"],
                "basis": h["basis"],
            }
            for h in reversed(c.tier_history)
        ],
    }


async def customer_value(*, t: Tiering, principal: Principal, customer_id: str) -> dict[str, Any]:
    c = await _visible(t, principal, customer_id)
    policy, number = await policies.current(t)
    contribution = value.contribution(c.aum, c.breakdown, policy.value)
    on = c.evaluated_on or c.as_of
    trend = lifecycle.trend_pct(c.series, as_of=on, days=policy.lifecycle.trend_window_days) if on else None
    potential = value.potential(
        trend_pct=trend, income_band=c.income_band, age_band=c.age_band, rules=policy.value, lifecycle=policy.lifecycle
    )
    return {
        "customer_id": c.customer_id,
        "as_of": c.as_of,
        "policy_version": number,
        "contribution": {
            "parts": [p.__dict__ for p in contribution],
            "total": sum((p.amount for p in contribution), Decimal("0.00")),
            "unit": "CNY per year",
        },
        "potential": {
            "parts": [p.__dict__ for p in potential],
            "total": sum((p.amount for p in potential), Decimal(0)),
            "unit": "points of 100",
        },
    }


async def list_customers(
    *,
    t: Tiering,
    principal: Principal,
    tier: str | None,
    owner: str | None,
    branch: str | None,
    churn_risk: bool | None,
    stage: str | None,
    after: str | None,
    limit: int,
) -> dict[str, Any]:
    query: dict[str, Any] = {**LIVE, **CUSTOMERS.query(principal)}
    for field, wanted in (("tier", tier), ("owner", owner), ("branch", branch), ("stage", stage)):
        if wanted is not None:
            if field in query and query[field] != wanted:
                return {"items": [], "next_after": None}
            query[field] = wanted
    if churn_risk is not None:
        query["at_risk"] = churn_risk
    if after:
        query["_id"] = {"$gt": after}
    docs = (
        await t.store.customers.find(
            query,
            {"_id": 1, "branch": 1, "owner": 1, "tier": 1, "aum": 1, "as_of": 1, "stage": 1, "churn": 1},
        )
        .sort("_id", ASCENDING)
        .limit(limit)
        .to_list()
    )
    items = [
        {
            "customer_id": d["_id"],
            "branch": d.get("branch"),
            "owner": d.get("owner"),
            "tier": d.get("tier"),
            "aum": d.get("aum"),
            "as_of": d.get("as_of"),
            "stage": d.get("stage"),
            "churn_risk": sorted((d.get("churn") or {}).keys()),
        }
        for d in docs
    ]
    return {"items": items, "next_after": items[-1]["customer_id"] if len(items) == limit else None}


def _top_share(amounts: list[Decimal]) -> dict[str, Any]:
    """Share of the total held by the top 20% of customers (at least one customer)."""
    amounts = sorted(amounts, reverse=True)
    total = sum(amounts, Decimal(0))
    top_n = max(1, -(-len(amounts) * 2 // 10)) if amounts else 0  # ceil(20%)
    top = sum(amounts[:top_n], Decimal(0))
    return {
        "customers": len(amounts),
        "top_customers": top_n,
        "total_aum": total,
        "top_aum": top,
        "top_share_pct": (top / total * 100).quantize(Decimal("0.1")) if total else None,
    }


async def concentration(*, t: Tiering, principal: Principal) -> dict[str, Any]:
    """80/20 view: the share of AUM held by the top 20% of customers, overall and per branch (customers with a
    balance)."""
    per_branch: dict[str, list[Decimal]] = defaultdict(list)
    everyone: list[Decimal] = []
    cursor = t.store.customers.find(
        {**LIVE, **CUSTOMERS.query(principal), "aum": {"$ne": None}}, {"branch": 1, "aum": 1}
    )
    async for d in cursor:
        per_branch[d.get("branch") or "unknown"].append(d["aum"])
        everyone.append(d["aum"])
    return {
        "top_fraction": float(TOP_SHARE),
        "overall": _top_share(everyone),
        "branches": {b: _top_share(a) for b, a in sorted(per_branch.items())},
    }


async def tier_distribution(*, t: Tiering, principal: Principal) -> dict[str, Any]:
    rows = await (
        await t.store.customers.aggregate(
            [
                {"$match": {**LIVE, **CUSTOMERS.query(principal)}},
                {
                    "$group": {
                        "_id": {"branch": "$branch", "tier": "$tier"},
                        "customers": {"$sum": 1},
                        "aum": {"$sum": {"$ifNull": ["$aum", Decimal(0)]}},
                    }
                },
            ]
        )
    ).to_list()
    branches: dict[str, dict[str, Any]] = defaultdict(
        lambda: {t: {"customers": 0, "aum": Decimal("0.00")} for t in (*TIER_ORDER, "untiered")}
    )
    for r in rows:
        branch = r["_id"].get("branch") or "unknown"
        name = r["_id"].get("tier") or "untiered"
        branches[branch][name] = {"customers": r["customers"], "aum": r["aum"]}
    totals = {
        name: {
            "customers": sum(b[name]["customers"] for b in branches.values()),
            "aum": sum((b[name]["aum"] for b in branches.values()), Decimal("0.00")),
        }
        for name in (*TIER_ORDER, "untiered")
    }
    return {"branches": dict(sorted(branches.items())), "total": totals}


async def watch_list(*, t: Tiering, principal: Principal, owner: str | None, on: date | None) -> dict[str, Any]:
    """The day's significant AUM changes of 20万+ customers, biggest first. Without a date: the latest day."""
    query: dict[str, Any] = {**CUSTOMERS.query(principal)}
    if owner is not None:
        if "owner" in query and query["owner"] != owner:
            return {"date": on, "owner": owner, "items": []}
        query["owner"] = owner
    if on is None:
        latest = await t.store.watch.find_one(query, {"as_of": 1}, sort=[("as_of", -1)])
        on = date.fromisoformat(latest["as_of"]) if latest else None
    if on is None:
        return {"date": None, "owner": owner, "items": []}
    query["as_of"] = on.isoformat()
    docs = await t.store.watch.find(query).to_list()
    docs.sort(key=lambda d: (-abs(d["change"]), d["customer_id"]))
    return {"date": on, "owner": owner, "items": docs}
