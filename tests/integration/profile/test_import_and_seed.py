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
        "kind": person["kind"], "name": person["name"], "gender": person.get("gender", ""),
        "birthday": person.get("birthday", ""), "id_type": person["id_document"]["type"],
        "id_number": person["id_document"]["number"], "phones": ";".join(person["phones"]), "email": person["email"],
        "address": person["address"], "branch": person["branch"], "owner": person["owner"],
        "core_customer_no": person["core_customer_no"], "tags": "imported;2026",
        "industry": person.get("industry", ""), "segment": person.get("segment", ""),
    }


async def test_import_csv_reports_every_rejected_row(profile, people, service_env, tmp_path, token_for):
    good, dup_source, corp = people(), people(), people.corporate()
    bad_id = row_of(people())
    bad_id["id_number"] = bad_id["id_number"][:-1] + ("1" if bad_id["id_number"][-1] != "1" else "2")
    bad_phone = {**row_of(people()), "phones": "12345"}
    rows = [row_of(good), bad_id, row_of(dup_source), {**row_of(dup_source), "core_customer_no": ""}, row_of(corp), bad_phone]
    file = tmp_path / "customers.csv"
    with file.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS))
        w.writeheader()
        w.writerows(rows)

    result = await import_file(path=file, api="http://service", jwt_secret=service_env["CRM_JWT_SECRET"],
                               staff_id="S-IMPORT", role="admin", branch=None, concurrency=1,
                               transport=httpx.ASGITransport(app=profile.app))
    assert result["rows"] == 6
    assert [n for n, _ in result["created"]] == [2, 4, 6]
    by_row = {e["row"]: e for e in result["errors"]}
    assert set(by_row) == {3, 5, 7}
    assert "id_document.number" in by_row[3]["field"] and "check" in by_row[3]["problem"]
    assert by_row[5]["field"] == "id_document" and "existing customer" in by_row[5]["problem"]
    assert by_row[7]["field"].startswith("phones")

    admin = {"Authorization": token_for("admin", "S-ADMIN", None)}
    listed = (await profile.get("/v1/customers", params={"tag": "imported"}, headers=admin)).json()["items"]
    assert len(listed) == 3 and {c["owner"] for c in listed} == {"S-RM1"}
    history = (await profile.get(f"/v1/customers/{listed[0]['id']}/history", headers=admin)).json()
    assert history[0]["channel"] == "bulk_import" and history[0]["by"] == "S-IMPORT"

    report = tmp_path / "errors.csv"
    write_report(result["errors"], report)
    assert [r["row"] for r in csv.DictReader(report.open(encoding="utf-8-sig"))] == ["3", "5", "7"]


async def test_import_xlsx(profile, people, service_env, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(list(COLUMNS))
    for person in (people(), people()):
        r = row_of(person)
        ws.append([r.get(c, "") for c in COLUMNS])
    file = tmp_path / "customers.xlsx"
    wb.save(file)
    result = await import_file(path=file, api="http://service", jwt_secret=service_env["CRM_JWT_SECRET"],
                               staff_id="S-IMPORT", role="admin", branch=None, transport=httpx.ASGITransport(app=profile.app))
    assert len(result["created"]) == 2 and result["errors"] == []


async def test_seed_registers_customers_with_balances(profile, service_env, token_for, tmp_path):
    result = await seed(api="http://service", secrets=service_env, count=12, staff_file=tmp_path / "staff.json",
                        transport=httpx.ASGITransport(app=profile.app))
    assert result["created"] == 12 and not result["failed"]
    head_office = {"Authorization": token_for("head_office", "H1", None)}
    items = (await profile.get("/v1/customers", params={"limit": 50}, headers=head_office)).json()["items"]
    assert len(items) == 12
    assert all(c["aum"] and c["aum"]["amount"] is not None for c in items)
    assert {c["owner"][:1] for c in items} == {"S"} and len({c["branch"] for c in items}) == 3
    history = (await profile.get(f"/v1/customers/{items[0]['id']}/balances", headers=head_office)).json()
    assert len(history) == 3
