"""`crm import FILE`: an existing customer list (CSV or xlsx) into the archive.

Every row goes through the same validation as the API (the profile's own schemas), then is
registered through the API; nothing is dropped silently: each rejected row is reported with its
row number, the field and the problem.
"""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from crm_cli.api import ProfileClient
from crm_cli.devenv import load_or_create_dev_secrets
from crm_profile.schemas import CustomerCreate

console = Console(stderr=True)
VALIDATOR: TypeAdapter[Any] = TypeAdapter(CustomerCreate)
LIST_COLUMNS = {"phones", "tags", "interests"}  # several values separated by ";"
COLUMNS = (
    "kind", "name", "gender", "birthday", "id_type", "id_number", "phones", "email", "address", "branch", "owner",
    "core_customer_no", "segment", "tags", "occupation", "education", "employer", "interests", "industry",
    "legal_representative", "risk_tolerance", "risk_assessed_on", "annual_income", "channel",
)


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows as dicts of the header's column names; empty cells are left out."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        ws = load_workbook(path, read_only=True, data_only=True).active
        rows = ws.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows)]
        out = []
        for values in rows:
            cells = {h: ("" if v is None else (v.isoformat()[:10] if hasattr(v, "isoformat") else str(v)).strip())
                     for h, v in zip(header, values, strict=False) if h}
            out.append(cells)
        return out
    with path.open(newline="", encoding="utf-8-sig") as f:
        return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(f)]


def to_payload(row: dict[str, str]) -> dict[str, Any]:
    """A flat spreadsheet row as the API's nested request body."""
    cells = {k: v for k, v in row.items() if v != ""}
    payload: dict[str, Any] = {}
    for key, value in cells.items():
        if key in ("id_type", "id_number", "risk_tolerance", "risk_assessed_on", "annual_income"):
            continue
        payload[key] = [v.strip() for v in value.split(";") if v.strip()] if key in LIST_COLUMNS else value
    if "id_number" in cells or "id_type" in cells:
        kind = cells.get("kind", "individual")
        payload["id_document"] = {"type": cells.get("id_type") or ("uscc" if kind == "corporate" else "resident_id"),
                                  "number": cells.get("id_number", "")}
    if "risk_tolerance" in cells:
        payload["risk"] = {"tolerance": cells["risk_tolerance"], "assessed_on": cells.get("risk_assessed_on")}
    if "annual_income" in cells:
        payload["income"] = {"annual": cells["annual_income"]}
    payload.setdefault("channel", "bulk_import")
    return payload


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for e in exc.errors():
        loc = [str(p) for p in e["loc"] if p not in ("individual", "corporate")]
        out.append((".".join(loc) or "row", e["msg"]))
    return out


async def import_file(*, path: Path, api: str, jwt_secret: str, staff_id: str, role: str, branch: str | None,
                      concurrency: int = 8, transport: Any = None) -> dict[str, Any]:
    rows = read_rows(path)
    report: list[dict[str, Any]] = []
    created: list[tuple[int, str]] = []
    client = ProfileClient(api, jwt_secret=jwt_secret, concurrency=concurrency, transport=transport)
    try:
        with Progress(console=console) as progress:
            task = progress.add_task(f"importing {path.name}", total=len(rows))

            async def one(number: int, row: dict[str, str]) -> None:
                try:
                    payload = to_payload(row)
                    VALIDATOR.validate_python(payload)
                except ValidationError as exc:
                    report.extend({"row": number, "field": f, "problem": m} for f, m in _problems(exc))
                    progress.advance(task)
                    return
                r = await client.request("POST", "/v1/customers", json=payload, as_=(staff_id, role, branch))
                if r.status_code == 201:
                    created.append((number, r.json()["id"]))
                else:
                    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
                    detail = body.get("detail", r.text)
                    if isinstance(detail, list):
                        for d in detail:
                            report.append({"row": number, "field": ".".join(map(str, d.get("loc", [])[1:])), "problem": d.get("msg")})
                    else:
                        field, _, problem = str(detail).partition(": ")
                        extra = f" (existing customer {body['existing_id']})" if body.get("existing_id") else ""
                        report.append({"row": number, "field": field if problem else "row",
                                       "problem": (problem or field) + extra})
                progress.advance(task)

            # Row 1 is the header, so data rows start at 2, as a spreadsheet shows them.
            await asyncio.gather(*(one(i + 2, row) for i, row in enumerate(rows)))
    finally:
        await client.close()
    report.sort(key=lambda r: (r["row"], r["field"]))
    return {"rows": len(rows), "created": sorted(created), "errors": report,
            "rejected_rows": len({r["row"] for r in report})}


def write_report(errors: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=["row", "field", "problem"])
        w.writeheader()
        w.writerows(errors)


async def import_command(*, file: Path, api: str, staff_id: str, role: str, branch: str | None, errors: Path | None) -> int:
    secrets = load_or_create_dev_secrets(Path(".dev/secrets.env"))
    result = await import_file(path=file, api=api, jwt_secret=secrets["CRM_JWT_SECRET"], staff_id=staff_id, role=role,
                               branch=branch)
    errors_path = errors or file.with_name(file.stem + ".errors.csv")
    if result["errors"]:
        write_report(result["errors"], errors_path)
    table = Table(title=f"import of {file.name}")
    table.add_column("rows")
    table.add_column("imported")
    table.add_column("rejected")
    table.add_row(str(result["rows"]), str(len(result["created"])), str(result["rejected_rows"]))
    console.print(table)
    for e in result["errors"][:20]:
        console.print(f"  row {e['row']}: {e['field']}: {e['problem']}")
    if result["errors"]:
        console.print(f"every rejected row is listed in {errors_path}")
    return 2 if result["errors"] else 0
