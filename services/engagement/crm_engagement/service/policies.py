"""Engagement policy versions (crm_kit.policies). A new version re-plans every customer's follow-ups in the
background: the scheduler visits customers whose plan is older than the policy, chunk by chunk."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_engagement.domain.policy import EngagementPolicy
from crm_engagement.service.context import Engagement


async def ensure_default(e: Engagement) -> None:
    await e.policies.ensure_default()


async def current(e: Engagement, session: AsyncClientSession | None = None) -> tuple[EngagementPolicy, int]:
    return await e.policies.current(session)


async def read(*, e: Engagement) -> dict[str, Any]:
    return await e.policies.read()


async def publish_new(
    *, e: Engagement, policy: EngagementPolicy, by: str, role: str, note: str | None
) -> dict[str, Any]:
    async def txn(s: AsyncClientSession) -> None:
        number = await e.policies.add(s, policy, by=by, note=note)
        await e.store.audit.record(
            s, staff_id=by, role=role, action="policy.published", target=f"policy-{number}", detail={"note": note}
        )

    await e.rt.mongo.transaction(txn)
    if e.scheduler_job:
        e.scheduler_job.wake()
    return await read(e=e)
