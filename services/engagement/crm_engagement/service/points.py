"""The loyalty points ledger (积分, BRIEF §4.8). Each entry's id is its reason (a month and tier, a survey,
a redemption request), so an earning happens once per triggering event; a balance never goes negative:
a redemption is a conditional update on the balance."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from crm_contracts.engagement import PointsChanged
from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.domain.points import Earning
from crm_engagement.schemas import Redemption
from crm_engagement.service.context import Engagement
from crm_engagement.service.scope import customer_in_scope
from crm_kit.auth import Principal
from crm_kit.errors import Conflict

__all__ = ["Earning", "balance", "credit", "credit_many", "redeem"]


async def credit(
    service: Engagement,
    repos: EngagementRepositories,
    *,
    customer_id: str,
    entry_id: str,
    points: int,
    reason: str,
    now: datetime,
    note: str | None = None,
) -> bool:
    """Earn `points` once for `entry_id`. False when that entry exists already."""
    return bool(await credit_many(service, repos, [Earning(customer_id, entry_id, points, reason, note)], now=now))


async def credit_many(
    service: Engagement, repos: EngagementRepositories, earnings: list[Earning], *, now: datetime
) -> int:
    """Earn each entry once (an entry already in the ledger is skipped), in a fixed number of round trips whatever
    the number of entries. Returns how many were new."""
    if not earnings:
        return 0
    new = await repos.points.add_new_entries(earnings, now)
    if not new:
        return 0
    totals: dict[str, int] = defaultdict(int)
    for earning in new:
        totals[earning.customer_id] += earning.points
    await repos.points.add_to_balances(totals, now)
    balances = await repos.points.balances(sorted(totals))
    # Each entry's balance right after it: the balance now, less what later entries of the customer added.
    after: list[int] = []
    for earning in reversed(new):
        after.append(balances[earning.customer_id])
        balances[earning.customer_id] -= earning.points
    after.reverse()
    await repos.points.set_entry_balances(
        [(earning.entry_id, after_it) for earning, after_it in zip(new, after, strict=True)]
    )
    await repos.outbox.add(
        [
            service.event(
                PointsChanged(
                    customer_id=earning.customer_id,
                    entry_id=earning.entry_id,
                    change=earning.points,
                    balance=after_it,
                    reason=earning.reason,
                    at=now,
                ),
                customer_id=earning.customer_id,
            )
            for earning, after_it in zip(new, after, strict=True)
        ],
    )
    return len(new)


async def balance(*, service: Engagement, principal: Principal, customer_id: str, limit: int) -> dict[str, Any]:
    repos = service.uow.reading()
    await customer_in_scope(repos, principal, customer_id)
    account = await repos.points.account(customer_id) or {}
    entries = await repos.points.latest_entries(customer_id, limit)
    return {
        "customer_id": customer_id,
        "balance": account.get("balance", 0),
        "earned": account.get("earned", 0),
        "redeemed": account.get("redeemed", 0),
        "entries": [
            {"id": entry.pop("_id"), **{k: v for k, v in entry.items() if k != "customer_id"}} for entry in entries
        ],
    }


async def redeem(*, service: Engagement, principal: Principal, customer_id: str, body: Redemption) -> dict[str, Any]:
    now = service.now()
    entry_id = f"{customer_id}:redeem:{body.request_id}"

    async def work(repos: EngagementRepositories) -> dict[str, Any]:
        await customer_in_scope(repos, principal, customer_id)
        existing = await repos.points.entry(entry_id)
        if existing is not None:
            if existing["change"] != -body.points:
                raise Conflict(f"request_id {body.request_id} was already used for {-existing['change']} points")
            return {"entry_id": entry_id, "balance": existing["balance"], "points": body.points, "replayed": True}
        account = await repos.points.take(customer_id, body.points, now)
        if account is None:
            have = (await repos.points.account(customer_id) or {}).get("balance", 0)
            raise Conflict(f"points: balance {have} is less than the {body.points} requested", balance=have)
        await repos.points.add_entry(
            {
                "_id": entry_id,
                "customer_id": customer_id,
                "change": -body.points,
                "reason": "redemption",
                "at": now,
                "note": body.reason,
                "balance": account["balance"],
                "by": principal.staff_id,
            }
        )
        await repos.outbox.add(
            [
                service.event(
                    PointsChanged(
                        customer_id=customer_id,
                        entry_id=entry_id,
                        change=-body.points,
                        balance=account["balance"],
                        reason="redemption",
                        at=now,
                    ),
                    customer_id=customer_id,
                )
            ],
        )
        return {"entry_id": entry_id, "balance": account["balance"], "points": body.points, "replayed": False}

    result = await service.uow.run(work)
    service.published()
    return result
