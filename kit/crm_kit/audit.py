"""The audit trail of rule and assignment changes (who, role, what, when), written in the change's own
transaction so that a change without its audit row cannot commit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection


class AuditTrail:
    """One service's trail (its `audit` collection): rows written in the change's own transaction, read newest
    first."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("target", ASCENDING), ("at", DESCENDING)])

    async def record(
        self,
        session: AsyncClientSession | None,
        *,
        staff_id: str,
        role: str,
        action: str,
        target: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        await self.collection.insert_one(
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

    async def read(self, *, target: str | None, staff_id: str | None, limit: int) -> list[dict[str, Any]]:
        """Newest first, filtered by target and/or staff member."""
        query = {k: v for k, v in (("target", target), ("staff_id", staff_id)) if v}
        return await self.collection.find(query, {"_id": 0}).sort("at", -1).limit(limit).to_list()
