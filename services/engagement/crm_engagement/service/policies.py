"""Engagement policy versions (crm_kit.policies). A new version re-plans every customer's follow-ups in the
background: the scheduler visits customers whose plan is older than the policy, chunk by chunk."""

from __future__ import annotations

from typing import Any

from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.domain.policy import EngagementPolicy
from crm_engagement.service.context import Engagement


async def read(*, service: Engagement) -> dict[str, Any]:
    return await service.uow.reading().policies.read()


async def publish_new(
    *, service: Engagement, policy: EngagementPolicy, by: str, role: str, note: str | None
) -> dict[str, Any]:
    async def work(repos: EngagementRepositories) -> None:
        number = await repos.policies.publish(policy, by=by, note=note)
        await repos.audit.record(
            staff_id=by, role=role, action="policy.published", target=f"policy-{number}", detail={"note": note}
        )

    await service.uow.run(work)
    if service.scheduler_job:
        service.scheduler_job.wake()
    return await read(service=service)
