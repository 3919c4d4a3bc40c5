"""`crm seed` fills engagement's product catalogue through its HTTP API (a fake engagement here)."""

from __future__ import annotations

import json

import httpx
import jwt
import pytest

from crm_cli.demo_data import make_products
from crm_cli.seed import put_products, seed_products_if_empty

SECRETS = {"CRM_JWT_SECRET": "unit-test-secret-that-is-long-enough-for-hs256"}


class FakeEngagement:
    def __init__(self, products: dict[str, dict] | None = None) -> None:
        self.products = dict(products or {})
        self.calls: list[tuple[str, str, dict]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        claims = jwt.decode(token, options={"verify_signature": False})
        body = json.loads(request.content) if request.content else {}
        self.calls.append((request.method, request.url.path, claims))
        if request.method == "GET" and request.url.path == "/v1/products":
            return httpx.Response(200, json=[{"code": c, **p} for c, p in sorted(self.products.items())])
        if request.method == "PUT" and request.url.path.startswith("/v1/products/"):
            code = request.url.path.rsplit("/", 1)[1]
            assert set(body) == {"name", "type", "risk_level", "active"}, body
            self.products[code] = body
            return httpx.Response(200, json={"code": code, **body})
        return httpx.Response(404)


async def test_put_products_puts_every_product_as_head_office():
    fake = FakeEngagement()
    n = await put_products("http://engagement", SECRETS, make_products(), transport=httpx.MockTransport(fake))
    assert n == len(make_products())
    assert set(fake.products) == {p["code"] for p in make_products()}
    assert fake.products["P-DEP-01"] == {"name": "活期存款", "type": "deposit", "risk_level": "R1", "active": True}
    assert all(method == "PUT" and claims["role"] == "head_office" for method, _, claims in fake.calls)


async def test_put_products_fails_loudly_when_engagement_refuses():
    transport = httpx.MockTransport(lambda _request: httpx.Response(403, json={"detail": "forbidden"}))
    with pytest.raises(httpx.HTTPStatusError):
        await put_products("http://engagement", SECRETS, make_products(), transport=transport)


async def test_catalogue_is_seeded_only_when_empty():
    fake = FakeEngagement()
    assert await seed_products_if_empty("http://engagement", SECRETS, transport=httpx.MockTransport(fake)) == len(
        make_products()
    )
    edited = {"name": "活期存款", "type": "deposit", "risk_level": "R1", "active": False}
    fake.products["P-DEP-01"] = edited
    fake.calls.clear()
    assert await seed_products_if_empty("http://engagement", SECRETS, transport=httpx.MockTransport(fake)) == 0
    assert [m for m, _, _ in fake.calls] == ["GET"]
    assert fake.products["P-DEP-01"] == edited
