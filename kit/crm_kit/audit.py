"""The audit trail of rule and assignment changes (who, role, what, when), written in the change's own
transaction so that a change without its audit row cannot commit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection


async def write(
    collection: AsyncCollection[dict[str, Any]],
    session: AsyncClientSession | None,
    *,
    staff_id: str,
    role: str,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
) -> None:
    await collection.insert_one(
        {
            "at": datetime.now(UTC),
            "staff_id": staff_id,
            "role": role,
            "action": action,
            "target": target,
            "detail": detail or {},
        },
        session=session,
    )


async def read(
    collection: AsyncCollection[dict[str, Any]], *, target: str | None, staff_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first, filtered by target and/or staff member."""
    query = {k: v for k, v in (("target", target), ("staff_id", staff_id)) if v}
    return await collection.find(query, {"_id": 0}).sort("at", -1).limit(limit).to_list()
