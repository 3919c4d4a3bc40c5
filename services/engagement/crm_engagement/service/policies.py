"""Engagement policy versions. A new version re-plans every customer's follow-ups in the background (the
scheduler visits customers whose plan is older than the policy, chunk by chunk)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from crm_engagement.domain.policy import DEFAULT_POLICY, EngagementPolicy
from crm_engagement.service.context import Engagement, audit

_parsed: dict[tuple[str, int], EngagementPolicy] = {}


async def ensure_default(e: Engagement) -> None:
    if await e.store.policies.find_one({}, {"_id": 1}) is None:
        try:
            await e.store.policies.insert_one({"_id": 1, "policy": DEFAULT_POLICY.model_dump(mode="json"),
                                               "created_by": "default", "created_at": datetime.now(UTC),
                                               "note": "defaults of BRIEF §4"})
        except DuplicateKeyError:
            pass  # another replica was first


async def current(e: Engagement, session: AsyncClientSession | None = None) -> tuple[EngagementPolicy, int]:
    doc = await e.store.policies.find_one({}, sort=[("_id", DESCENDING)], session=session)
    if doc is None:
        return DEFAULT_POLICY, 1
    key = (e.rt.settings.mongodb_database, doc["_id"])
    if key not in _parsed:
        _parsed[key] = EngagementPolicy.model_validate(doc["policy"])
    return _parsed[key], doc["_id"]


async def read(*, e: Engagement) -> dict[str, Any]:
    await ensure_default(e)
    doc = await e.store.policies.find_one({}, sort=[("_id", DESCENDING)])
    assert doc is not None
    return {"version": doc["_id"], "created_by": doc.get("created_by"), "created_at": doc.get("created_at"),
            "note": doc.get("note"), "policy": doc["policy"]}


async def publish_new(*, e: Engagement, policy: EngagementPolicy, by: str, role: str, note: str | None) -> dict[str, Any]:
    now = datetime.now(UTC)

    async def txn(s: AsyncClientSession) -> int:
        latest = await e.store.policies.find_one({}, {"_id": 1}, sort=[("_id", DESCENDING)], session=s)
        number = (latest["_id"] if latest else 1) + 1
        await e.store.policies.insert_one({"_id": number, "policy": policy.model_dump(mode="json"), "created_by": by,
                                           "created_at": now, "note": note}, session=s)
        await audit(e, s, staff_id=by, role=role, action="policy.published", target=f"policy-{number}",
                    detail={"note": note})
        return number

    await e.rt.mongo.transaction(txn)
    if e.scheduler_job:
        e.scheduler_job.wake()
    return await read(e=e)
