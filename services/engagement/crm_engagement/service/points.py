"""The loyalty points ledger (积分, BRIEF §4.8). Each entry's id is its reason (a month and tier, a survey,
a redemption request), so an earning happens once per triggering event; a balance never goes negative:
a redemption is a conditional update on the balance."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.engagement import PointsChanged
from crm_engagement.schemas import Redemption
from crm_engagement.service.context import Engagement
from crm_engagement.service.scope import customer_in_scope
from crm_kit.auth import Principal
from crm_kit.errors import Conflict


async def credit(e: Engagement, session: AsyncClientSession, *, customer_id: str, entry_id: str, points: int,
                 reason: str, now: datetime, note: str | None = None) -> bool:
    """Earn `points` once for `entry_id`. False when that entry exists already."""
    result = await e.store.ledger.update_one({"_id": entry_id}, {"$setOnInsert": {
        "customer_id": customer_id, "change": points, "reason": reason, "at": now, "note": note}},
        upsert=True, session=session)
    if result.upserted_id is None:
        return False
    account = await e.store.points.find_one_and_update(
        {"_id": customer_id}, {"$inc": {"balance": points, "earned": points}, "$set": {"updated_at": now}},
        upsert=True, return_document=ReturnDocument.AFTER, session=session)
    await e.store.ledger.update_one({"_id": entry_id}, {"$set": {"balance": account["balance"]}}, session=session)
    await e.rt.outbox.add(session, [e.event(PointsChanged(customer_id=customer_id, entry_id=entry_id, change=points,
                                                          balance=account["balance"], reason=reason, at=now),  # type: ignore[arg-type]
                                            customer_id=customer_id)])
    return True


async def balance(*, e: Engagement, principal: Principal, customer_id: str, limit: int) -> dict[str, Any]:
    await customer_in_scope(e, principal, customer_id)
    account = await e.store.points.find_one({"_id": customer_id}) or {}
    entries = await e.store.ledger.find({"customer_id": customer_id}).sort("at", -1).limit(limit).to_list()
    return {"customer_id": customer_id, "balance": account.get("balance", 0), "earned": account.get("earned", 0),
            "redeemed": account.get("redeemed", 0),
            "entries": [{"id": d.pop("_id"), **{k: v for k, v in d.items() if k != "customer_id"}} for d in entries]}


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
            return_document=ReturnDocument.AFTER, session=s)
        if account is None:
            have = (await e.store.points.find_one({"_id": customer_id}, session=s) or {}).get("balance", 0)
            raise Conflict(f"points: balance {have} is less than the {body.points} requested", balance=have)
        await e.store.ledger.insert_one({"_id": entry_id, "customer_id": customer_id, "change": -body.points,
                                         "reason": "redemption", "at": now, "note": body.reason,
                                         "balance": account["balance"], "by": principal.staff_id}, session=s)
        await e.rt.outbox.add(s, [e.event(PointsChanged(customer_id=customer_id, entry_id=entry_id, change=-body.points,
                                                        balance=account["balance"], reason="redemption", at=now),
                                          customer_id=customer_id)])
        return {"entry_id": entry_id, "balance": account["balance"], "points": body.points, "replayed": False}

    result = await e.rt.mongo.transaction(txn)
    e.rt.outbox.notify()
    return result
