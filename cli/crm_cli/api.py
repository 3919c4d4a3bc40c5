"""A small client of the profile API for the CLI: tokens per acting staff member, bounded concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from crm_kit.auth import issue_token


class ProfileClient:
    def __init__(
        self, base_url: str, *, jwt_secret: str, concurrency: int = 8, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._secret = jwt_secret
        self._http = httpx.AsyncClient(base_url=base_url, timeout=30, transport=transport)
        self._tokens: dict[tuple[str, str, str | None], str] = {}
        self._slots = asyncio.Semaphore(concurrency)

    def headers(self, *, staff_id: str, role: str, branch: str | None) -> dict[str, str]:
        key = (staff_id, role, branch)
        if key not in self._tokens:
            self._tokens[key] = issue_token(secret=self._secret, staff_id=staff_id, role=role, branch=branch)
        return {"Authorization": f"Bearer {self._tokens[key]}"}

    async def request(self, method: str, path: str, *, as_: tuple[str, str, str | None], **kw: Any) -> httpx.Response:
        async with self._slots:
            staff_id, role, branch = as_
            return await self._http.request(
                method, path, headers=self.headers(staff_id=staff_id, role=role, branch=branch), **kw
            )

    async def close(self) -> None:
        await self._http.aclose()
