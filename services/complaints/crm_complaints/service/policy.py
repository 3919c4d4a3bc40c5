"""The complaints policy in force (versioned, see crm_kit.policies)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_complaints.domain.policy import ComplaintsPolicy
from crm_complaints.service.context import Complaints


async def current(cx: Complaints, session: AsyncClientSession | None = None) -> tuple[ComplaintsPolicy, int]:
    return await cx.policies.current(session)


async def read(*, cx: Complaints) -> dict[str, Any]:
    return await cx.policies.read()


async def publish_new(
    *, cx: Complaints, policy: ComplaintsPolicy, by: str, role: str, note: str | None
) -> dict[str, Any]:
    async def txn(s: AsyncClientSession) -> None:
        number = await cx.policies.add(s, policy, by=by, note=note)
        await cx.store.audit.record(
            s, staff_id=by, role=role, action="policy.published", target=f"policy-{number}", detail={"note": note}
        )

    await cx.rt.mongo.transaction(txn)
    return await read(cx=cx)
