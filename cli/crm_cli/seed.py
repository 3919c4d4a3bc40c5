"""`crm seed`: realistic demo data through the service APIs — branches, staff, customers, balances, products,
complaints.

Customers are registered by their branch's relationship managers (so data scope works as in a
bank), and three days of core-banking balance snapshots follow, so every tier is populated. When
tiering runs, its staff directory is filled; when engagement runs, its product catalogue (R1–R5);
when complaints runs, its roster of complaint handlers, and a few complaints (about one per 20 new
customers) are taken in by the handlers of the customers' branches.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import date, datetime, timedelta
from pathlib import Path
from types import EllipsisType
from typing import Any

from rich.console import Console
from rich.progress import Progress

from crm_cli.api import ProfileClient
from crm_cli.demo_data import make_balance, make_complaints, make_dataset, make_products
from crm_cli.devenv import dev_dir, load_dev_secrets

console = Console(stderr=True)
HEAD_OFFICE = ("S-HO01", "head_office", None)
ADMIN = ("S-ADMIN", "admin", None)
SEED_VALUE = 20261124
BRANCHES = 3


def demo_staff(seed_value: int = SEED_VALUE) -> list[dict[str, Any]]:
    """The staff `seed` makes (the same for every count): staff_id, name, role, branch."""
    return make_dataset(seed_value, branches=BRANCHES, individuals_per_branch=0, corporates_per_branch=0)["staff"]


def staff_file_path() -> Path:
    """Where the seeded staff list is written: `staff.json` in the dev dir (crm_cli.devenv.dev_dir)."""
    return dev_dir() / "staff.json"


async def put_staff(
    tiering_api: str, secrets: dict[str, str], staff: list[dict[str, Any]], *, transport: Any = None
) -> int:
    """Fill the tiering service's staff directory (who may own which tier's customers). Idempotent."""
    client = ProfileClient(tiering_api, jwt_secret=secrets["CRM_JWT_SECRET"], transport=transport)
    try:

        async def put(member: dict[str, Any]) -> None:
            r = await client.request(
                "PUT",
                f"/v1/staff/{member['staff_id']}",
                as_=ADMIN,
                json={"name": member["name"], "branch": member["branch"], "roles": [member["role"]], "active": True},
            )
            r.raise_for_status()

        await asyncio.gather(*(put(m) for m in staff))
    finally:
        await client.close()
    return len(staff)


async def put_products(
    engagement_api: str, secrets: dict[str, str], products: list[dict[str, Any]], *, transport: Any = None
) -> int:
    """Fill the engagement service's product catalogue (suitability, recommendations) as head office. Idempotent."""
    client = ProfileClient(engagement_api, jwt_secret=secrets["CRM_JWT_SECRET"], transport=transport)
    try:

        async def put(product: dict[str, Any]) -> None:
            body = {k: product[k] for k in ("name", "type", "risk_level", "active")}
            r = await client.request("PUT", f"/v1/products/{product['code']}", as_=HEAD_OFFICE, json=body)
            r.raise_for_status()

        await asyncio.gather(*(put(p) for p in products))
    finally:
        await client.close()
    return len(products)


async def seed_products_if_empty(engagement_api: str, secrets: dict[str, str], *, transport: Any = None) -> int:
    """The demo catalogue, unless engagement already has products (edits made since are kept). How many were put."""
    client = ProfileClient(engagement_api, jwt_secret=secrets["CRM_JWT_SECRET"], transport=transport)
    try:
        r = await client.request("GET", "/v1/products", as_=HEAD_OFFICE)
        r.raise_for_status()
        if r.json():
            return 0
    finally:
        await client.close()
    return await put_products(engagement_api, secrets, make_products(), transport=transport)


async def put_handlers(
    complaints_api: str, secrets: dict[str, str], staff: list[dict[str, Any]], *, transport: Any = None
) -> int:
    """Fill the complaints service's handler roster — every complaint handler of the staff, for their branch and
    every category — as head office. Idempotent. How many were put."""
    handlers = [m for m in staff if m["role"] == "complaint_handler"]
    client = ProfileClient(complaints_api, jwt_secret=secrets["CRM_JWT_SECRET"], transport=transport)
    try:

        async def put(member: dict[str, Any]) -> None:
            r = await client.request(
                "PUT",
                f"/v1/handlers/{member['staff_id']}",
                as_=HEAD_OFFICE,
                json={"branch": member["branch"], "categories": []},
            )
            r.raise_for_status()

        await asyncio.gather(*(put(m) for m in handlers))
    finally:
        await client.close()
    return len(handlers)


async def seed_handlers_if_empty(
    complaints_api: str, secrets: dict[str, str], staff: list[dict[str, Any]] | None = None, *, transport: Any = None
) -> int:
    """The demo handler roster (of `staff`, by default demo_staff()), unless complaints already has handlers (edits
    made since are kept). How many were put."""
    client = ProfileClient(complaints_api, jwt_secret=secrets["CRM_JWT_SECRET"], transport=transport)
    try:
        r = await client.request("GET", "/v1/handlers", as_=HEAD_OFFICE)
        r.raise_for_status()
        if r.json():
            return 0
    finally:
        await client.close()
    return await put_handlers(complaints_api, secrets, demo_staff() if staff is None else staff, transport=transport)


