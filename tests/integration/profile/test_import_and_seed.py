"""`crm import` and `crm seed` through the real profile service."""

import csv

import httpx
import pytest
from openpyxl import Workbook

from crm_cli.importer import COLUMNS, import_file, write_report
from crm_cli.seed import seed

pytestmark = pytest.mark.integration


def row_of(person):
    return {
        "kind": person["kind"],
        "name": person["name"],
        "gender": person.get("gender", ""),
        "birthday": person.get("birthday", ""),
        "id_type": person["id_document"]["type"],
        "id_number": person["id_document"]["number"],
        "phones": ";".join(person["phones"]),
        "email": person["email"],
        "address": person["address"],
        "branch": person["branch"],
        "owner": person["owner"],
        "core_customer_no": person["core_customer_no"],
        "tags": "imported;2026",
        "industry": person.get("industry", ""),
        "segment": person.get("segment", ""),
    }


def write_csv(path, rows):
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS))
        w.writeheader()
        w.writerows(rows)


async def run_import(profile, service_env, file, **kw):
    return await import_file(
        path=file,
        api="http://service",
        jwt_secret=service_env["CRM_JWT_SECRET"],
        staff_id="S-IMPORT",
        role="admin",
        branch=None,
        transport=httpx.ASGITransport(app=profile.app),
        **kw,
    )


async def count_customers(profile, token_for):
    head_office = {"Authorization": token_for("head_office", "H1", None)}
    items = (await profile.get("/v1/customers", params={"limit": 100}, headers=head_office)).json()["items"]
    return len(items)


async def test_import_csv_reports_bad_rows_and_is_idempotent(profile, people, service_env, tmp_path, token_for):
    good, dup_source, corp = people(), people(), people.corporate()
    bad_id = row_of(people())
    bad_id["id_number"] = bad_id["id_number"][:-1] + ("1" if bad_id["id_number"][-1] != "1" else "2")
    bad_phone = {**row_of(people()), "phones": "12345"}
    # Rows 2..7 as a spreadsheet numbers them: row 5 is row 4 again (same ID document, a new email).
    rows = [
        row_of(good),
        bad_id,
        row_of(dup_source),
        {**row_of(dup_source), "email": "again@example.com"},
        row_of(corp),
        bad_phone,
    ]
    file = tmp_path / "customers.csv"
    write_csv(file, rows)

    # Small chunks, two in flight: the rows travel in several requests, the repeat in a later round.
    first = await run_import(profile, service_env, file, chunk_size=2, concurrency=2)
    assert first["rows"] == 6
    assert [n for n, _ in first["created"]] == [2, 4, 6]
    ids = dict(first["created"])
    assert first["existing"] == [(5, ids[4])]  # the repeat is the same customer, not an error
    by_row = {}
    for e in first["errors"]:
        by_row.setdefault(e["row"], []).append(e)
    assert set(by_row) == {3, 7} and first["rejected_rows"] == 2
    assert [e["field"] for e in by_row[3]] == ["id_document.number"] and "check" in by_row[3][0]["problem"]
    assert [e["field"] for e in by_row[7]] == ["phones.0"]
    assert first["seconds"] > 0 and first["rows_per_second"] > 0

    admin = {"Authorization": token_for("admin", "S-ADMIN", None)}
    listed = (await profile.get("/v1/customers", params={"tag": "imported"}, headers=admin)).json()["items"]
    assert len(listed) == 3 and {c["id"] for c in listed} == set(ids.values())
    assert {c["owner"] for c in listed} == {"S-RM1"}
    history = (await profile.get(f"/v1/customers/{listed[0]['id']}/history", headers=admin)).json()
    assert history[0]["channel"] == "bulk_import" and history[0]["by"] == "S-IMPORT"
    total = await count_customers(profile, token_for)
    assert total == 3

    report = tmp_path / "errors.csv"
    write_report(first["errors"], report)
    assert [(r["row"], r["field"]) for r in csv.DictReader(report.open(encoding="utf-8-sig"))] == [
        ("3", "id_document.number"),
        ("7", "phones.0"),
    ]

    # The same file again: nothing new, every valid row already present, the same rows rejected.
    second = await run_import(profile, service_env, file)
    assert second["rows"] == 6 and second["created"] == []
    assert second["existing"] == [(2, ids[2]), (4, ids[4]), (5, ids[4]), (6, ids[6])]
    assert second["errors"] == first["errors"] and second["rejected_rows"] == 2
    assert await count_customers(profile, token_for) == total


async def test_import_xlsx(profile, people, service_env, tmp_path, token_for):
    wb = Workbook()
    ws = wb.active
    ws.append(list(COLUMNS))
    first, second = row_of(people()), row_of(people())
    second["phones"] = second["phones"].split(";")[0]
    ws.append([first.get(c, "") for c in COLUMNS])
    # Numbers typed into Excel come back as numbers: the phone here.
    ws.append([int(second[c]) if c == "phones" else second.get(c, "") for c in COLUMNS])
    ws.append([None] * len(COLUMNS))  # row 4: blank, ignored, but rows below keep their numbers
    ws.append([{**row_of(people()), "gender": "unknown"}.get(c, "") for c in COLUMNS])  # row 5
    file = tmp_path / "customers.xlsx"
    wb.save(file)

    result = await run_import(profile, service_env, file)
    assert result["rows"] == 3
    assert [n for n, _ in result["created"]] == [2, 3] and result["existing"] == []
    assert {e["row"] for e in result["errors"]} == {5} and result["errors"][0]["field"] == "gender"

    again = await run_import(profile, service_env, file)
    assert again["created"] == [] and again["existing"] == result["created"]
    assert again["errors"] == result["errors"]
    assert await count_customers(profile, token_for) == 2


async def test_seed_registers_customers_with_balances(profile, service_env, token_for, tmp_path):
    result = await seed(
        api="http://service",
        secrets=service_env,
        count=12,
        staff_file=tmp_path / "staff.json",
        transport=httpx.ASGITransport(app=profile.app),
    )
    assert result["created"] == 12 and not result["failed"]
    head_office = {"Authorization": token_for("head_office", "H1", None)}
    items = (await profile.get("/v1/customers", params={"limit": 50}, headers=head_office)).json()["items"]
    assert len(items) == 12
    assert all(c["aum"] and c["aum"]["amount"] is not None for c in items)
    assert {c["owner"][:1] for c in items} == {"S"} and len({c["branch"] for c in items}) == 3
    history = (await profile.get(f"/v1/customers/{items[0]['id']}/balances", headers=head_office)).json()
    assert len(history) == 3
