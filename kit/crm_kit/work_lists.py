"""The one way a background job walks many records: the ids still to visit are read once per run of the job, then
handed out a chunk at a time, in id order. Paging with a range query per chunk (`_id > cursor`, sorted, limited)
costs a scan of the collection on the embedded database, which makes a long run quadratic (the benchmark found
it); one read per run is linear.

The list may go stale while the run lasts: each chunk's transaction reads its records by id and checks again that
they still need the work, so a record that changed meanwhile is skipped, never done twice. After a takeover (the
lease moved to this replica and back) the chunk starts after the cursor the job persisted, whatever this replica
remembers."""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable


class WorkLists:
    def __init__(self) -> None:
        self._lists: dict[str, list[str]] = {}
        self._through: dict[str, str] = {}

    @staticmethod
    def _job(key: str) -> str:
        return key.split(":", 1)[0]

    async def next_chunk(
        self, key: str, *, size: int, fetch: Callable[[], Awaitable[list[str]]], after: str = ""
    ) -> list[str]:
        """Up to `size` ids after `after` (the job's persisted cursor) and after what this run has done.
        `key` is "<job>:<run>": a new run of a job replaces its old list. Empty when the run is through."""
        if key not in self._lists:
            job = self._job(key)
            for old in [k for k in self._lists if self._job(k) == job]:
                self.forget(old)
            self._lists[key] = sorted(await fetch())
        ids = self._lists[key]
        start = bisect.bisect_right(ids, max(after, self._through.get(key, "")))
        return ids[start : start + size]

    def is_last(self, key: str, chunk: list[str]) -> bool:
        """Whether `chunk` ends the run's list (nothing after it)."""
        ids = self._lists.get(key, [])
        return not chunk or not ids or chunk[-1] >= ids[-1]

    def advance(self, key: str, through: str) -> None:
        """The chunk up to `through` committed."""
        if key in self._lists:
            self._through[key] = max(self._through.get(key, ""), through)

    def forget(self, key: str) -> None:
        self._lists.pop(key, None)
        self._through.pop(key, None)
