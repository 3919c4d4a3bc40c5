"""Versioned policies: the rules a bank edits are stored as numbered versions (1 = the defaults); the newest is
in force, every version is kept with who made it, when and why."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from pymongo import DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

P = TypeVar("P", bound=BaseModel)


class PolicyVersions(Generic[P]):
    def __init__(self, collection: AsyncCollection[dict[str, Any]], model: type[P], default: P, *, note: str) -> None:
        self.collection, self.model, self.default, self.note = collection, model, default, note
        self._parsed: dict[int, P] = {}

    async def ensure_default(self) -> None:
        if await self.collection.find_one({}, {"_id": 1}) is None:
            with contextlib.suppress(DuplicateKeyError):  # another replica was first
                await self.collection.insert_one(
                    {
                        "_id": 1,
                        "policy": self.default.model_dump(mode="json"),
                        "created_by": "default",
                        "created_at": datetime.now(UTC),
                        "note": self.note,
                    }
                )

    async def current(self, session: AsyncClientSession | None = None) -> tuple[P, int]:
        doc = await self.collection.find_one({}, sort=[("_id", DESCENDING)], session=session)
        if doc is None:
            return self.default, 1
        if doc["_id"] not in self._parsed:
            self._parsed[doc["_id"]] = self.model.model_validate(doc["policy"])
        return self._parsed[doc["_id"]], doc["_id"]

    async def version(self, number: int, session: AsyncClientSession | None = None) -> P | None:
        """A stored version by its number (a rollout applies the one it was started for)."""
        if number not in self._parsed:
            doc = await self.collection.find_one({"_id": number}, session=session)
            if doc is None:
                return None
            self._parsed[number] = self.model.model_validate(doc["policy"])
        return self._parsed[number]

    async def read(self) -> dict[str, Any]:
        await self.ensure_default()
        doc = await self.collection.find_one({}, sort=[("_id", DESCENDING)])
        assert doc is not None
        return {
            "version": doc["_id"],
            "created_by": doc.get("created_by"),
            "created_at": doc.get("created_at"),
            "note": doc.get("note"),
            "policy": doc["policy"],
        }

    async def add(self, session: AsyncClientSession, policy: P, *, by: str, note: str | None) -> int:
        """Store the next version in the caller's transaction; returns its number."""
        latest = await self.collection.find_one({}, {"_id": 1}, sort=[("_id", DESCENDING)], session=session)
        number = (latest["_id"] if latest else 1) + 1
        await self.collection.insert_one(
            {
                "_id": number,
                "policy": policy.model_dump(mode="json"),
                "created_by": by,
                "created_at": datetime.now(UTC),
                "note": note,
            },
            session=session,
        )
        return number


class PoliciesInTransaction(Generic[P]):
    """The policy versions as a unit of work's repository: reads and publishing in its transaction."""

    def __init__(self, versions: PolicyVersions[P], session: AsyncClientSession | None) -> None:
        self.versions, self.session = versions, session

    async def current(self) -> tuple[P, int]:
        return await self.versions.current(self.session)

    async def version(self, number: int) -> P | None:
        return await self.versions.version(number, self.session)

    async def read(self) -> dict[str, Any]:
        """The version in force as the API shows it (who, when, why)."""
        return await self.versions.read()

    async def publish(self, policy: P, *, by: str, note: str | None) -> int:
        if self.session is None:
            raise RuntimeError("a policy is published only from inside a unit of work's transaction")
        return await self.versions.add(self.session, policy, by=by, note=note)
