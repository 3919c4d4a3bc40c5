"""Reading the audit trail: who changed the policy, the staff directory or a customer's owner."""

from __future__ import annotations

from typing import Any

from crm_tiering.service.context import Tiering


async def read(*, service: Tiering, target: str | None, staff_id: str | None, limit: int) -> list[dict[str, Any]]:
    """Newest first, filtered by target and/or staff member."""
    return await service.uow.reading().audit.read(target=target, staff_id=staff_id, limit=limit)