def intake_identity(staff: list[dict[str, Any]], branch: str, owner: str | None = None) -> tuple[str, str, str | None]:
    """Who takes in a complaint for a customer of `branch`: the branch's complaint handler, else the customer's
    relationship manager."""
    for member in staff:
        if member["branch"] == branch and member["role"] == "complaint_handler":
            return (member["staff_id"], "complaint_handler", branch)
    if owner is None:
        raise ValueError(f"branch {branch} has no complaint handler")
    return (owner, "relationship_manager", branch)


async def take_in_complaints(
    complaints_api: str,
    secrets: dict[str, str],
    complaints: list[dict[str, Any]],
    staff: list[dict[str, Any]],
    *,
    owners: dict[str, str] | None = None,
    transport: Any = None,
) -> list[str]:
    """Take in `complaints` (bodies of POST /v1/complaints, e.g. from make_complaints), each as a staff member of its
    branch (intake_identity; `owners`: customer id -> owner, the fallback). Not idempotent: every call opens new
    cases. The new complaint ids, in order."""
    client = ProfileClient(complaints_api, jwt_secret=secrets["CRM_JWT_SECRET"], transport=transport)
    try:

        async def post(body: dict[str, Any]) -> str:
            as_ = intake_identity(staff, body["branch"], (owners or {}).get(body["customer_id"]))
            r = await client.request("POST", "/v1/complaints", as_=as_, json=body)
            r.raise_for_status()
            return str(r.json()["id"])

        return list(await asyncio.gather(*(post(b) for b in complaints)))
    finally:
        await client.close()


