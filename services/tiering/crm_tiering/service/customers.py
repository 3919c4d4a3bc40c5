"""What staff read: a customer's tier, value and the lists and reports over customers, always within
the reader's data scope (an RM their own customers, branch roles their branch, head office all)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from crm_kit.auth import Principal
from crm_kit.errors import NotFound
from crm_kit.scope import CUSTOMERS
from crm_tiering.domain import lifecycle, value
from crm_tiering.domain.customer import TieredCustomer
from crm_tiering.domain.policy import TIER_ORDER
from crm_tiering.service.context import Tiering

TOP_SHARE = Decimal("0.2")


async def _visible(service: Tiering, principal: Principal, customer_id: str) -> TieredCustomer:
    customer = await service.uow.reading().customers.visible(customer_id, CUSTOMERS.query(principal))
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    return customer


async def tier(*, service: Tiering, principal: Principal, customer_id: str) -> dict[str, Any]:
    customer = await _visible(service, principal, customer_id)
    policy = await service.uow.reading().policies.version(customer.policy_version) if customer.policy_version else None
    pending = None
    if customer.below_since and policy:
        # The downgrade's own date: `due_on` is the next date any rule needs a look (a churn or lifecycle
        # check may come sooner than the end of the grace period).
        pending = {
            "below_since": customer.below_since,
            "due": customer.below_since + timedelta(days=policy.downgrade_grace_days),
            "grace_days": policy.downgrade_grace_days,
        }
    return {
        "customer_id": customer.customer_id,
        "branch": customer.branch,
        "owner": customer.owner,
        "tier": customer.tier,
        "since": customer.tier_since,
        "policy_version": customer.policy_version,
        "aum": customer.aum,
        "as_of": customer.as_of,
        "pending_downgrade": pending,
        "lifecycle": {"stage": customer.stage, "since": customer.stage_since} if customer.stage else None,
        "churn_risk": {"since": customer.churn_since, "reasons": customer.churn} if customer.churn else None,
        "history": [
            {
                "from_tier": change["from"],
                "to_tier": change["to"],
                "reason": change["reason"],
                "policy_version": change["policy_version"],
                "as_of": change["as_of"],
                "basis_amount": change["basis_amount"],
                "basis": change["basis"],
            }
            for change in reversed(customer.tier_history)
        ],
    }


async def customer_value(*, service: Tiering, principal: Principal, customer_id: str) -> dict[str, Any]:
    customer = await _visible(service, principal, customer_id)
    policy, number = await service.uow.reading().policies.current()
    contribution = value.contribution(customer.aum, customer.breakdown, policy.value)
    on = customer.evaluated_on or customer.as_of
    trend = lifecycle.trend_pct(customer.series, as_of=on, days=policy.lifecycle.trend_window_days) if on else None
    potential = value.potential(
        trend_pct=trend,
        income_band=customer.income_band,
        age_band=customer.age_band,
        rules=policy.value,
        lifecycle=policy.lifecycle,
    )
    return {
        "customer_id": customer.customer_id,
        "as_of": customer.as_of,
        "policy_version": number,
        "contribution": {
            "parts": [part.__dict__ for part in contribution],
            "total": sum((part.amount for part in contribution), Decimal("0.00")),
            "unit": "CNY per year",
        },
        "potential": {
            "parts": [part.__dict__ for part in potential],
            "total": sum((part.amount for part in potential), Decimal(0)),
            "unit": "points of 100",
        },
    }


async def list_customers(
    *,
    service: Tiering,
    principal: Principal,
    tier: str | None,
    owner: str | None,
    branch: str | None,
    churn_risk: bool | None,
    stage: str | None,
    after: str | None,
    limit: int,
) -> dict[str, Any]:
    items = await service.uow.reading().customers.page(
        CUSTOMERS.query(principal),
        tier=tier,
        owner=owner,
        branch=branch,
        stage=stage,
        at_risk=churn_risk,
        after=after,
        limit=limit,
    )
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


async def concentration(*, service: Tiering, principal: Principal) -> dict[str, Any]:
    """80/20 view: the share of AUM held by the top 20% of customers, overall and per branch (customers with a
    balance)."""
    per_branch: dict[str, list[Decimal]] = defaultdict(list)
    everyone: list[Decimal] = []
    for branch, aum in await service.uow.reading().customers.balances(CUSTOMERS.query(principal)):
        per_branch[branch or "unknown"].append(aum)
        everyone.append(aum)
    return {
        "top_fraction": float(TOP_SHARE),
        "overall": _top_share(everyone),
        "branches": {b: _top_share(a) for b, a in sorted(per_branch.items())},
    }


async def tier_distribution(*, service: Tiering, principal: Principal) -> dict[str, Any]:
    rows = await service.uow.reading().customers.tier_counts(CUSTOMERS.query(principal))
    branches: dict[str, dict[str, Any]] = defaultdict(
        lambda: {name: {"customers": 0, "aum": Decimal("0.00")} for name in (*TIER_ORDER, "untiered")}
    )
    for branch, tier_name, customers, aum in rows:
        branches[branch or "unknown"][tier_name or "untiered"] = {"customers": customers, "aum": aum}
    totals = {
        name: {
            "customers": sum(b[name]["customers"] for b in branches.values()),
            "aum": sum((b[name]["aum"] for b in branches.values()), Decimal("0.00")),
        }
        for name in (*TIER_ORDER, "untiered")
    }
    return {"branches": dict(sorted(branches.items())), "total": totals}


async def watch_list(*, service: Tiering, principal: Principal, owner: str | None, on: date | None) -> dict[str, Any]:
    """The day's significant AUM changes of 20万+ customers, biggest first. Without a date: the latest day."""
    scope = CUSTOMERS.query(principal)
    reading = service.uow.reading()
    if on is None:
        on = await reading.watch.latest_day(scope, owner=owner)
    if on is None:
        return {"date": None, "owner": owner, "items": []}
    entries = await reading.watch.of_day(scope, owner=owner, on=on)
    entries.sort(key=lambda entry: (-abs(entry["change"]), entry["customer_id"]))
    return {"date": on, "owner": owner, "items": entries}
