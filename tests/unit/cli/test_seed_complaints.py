"""`crm seed` fills complaints' handler roster and takes in a few demo complaints through its HTTP API (a fake
complaints service, and a fake profile for the whole seed, here)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import httpx
import jwt
import pytest

import crm_cli.seed as seed_module
from crm_cli.demo_data import COMPLAINT_CHANNELS, COMPLAINTS, make_complaints
from crm_cli.seed import (
    demo_staff,
    intake_identity,
    put_handlers,
    seed,
    seed_handlers_if_empty,
    seed_if_empty,
    take_in_complaints,
)
from crm_complaints.domain.policy import DEFAULT_POLICY
from crm_complaints.schemas import ComplaintCreate, HandlerUpsert

SECRETS = {"CRM_JWT_SECRET": "unit-test-secret-that-is-long-enough-for-hs256"}
CHINA = timezone(timedelta(hours=8))
NOW = datetime(2026, 3, 2, 8, 30, tzinfo=CHINA)  # early on a Monday: yesterday's cases are still in the past


def claims_of(request: httpx.Request) -> dict:
    return jwt.decode(request.headers["Authorization"].removeprefix("Bearer "), options={"verify_signature": False})


class FakeComplaints:
    """The complaints API as far as the seed uses it, checking bodies against the service's own schemas."""

    def __init__(self, handlers: dict[str, dict] | None = None) -> None:
        self.handlers = dict(handlers or {})
        self.complaints: list[tuple[dict, dict]] = []  # (body, claims of who took it in)
        self.calls: list[tuple[str, str, dict]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        claims = claims_of(request)
        body = json.loads(request.content) if request.content else {}
        self.calls.append((request.method, request.url.path, claims))
        if request.method == "GET" and request.url.path == "/v1/handlers":
            return httpx.Response(200, json=[{"staff_id": s, **h} for s, h in sorted(self.handlers.items())])
        if request.method == "PUT" and request.url.path.startswith("/v1/handlers/"):
            staff_id = request.url.path.rsplit("/", 1)[1]
            HandlerUpsert.model_validate(body)
            assert claims["role"] in ("head_office", "admin"), claims
            self.handlers[staff_id] = body
            return httpx.Response(200, json={"staff_id": staff_id, **body})
        if request.method == "POST" and request.url.path == "/v1/complaints":
            parsed = ComplaintCreate.model_validate(body)
            assert parsed.category in DEFAULT_POLICY.categories
            assert parsed.received_at is not None and parsed.received_at.tzinfo is not None
            # As the service: staff outside head office take in complaints of their own branch only.
            if claims["role"] not in ("head_office", "admin", "auditor") and parsed.branch != claims["branch"]:
                return httpx.Response(403, json={"detail": "your branch only"})
            self.complaints.append((body, claims))
            return httpx.Response(201, json={"id": f"CMP-{len(self.complaints)}", **body, "state": "received"})
        return httpx.Response(404)


class FakeProfile:
    """Registration (201 with the new id, 409 when the ID document is there), balances and the customer list."""

    def __init__(self) -> None:
        self.customers: dict[str, dict] = {}  # id document number -> customer with id

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v1/customers":
            body = json.loads(request.content)
            number = body["id_document"]["number"]
            if number in self.customers:
                return httpx.Response(409, json={"existing_id": self.customers[number]["id"]})
            self.customers[number] = {**body, "id": f"C{len(self.customers) + 1:05d}"}
            return httpx.Response(201, json={"id": self.customers[number]["id"], "version": 1})
        if request.method == "POST" and request.url.path == "/v1/balances":
            return httpx.Response(200, json={"accepted": len(json.loads(request.content)["snapshots"])})
        if request.method == "GET" and request.url.path == "/v1/customers":
            items = list(self.customers.values())[: int(request.url.params.get("limit", 100))]
            return httpx.Response(200, json={"items": items, "next": None})
        return httpx.Response(404)


def handlers_of(staff):
    return {m["staff_id"]: {"branch": m["branch"], "categories": []} for m in staff if m["role"] == "complaint_handler"}


# --------------------------------------------------------------------------------------------
# the handler roster


async def test_put_handlers_puts_every_complaint_handler_of_their_branch_as_head_office():
    fake, staff = FakeComplaints(), demo_staff()
    n = await put_handlers("http://complaints", SECRETS, staff, transport=httpx.MockTransport(fake))
    assert n == 3 and fake.handlers == handlers_of(staff)
    assert {h["branch"] for h in fake.handlers.values()} == {"BR001", "BR002", "BR003"}
    assert all(method == "PUT" and claims["role"] == "head_office" for method, _, claims in fake.calls)


async def test_put_handlers_fails_loudly_when_complaints_refuses():
    transport = httpx.MockTransport(lambda _request: httpx.Response(403, json={"detail": "forbidden"}))
    with pytest.raises(httpx.HTTPStatusError):
        await put_handlers("http://complaints", SECRETS, demo_staff(), transport=transport)


async def test_roster_is_seeded_only_when_empty():
    fake = FakeComplaints()
    assert await seed_handlers_if_empty("http://complaints", SECRETS, transport=httpx.MockTransport(fake)) == 3
    assert fake.handlers == handlers_of(demo_staff())
    edited = {"branch": "BR001", "categories": ["fees"]}
    first = sorted(fake.handlers)[0]
    fake.handlers[first] = edited
    fake.calls.clear()
    assert await seed_handlers_if_empty("http://complaints", SECRETS, transport=httpx.MockTransport(fake)) == 0
    assert [m for m, _, _ in fake.calls] == ["GET"]
    assert fake.handlers[first] == edited and not fake.complaints


def test_demo_staff_is_the_staff_of_every_seed():
    assert (
        demo_staff()
        == seed_module.make_dataset(
            seed_module.SEED_VALUE, branches=3, individuals_per_branch=5, corporates_per_branch=1
        )["staff"]
    )


# --------------------------------------------------------------------------------------------
# the demo complaints


def customers(n, branches=("BR001", "BR002", "BR003")):
    return [
        {"id": f"C{i:05d}", "branch": branches[i % len(branches)], "owner": f"S-RM{i % len(branches)}"}
        for i in range(n)
    ]


@pytest.mark.parametrize(("n", "expected"), [(1, 1), (3, 3), (12, 3), (60, 3), (100, 5), (200, 10), (210, 10)])
def test_about_one_complaint_per_twenty_customers_and_at_least_three(n, expected):
    assert len(make_complaints(random.Random(1), customers(n), now=NOW)) == expected


def test_complaints_are_valid_varied_and_in_the_past():
    people = customers(200)
    made = make_complaints(random.Random(7), people, now=NOW)
    by_id = {c["id"]: c for c in people}
    for body in made:
        parsed = ComplaintCreate.model_validate(body)
        assert parsed.customer_id in by_id and parsed.branch == by_id[parsed.customer_id]["branch"]
        assert parsed.category in DEFAULT_POLICY.categories
        assert body["received_at"].endswith("+08:00")
        assert NOW - timedelta(days=8) < parsed.received_at < NOW
        assert any(ch > "\u4e00" for ch in parsed.description)  # Chinese text
        if parsed.channel == "regulator_forwarded":
            assert parsed.severity != "low"
    assert len({b["customer_id"] for b in made}) == len(made)  # a different customer each
    assert len({b["channel"] for b in made}) == len(COMPLAINT_CHANNELS)  # every channel once before repeats
    assert len({b["category"] for b in made}) == len(DEFAULT_POLICY.categories)  # 10 cases: every category
    assert len({b["severity"] for b in made}) >= 2
    assert make_complaints(random.Random(7), people, now=NOW) == made  # reproducible


def test_a_few_complaints_still_differ():
    made = make_complaints(random.Random(3), customers(12), now=NOW)
    assert len(made) == 3
    assert len({b["channel"] for b in made}) == 3 and len({b["category"] for b in made}) == 3


def test_demo_complaints_use_the_default_taxonomy_and_channels():
    assert {c for c, _, _ in COMPLAINTS} == set(DEFAULT_POLICY.categories)
    for channel in COMPLAINT_CHANNELS:
        ComplaintCreate.model_validate(
            {"customer_id": "C1", "channel": channel, "category": "fees", "description": "测试"}
        )


def test_complaints_are_taken_in_by_the_branch_handler_else_the_relationship_manager():
    staff = demo_staff()
    handler = next(m for m in staff if m["branch"] == "BR002" and m["role"] == "complaint_handler")
    assert intake_identity(staff, "BR002", "S0010") == (handler["staff_id"], "complaint_handler", "BR002")
    no_handlers = [m for m in staff if m["role"] != "complaint_handler"]
    assert intake_identity(no_handlers, "BR002", "S0010") == ("S0010", "relationship_manager", "BR002")


async def test_take_in_complaints_posts_each_as_a_staff_member_of_its_branch():
    fake, staff = FakeComplaints(), demo_staff()
    bodies = make_complaints(random.Random(5), customers(100), now=NOW)
    ids = await take_in_complaints("http://complaints", SECRETS, bodies, staff, transport=httpx.MockTransport(fake))
    assert len(ids) == len(bodies) == len(fake.complaints) == 5
    handler_of = {h["branch"]: s for s, h in handlers_of(staff).items()}
    for body, claims in fake.complaints:
        assert claims == {
            **claims,
            "sub": handler_of[body["branch"]],
            "role": "complaint_handler",
            "branch": body["branch"],
        }


async def test_take_in_complaints_fails_loudly_when_complaints_refuses():
    transport = httpx.MockTransport(lambda _request: httpx.Response(422, json={"detail": "invalid"}))
    bodies = make_complaints(random.Random(5), customers(3), now=NOW)
    with pytest.raises(httpx.HTTPStatusError):
        await take_in_complaints("http://complaints", SECRETS, bodies, demo_staff(), transport=transport)


# --------------------------------------------------------------------------------------------
# the whole seed


async def test_seed_fills_the_roster_and_takes_in_complaints_of_the_new_customers(tmp_path):
    profile, complaints = FakeProfile(), FakeComplaints()
    result = await seed(
        api="http://profile",
        secrets=SECRETS,
        count=60,
        staff_file=tmp_path / "staff.json",
        transport=httpx.MockTransport(profile),
        complaints_api="http://complaints",
        complaints_transport=httpx.MockTransport(complaints),
        now=NOW,
    )
    assert result["created"] == 60 and not result["failed"]
    assert result["handlers"] == 3 and result["complaints"] == 3 == len(complaints.complaints)
    staff = json.loads((tmp_path / "staff.json").read_text())["staff"]
    assert complaints.handlers == handlers_of(staff)
    registered = {c["id"]: c for c in profile.customers.values()}
    handler_of = {h["branch"]: s for s, h in handlers_of(staff).items()}
    for body, claims in complaints.complaints:
        assert body["customer_id"] in registered  # the ids the profile gave
        assert body["branch"] == registered[body["customer_id"]]["branch"] == claims["branch"]
        assert claims["sub"] == handler_of[body["branch"]] and claims["role"] == "complaint_handler"
    # The roster comes before any complaint.
    methods = [m for m, _, _ in complaints.calls]
    assert methods == ["PUT"] * 3 + ["POST"] * 3

    # Seeding again: every customer is there, so the roster is put again (no change) but no complaint is new.
    again = await seed(
        api="http://profile",
        secrets=SECRETS,
        count=60,
        staff_file=None,
        transport=httpx.MockTransport(profile),
        complaints_api="http://complaints",
        complaints_transport=httpx.MockTransport(complaints),
        now=NOW,
    )
    assert again["created"] == 0 and again["duplicates"] == 60
    assert again["complaints"] == 0 and len(complaints.complaints) == 3
    assert complaints.handlers == handlers_of(staff)


async def test_seed_without_complaints_leaves_it_alone(tmp_path):
    profile = FakeProfile()
    result = await seed(
        api="http://profile", secrets=SECRETS, count=12, staff_file=None, transport=httpx.MockTransport(profile)
    )
    assert result["created"] == 12 and result["handlers"] == 0 and result["complaints"] == 0


async def test_a_failing_complaints_service_only_warns(tmp_path):
    profile = FakeProfile()
    refuse = httpx.MockTransport(lambda _request: httpx.Response(503, json={"detail": "down"}))
    result = await seed(
        api="http://profile",
        secrets=SECRETS,
        count=12,
        staff_file=None,
        transport=httpx.MockTransport(profile),
        complaints_api="http://complaints",
        complaints_transport=refuse,
        now=NOW,
    )
    assert result["created"] == 12 and not result["failed"]
    assert result["handlers"] == 0 and result["complaints"] == 0


@pytest.fixture
def services(monkeypatch, tmp_path):
    """seed_if_empty builds its own clients: route them to the fakes by host."""
    monkeypatch.setenv("CRM_DEV_DIR", str(tmp_path))
    fakes = {"profile": FakeProfile(), "complaints": FakeComplaints()}
    real = seed_module.ProfileClient

    def client(base_url, *, jwt_secret, transport=None, **kw):
        host = httpx.URL(base_url).host
        return real(base_url, jwt_secret=jwt_secret, transport=transport or httpx.MockTransport(fakes[host]), **kw)

    monkeypatch.setattr(seed_module, "ProfileClient", client)
    return fakes


async def test_seed_if_empty_with_complaints_then_a_second_run(services):
    await seed_if_empty("http://profile", SECRETS, count=60, complaints_url="http://complaints")
    complaints = services["complaints"]
    assert len(services["profile"].customers) == 60
    assert len(complaints.handlers) == 3 and len(complaints.complaints) == 3
    received = [datetime.fromisoformat(b["received_at"]) for b, _ in complaints.complaints]
    assert all(r < datetime.now(CHINA) for r in received)

    # A second `make run`: the customers are there; the roster is not empty, so nothing is put or taken in.
    complaints.calls.clear()
    await seed_if_empty("http://profile", SECRETS, count=60, complaints_url="http://complaints")
    assert [m for m, _, _ in complaints.calls] == ["GET"]
    assert len(services["profile"].customers) == 60 and len(complaints.complaints) == 3


async def test_complaints_added_after_the_customers_get_the_roster_but_no_complaints(services):
    await seed_if_empty("http://profile", SECRETS, count=12)  # the first run had no complaints service
    complaints = services["complaints"]
    assert not complaints.calls
    await seed_if_empty("http://profile", SECRETS, count=12, complaints_url="http://complaints")
    assert complaints.handlers == handlers_of(demo_staff()) and not complaints.complaints


async def test_seed_if_empty_only_warns_when_complaints_is_down(services, monkeypatch):
    await seed_if_empty("http://profile", SECRETS, count=12)
    monkeypatch.setitem(services, "complaints", lambda _request: httpx.Response(503))
    await seed_if_empty("http://profile", SECRETS, count=12, complaints_url="http://complaints")  # no exception


# --------------------------------------------------------------------------------------------
# the command line


@pytest.fixture
def seed_calls(monkeypatch):
    calls = []

    async def fake_seed_command(**kw):
        calls.append(kw)
        return 0

    monkeypatch.setattr(seed_module, "seed_command", fake_seed_command)
    monkeypatch.delenv("CRM_COMPLAINTS_API", raising=False)
    return calls


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], None, "http://127.0.0.1:8004"),
        (["--complaints-api", "http://c:9"], None, "http://c:9"),
        (["--complaints-api", ""], None, None),
        ([], "http://env:8", "http://env:8"),
    ],
)
def test_crm_seed_passes_the_complaints_api(seed_calls, monkeypatch, args, env, expected):
    from typer.testing import CliRunner

    from crm_cli.main import app

    if env is not None:
        monkeypatch.setenv("CRM_COMPLAINTS_API", env)
    result = CliRunner().invoke(app, ["seed", "--count", "5", *args])
    assert result.exit_code == 0, result.output
    assert seed_calls[-1]["complaints_api"] == expected and seed_calls[-1]["count"] == 5


def test_crm_run_seeds_with_the_complaints_url(monkeypatch):
    from crm_cli import main

    calls = []

    async def fake_seed_if_empty(profile_url, secrets, **kw):
        calls.append((profile_url, kw))

    monkeypatch.setattr(seed_module, "seed_if_empty", fake_seed_if_empty)
    monkeypatch.delenv("SEED", raising=False)
    main._seed("http://p", SECRETS, engagement_url="http://e", complaints_url="http://c")  # noqa: SLF001 - crm run's step
    assert calls == [("http://p", {"tiering_url": None, "engagement_url": "http://e", "complaints_url": "http://c"})]
