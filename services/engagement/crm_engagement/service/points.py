"""The loyalty points ledger (积分, BRIEF §4.8). Each entry's id is its reason (a month and tier, a survey,
a redemption request), so an earning happens once per triggering event; a balance never goes negative:
a redemption is a conditional update on the balance."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.engagement import PointsChanged
from crm_engagement.schemas import Redemption
from crm_engagement.service.context import Engagement
from crm_engagement.service.scope import customer_in_scope
from crm_kit.auth import Principal
from crm_kit.errors import Conflict


async def credit(
    e: Engagement,
    session: AsyncClientSession,
    *,
    customer_id: str,
    entry_id: str,
    points: int,
    reason: str,
    now: datetime,
    note: str | None = None,
) -> bool:
    """Earn `points` once for `entry_id`. False when that entry exists already."""
    return bool(await credit_many(e, session, [Earning(customer_id, entry_id, points, reason, note)], now=now))


@dataclass(frozen=True)
class Earning:
    customer_id: str
    entry_id: str
    points: int
    reason: str
    note: str | None = None


async def credit_many(e: Engagement, session: AsyncClientSession, earnings: list[Earning], *, now: datetime) -> int:
    """Earn each entry once (an entry already in the ledger is skipped), in a fixed number of round trips whatever
    the number of entries. Returns how many were new."""
    if not earnings:
        return 0
    result = await e.store.ledger.bulk_write(
        [
            UpdateOne(
                {"_id": x.entry_id},
                {
                    "$setOnInsert": {
                        "customer_id": x.customer_id,
                        "change": x.points,
                        "reason": x.reason,
                        "at": now,
                        "note": x.note,
                    }
                },
                upsert=True,
            )
            for x in earnings
        ],
        ordered=True,
        session=session,
    )
    new = [earnings[i] for i in sorted(result.upserted_ids or {})]
    if not new:
        return 0
    totals: dict[str, int] = defaultdict(int)
    for x in new:
        totals[x.customer_id] += x.points
    await e.store.points.bulk_write(
        [
            UpdateOne({"_id": cid}, {"$inc": {"balance": n, "earned": n}, "$set": {"updated_at": now}}, upsert=True)
            for cid, n in sorted(totals.items())
        ],
        ordered=True,
        session=session,
    )
    balances = {
        d["_id"]: d["balance"]
        for d in await e.store.points.find({"_id": {"$in": sorted(totals)}}, {"balance": 1}, session=session).to_list()
    }
    # Each entry's balance right after it: the balance now, less what later entries of the customer added.
    after: list[int] = []
    for x in reversed(new):
        after.append(balances[x.customer_id])
        balances[x.customer_id] -= x.points
    after.reverse()
    await e.store.ledger.bulk_write(
        [UpdateOne({"_id": x.entry_id}, {"$set": {"balance": b}}) for x, b in zip(new, after, strict=True)],
        ordered=False,
        session=session,
    )
    await e.rt.outbox.add(
        session,
        [
            e.event(
                PointsChanged(
                    customer_id=x.customer_id, entry_id=x.entry_id, change=x.points, balance=b, reason=x.reason, at=now
                ),
                customer_id=x.customer_id,
            )
            for x, b in zip(new, after, strict=True)
        ],
    )
    return len(new)


async def balance(*, e: Engagement, principal: Principal, customer_id: str, limit: int) -> dict[str, Any]:
    await customer_in_scope(e, principal, customer_id)
    account = await e.store.points.find_one({"_id": customer_id}) or {}
    entries = await e.store.ledger.find({"customer_id": customer_id}).sort("at", -1).limit(limit).to_list()
    return {
        "customer_id": customer_id,
        "balance": account.get("balance", 0),
        "earned": account.get("earned", 0),
        "redeemed": account.get("redeemed", 0),
        "entries": [{"id": d.pop("_id"), **{k: v for k, v in d.items() if k != "customer_id"}} for d in entries],
    }


async def redeem(*, e: Engagement, principal: Principal, customer_id: str, body: Redemption) -> dict[str, Any]:
    now = e.now()
    entry_id = f"{customer_id}:redeem:{body.request_id}"

    async def txn(s: AsyncClientSession) -> dict[str, Any]:
        await customer_in_scope(e, principal, customer_id, s)
        existing = await e.store.ledger.find_one({"_id": entry_id}, session=s)
        if existing is not None:
            if existing["change"] != -body.points:
                raise Conflict(f"request_id {body.request_id} was already used for {-existing['change']} points")
            return {"entry_id": entry_id, "balance": existing["balance"], "points": body.points, "replayed": True}
        account = await e.store.points.find_one_and_update(
            {"_id": customer_id, "balance": {"$gte": body.points}},
            {"$inc": {"balance": -body.points, "redeemed": body.points}, "$set": {"updated_at": now}},
            return_document=ReturnDocument.AFTER,
            session=s,
        )
        if account is None:
            have = (await e.store.points.find_one({"_id": customer_id}, session=s) or {}).get("balance", 0)
            raise Conflict(f"points: balance {have} is less than the {body.points} requested", balance=have)
        await e.store.ledger.insert_one(
            {
                "_id": entry_id,
                "customer_id": customer_id,
                "change": -body.points,
                "reason": "redemption",
                "at": now,
                "note": body.reason,
                "balance": account["balance"],
                "by": principal.staff_id,
            },
            session=s,
        )
        await e.rt.outbox.add(
            s,
            [
                e.event(
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

    result = await e.rt.mongo.transaction(txn)
    e.rt.outbox.notify()
    return result
