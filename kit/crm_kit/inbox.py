"""Idempotent consumption: each consumer group records the ids it has applied, in the same
transaction as the effect, so a redelivered message has no second effect."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_kit.db import Mongo


class Inbox:
    def __init__(self, mongo: Mongo) -> None:
        self.collection = mongo.db["inbox"]

    async def unseen(self, session: AsyncClientSession, group: str, ids: Iterable[str]) -> set[str]:
        wanted = {f"{group}|{i}" for i in ids}
        seen = await self.collection.find({"_id": {"$in": list(wanted)}}, {"_id": 1}, session=session,
                                          batch_size=max(1, len(wanted))).to_list()
        seen_ids = {d["_id"] for d in seen}
        return {w.split("|", 1)[1] for w in wanted - seen_ids}

    async def record(self, session: AsyncClientSession, group: str, ids: Iterable[str]) -> None:
        now = datetime.now(UTC)
        docs = [{"_id": f"{group}|{i}", "group": group, "at": now} for i in ids]
        if docs:
            await self.collection.insert_many(docs, ordered=False, session=session)
