"""Idempotent consumption: each consumer group records the ids it has applied, in the same
transaction as the effect, so a redelivered message has no second effect.

The ids expire after a window (INBOX_RETENTION_SECONDS, deploy/README.md): a redelivery can only bring
back a record the broker still holds, so a window longer than the topics' retention loses nothing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import OperationFailure

from crm_kit.db import Mongo

DEFAULT_RETENTION_SECONDS = 14 * 24 * 3600
_EXPIRY_INDEX = "applied_ids_expire"
# MongoDB's answers when an index exists with other options (IndexOptionsConflict, IndexKeySpecsConflict).
_OPTIONS_CONFLICT = (85, 86)


class Inbox:
    def __init__(self, mongo: Mongo, *, retention_seconds: int = DEFAULT_RETENTION_SECONDS) -> None:
        self.mongo = mongo
        self.collection = mongo.db["inbox"]
        self.retention_seconds = retention_seconds

    async def ensure_indexes(self) -> None:
        """The TTL index that expires applied ids; a changed window is applied to the existing index."""
        try:
            await self.collection.create_index("at", expireAfterSeconds=self.retention_seconds, name=_EXPIRY_INDEX)
        except OperationFailure as exc:
            if exc.code not in _OPTIONS_CONFLICT:
                raise
            await self.mongo.db.command(
                {
                    "collMod": self.collection.name,
                    "index": {"name": _EXPIRY_INDEX, "expireAfterSeconds": self.retention_seconds},
                }
            )

    async def unseen(self, session: AsyncClientSession, group: str, ids: Iterable[str]) -> set[str]:
        wanted = {f"{group}|{i}" for i in ids}
        seen = await self.collection.find(
            {"_id": {"$in": list(wanted)}}, {"_id": 1}, session=session, batch_size=max(1, len(wanted))
        ).to_list()
        seen_ids = {d["_id"] for d in seen}
        return {w.split("|", 1)[1] for w in wanted - seen_ids}

    async def record(self, session: AsyncClientSession, group: str, ids: Iterable[str]) -> None:
        now = datetime.now(UTC)
        docs = [{"_id": f"{group}|{i}", "group": group, "at": now} for i in ids]
        if docs:
            await self.collection.insert_many(docs, ordered=False, session=session)
