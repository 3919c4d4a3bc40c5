"""The complaints policy in force (versioned, see crm_kit.policies)."""

from __future__ import annotations

from typing import Any

from crm_complaints.adapters.repositories import ComplaintsRepositories
from crm_complaints.domain.policy import ComplaintsPolicy
from crm_complaints.service.context import Complaints


async def read(*, service: Complaints) -> dict[str, Any]:
    return await service.uow.reading().policy.read()


async def publish_new(
    *, service: Complaints, policy: ComplaintsPolicy, by: str, role: str, note: str | None
) -> dict[str, Any]:
    async def publish(repos: ComplaintsRepositories) -> None:
        number = await repos.policy.publish(policy, by=by, note=note)
        await repos.audit.record(
            staff_id=by, role=role, action="policy.published", target=f"policy-{number}", detail={"note": note}
        )

    await service.uow.run(publish)
    return await read(service=service)
