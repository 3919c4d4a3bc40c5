"""In-memory stand-ins for the unit of work's outbox and audit trail, and the fake unit of work itself, so a
service's application layer can be tested without a broker or a database (the repositories' fakes live with each
service's unit tests, since they mirror its queries)."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from crm_kit.messaging import BatchHandler, Incoming, Rejection
from crm_kit.outbox import OutgoingMessage
from crm_kit.unit_of_work import Payload, Repositories, Result

Policy = TypeVar("Policy", bound=BaseModel)


@dataclass
class ListOutbox:
    """Published events, in order."""

    messages: list[OutgoingMessage] = field(default_factory=list)
    numbered: bool = False
    """number each key's messages as crm_kit.outbox.SubjectSequences does"""

    async def add(self, messages: Sequence[OutgoingMessage]) -> None:
        for message in messages:
            if self.numbered:
                message = replace(message, key_seq=1 + sum(1 for m in self.messages if m.key == message.key))
            self.messages.append(message)

    def types(self) -> list[str]:
        """The CloudEvents types published, in order."""
        return [message.headers["ce_type"] for message in self.messages]


@dataclass
class ListAudit:
    """Audit rows, in order."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    async def record(
        self, *, staff_id: str, role: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> None:
        self.rows.append(
            {"staff_id": staff_id, "role": role, "action": action, "target": target, "detail": detail or {}}
        )

    async def read(self, *, target: str | None, staff_id: str | None, limit: int) -> list[dict[str, Any]]:
        """Newest first, like the trail."""
        rows = [
            row
            for row in reversed(self.rows)
            if (target is None or row["target"] == target) and (staff_id is None or row["staff_id"] == staff_id)
        ]
        return rows[:limit]

    def actions(self) -> list[str]:
        return [row["action"] for row in self.rows]


@dataclass
class ListPolicies(Generic[Policy]):
    """Policy versions in memory: version 1 is the default, `publish` adds the next."""

    default: Policy
    versions: list[Policy] = field(default_factory=list)
    published_by: list[tuple[str, str | None]] = field(default_factory=list)

    async def current(self) -> tuple[Policy, int]:
        return (self.versions[-1], len(self.versions) + 1) if self.versions else (self.default, 1)

    async def version(self, number: int) -> Policy | None:
        everything = [self.default, *self.versions]
        return everything[number - 1] if 1 <= number <= len(everything) else None

    async def read(self) -> dict[str, Any]:
        policy, number = await self.current()
        by, note = self.published_by[-1] if self.published_by else ("default", None)
        return {"version": number, "created_by": by, "note": note, "policy": policy.model_dump(mode="json")}

    async def publish(self, policy: Policy, *, by: str, note: str | None) -> int:
        self.versions.append(policy)
        self.published_by.append((by, note))
        return len(self.versions) + 1


class FakeUnitOfWork(Generic[Repositories]):
    """Runs work on in-memory repositories: a failed run leaves them as they were (rollback), a finished one counts
    as a commit. Like the database, it may be asked to run the same work again (`retry_once` simulates a write
    conflict after the work ran), which proves the work rebuilds its state from what it reads."""

    def __init__(self, repositories: Repositories) -> None:
        self.repositories = repositories
        self.commits = 0
        self.rollbacks = 0
        self.retry_once = False

    async def run(self, work: Callable[[Repositories], Awaitable[Result]]) -> Result:
        while True:
            before = copy.deepcopy(self.repositories)
            try:
                result = await work(self.repositories)
                if self.retry_once:
                    self.retry_once = False
                    raise _TransientConflict
            except _TransientConflict:
                self._restore(before)
                continue
            except BaseException:
                self._restore(before)
                self.rollbacks += 1
                raise
            self.commits += 1
            return result

    def reading(self) -> Repositories:
        return self.repositories

    def consumer(
        self, apply: Callable[[Repositories, list[Incoming[Payload]]], Awaitable[list[Rejection]]]
    ) -> BatchHandler[Payload]:
        """A batch handler as the kit's consumer calls it: the batch applied as one unit of work (no session)."""

        async def handle(_session: Any, items: list[Incoming[Payload]]) -> list[Rejection]:
            return await self.run(lambda repositories: apply(repositories, items))

        return handle

    def _restore(self, before: Repositories) -> None:
        vars(self.repositories).update(vars(before))


class _TransientConflict(Exception):
    pass