async def seed(
    *,
    api: str,
    secrets: dict[str, str],
    count: int = 200,
    seed_value: int = SEED_VALUE,
    staff_file: Path | EllipsisType | None = ...,
    transport: Any = None,
    tiering_api: str | None = None,
    tiering_transport: Any = None,
    engagement_api: str | None = None,
    engagement_transport: Any = None,
    complaints_api: str | None = None,
    complaints_transport: Any = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """`staff_file`: where to write the staff list; by default `staff.json` in the dev dir, None for nowhere.
    `tiering_api`: the tiering service, whose staff directory is filled before the balances arrive, so the
    customers go to the staff responsible for their tier.
    `engagement_api`: the engagement service, whose product catalogue is filled (PUT, so a repeat changes nothing).
    `complaints_api`: the complaints service, whose handler roster is filled (PUT); after the balances, a few
    complaints of the customers created by this call (none when all were there already) are taken in, received
    one to seven days before `now`."""
    if staff_file is ...:
        staff_file = staff_file_path()
    branches = BRANCHES
    per_branch = max(1, count // branches)
    corporates = max(0, per_branch // 8)
    today = date.today()
    data = make_dataset(
        seed_value,
        branches=branches,
        individuals_per_branch=per_branch - corporates,
        corporates_per_branch=corporates,
        as_of=today,
    )
    customers = data["customers"][:count]
    if staff_file is not None:
        staff_file.parent.mkdir(parents=True, exist_ok=True)
        staff_file.write_text(
            json.dumps({"branches": data["branches"], "staff": data["staff"]}, ensure_ascii=False, indent=2)
        )

    client = ProfileClient(api, jwt_secret=secrets["CRM_JWT_SECRET"], transport=transport)
    created, duplicates, failed = 0, 0, []
    products, handlers, complaints = 0, 0, 0
    ids: dict[int, str] = {}  # index in customers -> customer id, of those created now
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("customers", total=len(customers))

            async def register(i: int, c: dict[str, Any]) -> None:
                nonlocal created, duplicates
                r = await client.request(
                    "POST", "/v1/customers", json=c, as_=(c["owner"], "relationship_manager", c["branch"])
                )
                if r.status_code == 201:
                    created += 1
                    ids[i] = r.json()["id"]
                elif r.status_code == 409:
                    duplicates += 1
                else:
                    failed.append((c["name"], r.status_code, r.text[:200]))
                progress.advance(task)

            await asyncio.gather(*(register(i, c) for i, c in enumerate(customers)))
            if tiering_api:
                try:
                    await put_staff(tiering_api, secrets, data["staff"], transport=tiering_transport)
                except Exception as exc:  # noqa: BLE001 - customers stay with the staff who registered them
                    console.print(f"[yellow]warning: staff directory not filled on {tiering_api}: {exc!r}[/]")
            if engagement_api:
                try:
                    products = await put_products(
                        engagement_api, secrets, data["products"], transport=engagement_transport
                    )
                except Exception as exc:  # noqa: BLE001 - the customers are there; the catalogue can be seeded again
                    console.print(f"[yellow]warning: product catalogue not filled on {engagement_api}: {exc!r}[/]")
            if complaints_api:
                try:
                    handlers = await put_handlers(
                        complaints_api, secrets, data["staff"], transport=complaints_transport
                    )
                except Exception as exc:  # noqa: BLE001 - new cases are then routed when a handler is set
                    console.print(f"[yellow]warning: complaint handlers not filled on {complaints_api}: {exc!r}[/]")
            rng = random.Random(seed_value)
            days = [today - timedelta(days=2), today - timedelta(days=1), today]
            snapshots = [make_balance(rng, c["core_customer_no"], d) for d in days for c in customers]
            btask = progress.add_task("balance snapshots", total=len(snapshots))
            for i in range(0, len(snapshots), 500):
                chunk = snapshots[i : i + 500]
                r = await client.request("POST", "/v1/balances", json={"snapshots": chunk}, as_=ADMIN)
                r.raise_for_status()
                progress.advance(btask, len(chunk))
            if complaints_api and ids:
                # Last, so the complaints service has had the time to learn the customers (owner, tier) from
                # profile's events; the branch is given, so a case is routed right even before.
                new = [{**customers[i], "id": ids[i]} for i in sorted(ids)]
                bodies = make_complaints(random.Random(seed_value + 1), new, now=now)
                try:
                    complaints = len(
                        await take_in_complaints(
                            complaints_api,
                            secrets,
                            bodies,
                            data["staff"],
                            owners={c["id"]: c["owner"] for c in new},
                            transport=complaints_transport,
                        )
                    )
                except Exception as exc:  # noqa: BLE001 - the customers are there; complaints are a garnish
                    console.print(f"[yellow]warning: demo complaints not taken in on {complaints_api}: {exc!r}[/]")
    finally:
        await client.close()
    return {
        "created": created,
        "duplicates": duplicates,
        "failed": failed,
        "staff": len(data["staff"]),
        "products": products,
        "handlers": handlers,
        "complaints": complaints,
        "customers": customers,
    }


async def seed_if_empty(
    profile_url: str,
    secrets: dict[str, str],
    count: int = 200,
    tiering_url: str | None = None,
    engagement_url: str | None = None,
    complaints_url: str | None = None,
) -> None:
    client = ProfileClient(profile_url, jwt_secret=secrets["CRM_JWT_SECRET"])
    try:
        r = await client.request("GET", "/v1/customers", params={"limit": 1}, as_=HEAD_OFFICE)
        r.raise_for_status()
        present = bool(r.json()["items"])
    finally:
        await client.close()
    if present:
        console.print("demo data already present: not seeding again")
        if engagement_url:
            # Customers seeded before engagement was added: the catalogue is still filled once.
            try:
                added = await seed_products_if_empty(engagement_url, secrets)
            except Exception as exc:  # noqa: BLE001 - a convenience: the stack stays up
                console.print(f"[yellow]warning: product catalogue not filled on {engagement_url}: {exc!r}[/]")
            else:
                if added:
                    console.print(f"seeded {added} products in engagement's catalogue")
        if complaints_url:
            # Customers seeded before complaints was added: the roster is still filled once (no complaints).
            try:
                added = await seed_handlers_if_empty(complaints_url, secrets)
            except Exception as exc:  # noqa: BLE001 - a convenience: the stack stays up
                console.print(f"[yellow]warning: complaint handlers not filled on {complaints_url}: {exc!r}[/]")
            else:
                if added:
                    console.print(f"seeded {added} complaint handlers in complaints' roster")
        return
    result = await seed(
        api=profile_url,
        secrets=secrets,
        count=count,
        tiering_api=tiering_url,
        engagement_api=engagement_url,
        complaints_api=complaints_url,
    )
    products = f", {result['products']} products" if engagement_url else ""
    complaints = (
        f", {result['handlers']} complaint handlers, {result['complaints']} complaints" if complaints_url else ""
    )
    console.print(
        f"seeded {result['created']} customers and {result['staff']} staff{products}{complaints} "
        f"(staff list in {staff_file_path()})"
    )


async def seed_command(
    *,
    count: int,
    api: str,
    tiering_api: str | None = None,
    engagement_api: str | None = None,
    complaints_api: str | None = None,
) -> int:
    secrets = load_dev_secrets(dev_dir() / "secrets.env")
    result = await seed(
        api=api,
        secrets=secrets,
        count=count,
        tiering_api=tiering_api,
        engagement_api=engagement_api,
        complaints_api=complaints_api,
    )
    console.print(
        f"created {result['created']}, already there {result['duplicates']}, failed {len(result['failed'])}"
        + (f"; {result['products']} products put" if engagement_api else "")
        + (
            f"; {result['handlers']} complaint handlers put, {result['complaints']} complaints taken in"
            if complaints_api
            else ""
        )
    )
    for _name, status, text in result["failed"][:10]:
        console.print(f"  {status}: {text}")
    return 1 if result["failed"] else 0
