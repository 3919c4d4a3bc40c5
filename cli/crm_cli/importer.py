"""`crm import FILE`: an existing customer list (CSV or xlsx) into the archive.

Every row goes through the same validation as the API (the profile's own request schema) right here, so a
bad row is reported with its row number, the field and the problem without a round trip. The valid rows
are then registered in chunks through `POST /v1/customers/batch` (a few chunks in flight), which answers
each row with `created`, `exists` (the ID document is already registered: the row is already present, not
an error) or `rejected` (with the reasons). Nothing is dropped silently, and importing the same file again
creates nothing new: every row comes back `exists`.

Rows of the file that share an ID document are sent one occurrence per round (first occurrences first), so
later occurrences are answered `exists` with the id of the first and never race it.
"""

from __future__ import annotations

import asyncio
import csv
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from crm_cli.api import ProfileClient
from crm_cli.devenv import dev_dir, load_dev_secrets
from crm_profile.schemas import CustomerCreate, problems

console = Console(stderr=True)
VALIDATOR: TypeAdapter[Any] = TypeAdapter(CustomerCreate)
LIST_COLUMNS = {"phones", "tags", "interests"}  # several values separated by ";"
COLUMNS = (
    "kind",
    "name",
    "gender",
    "birthday",
    "id_type",
    "id_number",
    "phones",
    "email",
    "address",
    "branch",
    "owner",
    "core_customer_no",
    "segment",
    "tags",
    "occupation",
    "education",
    "employer",
    "interests",
    "industry",
    "legal_representative",
    "risk_tolerance",
    "risk_assessed_on",
    "annual_income",
    "channel",
)

BATCH_PATH = "/v1/customers/batch"
CHUNK_SIZE = 500  # rows per request; the endpoint takes 1..1000
MAX_CHUNK_SIZE = 1000
CONCURRENCY = 3  # chunks in flight
ATTEMPTS = 4  # per chunk, for answers worth retrying (a re-sent chunk creates nothing twice)
RETRY_STATUSES = {409, 429, 500, 502, 503, 504}  # 409: concurrent registrations of the same ID documents
REQUEST_TIMEOUT = httpx.Timeout(300.0, connect=10.0)  # one chunk is many registrations


class ImportAborted(RuntimeError):
    """The import could not go on (service unreachable, credentials refused, no batch endpoint …).

    `result` holds what was known when it stopped; rows already registered stay registered, and
    importing the file again is safe.
    """

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = result


# --------------------------------------------------------------------------------------------
# reading


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():  # numbers typed into Excel: 13800138000.0
        value = int(value)
    if hasattr(value, "isoformat"):  # dates and datetimes: the date
        return str(value.isoformat())[:10]
    return str(value).strip()


def _numbered_xlsx(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.active
        if ws is None:
            return
        rows = ws.iter_rows(values_only=True)
        first = next(rows, None)
        if first is None:
            return
        header = [_cell(h) for h in first]
        for number, values in enumerate(rows, start=2):
            yield number, {h: _cell(v) for h, v in zip(header, values, strict=False) if h}
    finally:
        wb.close()


def _numbered_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        # csv.reader rather than DictReader: it yields blank lines too, so numbers stay the spreadsheet's.
        records = csv.reader(f)
        first = next(records, None)
        if first is None:
            return
        header = [h.strip() for h in first]
        for number, values in enumerate(records, start=2):
            yield number, {h: (v or "").strip() for h, v in zip(header, values, strict=False) if h}


def read_numbered_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(spreadsheet row number, row) for every non-blank row; the header is row 1, so data starts at 2."""
    source = _numbered_xlsx(path) if path.suffix.lower() in (".xlsx", ".xlsm") else _numbered_csv(path)
    return [(number, row) for number, row in source if any(row.values())]


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows as dicts of the header's column names (blank rows left out)."""
    return [row for _, row in read_numbered_rows(path)]


# --------------------------------------------------------------------------------------------
# validation


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
        payload["id_document"] = {
            "type": cells.get("id_type") or ("uscc" if kind == "corporate" else "resident_id"),
            "number": cells.get("id_number", ""),
        }
    if "risk_tolerance" in cells:
        payload["risk"] = {"tolerance": cells["risk_tolerance"], "assessed_on": cells.get("risk_assessed_on")}
    if "annual_income" in cells:
        payload["income"] = {"annual": cells["annual_income"]}
    payload.setdefault("channel", "bulk_import")
    return payload


@dataclass(slots=True)
class _Valid:
    row: int
    payload: dict[str, Any]


@dataclass
class _Tally:
    created: list[tuple[int, str]] = field(default_factory=list)
    existing: list[tuple[int, str]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, row: int, field_: str, problem: str) -> None:
        self.errors.append({"row": row, "field": field_ or "row", "problem": problem})


# --------------------------------------------------------------------------------------------
# sending


class _InFlight:
    """At most `limit` chunk tasks at a time; the first failure stops the rest."""

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    async def submit(self, work: Callable[[], Awaitable[None]]) -> None:
        await self._slots.acquire()
        if self._failure is not None:
            self._slots.release()
            raise self._failure
        task = asyncio.ensure_future(work())
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        if self._failure is not None:
            raise self._failure

    async def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return str(detail)[:300]


async def _post_batch(
    client: ProfileClient, api: str, as_: tuple[str, str, str | None], payloads: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The endpoint's results for one chunk; retries what is worth retrying, else ImportAborted."""
    problem = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            await asyncio.sleep(0.5 * 2 ** (attempt - 1))
        try:
            r = await client.request("POST", BATCH_PATH, json={"customers": payloads}, as_=as_, timeout=REQUEST_TIMEOUT)
        except httpx.TransportError as exc:
            problem = f"cannot reach the profile service at {api}: {exc!r}"
            continue
        if r.status_code == 200:
            results = r.json().get("results")
            if not isinstance(results, list):
                raise ImportAborted(f"POST {BATCH_PATH} answered 200 without a list of results: {r.text[:300]}")
            return results
        if r.status_code in RETRY_STATUSES:
            problem = f"POST {BATCH_PATH} answered {r.status_code}: {_detail(r)}"
            continue
        if r.status_code in (404, 405):
            raise ImportAborted(
                f"the profile service at {api} has no POST {BATCH_PATH} (HTTP {r.status_code}): "
                "it is older than this command; update it"
            )
        if r.status_code in (401, 403):
            raise ImportAborted(
                f"the profile service refused the import's credentials (HTTP {r.status_code}): {_detail(r)}"
            )
        raise ImportAborted(f"POST {BATCH_PATH} answered {r.status_code}: {_detail(r)}")
    raise ImportAborted(f"{problem} (gave up after {ATTEMPTS} attempts)")


def _chunks(rows: list[_Valid], size: int) -> Iterator[list[_Valid]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _summary(rows: int, tally: _Tally, started: float) -> dict[str, Any]:
    seconds = time.perf_counter() - started
    errors = sorted(tally.errors, key=lambda e: (e["row"], e["field"]))
    return {
        "rows": rows,
        "created": sorted(tally.created),
        "existing": sorted(tally.existing),
        "errors": errors,
        "rejected_rows": len({e["row"] for e in errors}),
        "seconds": seconds,
        "rows_per_second": rows / seconds if seconds > 0 else 0.0,
    }


async def import_file(
    *,
    path: Path,
    api: str,
    jwt_secret: str,
    staff_id: str,
    role: str,
    branch: str | None,
    concurrency: int = CONCURRENCY,
    chunk_size: int = CHUNK_SIZE,
    transport: Any = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Validate every row of `path` locally, register the valid ones in chunks through the batch endpoint.

    Returns rows, created [(row, id)], existing [(row, id)] (already registered, or a repeat of an earlier
    row of the file), errors [{row, field, problem}] (sorted), rejected_rows, seconds and rows_per_second.
    Raises ImportAborted when the service cannot take the import at all.
    """
    started = time.perf_counter()
    concurrency = max(1, concurrency)
    chunk_size = min(max(1, chunk_size), MAX_CHUNK_SIZE)
    numbered = read_numbered_rows(path)
    tally = _Tally()
    as_ = (staff_id, role, branch)
    client = ProfileClient(api, jwt_secret=jwt_secret, concurrency=concurrency, transport=transport)
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not show_progress,
    )
    in_flight = _InFlight(concurrency)
    try:
        with progress:
            task = progress.add_task(f"importing {path.name}", total=len(numbered), rate="")
            done = 0

            def advance(n: int) -> None:
                nonlocal done
                done += n
                elapsed = time.perf_counter() - started
                progress.update(task, completed=done, rate=f"{done / elapsed:,.0f} rows/s" if elapsed > 0 else "")

            async def send(chunk: list[_Valid]) -> None:
                results = await _post_batch(client, api, as_, [v.payload for v in chunk])
                by_index = {r.get("index"): r for r in results if isinstance(r, dict)}
                for i, v in enumerate(chunk):
                    res = by_index.get(i)
                    status = res.get("status") if res else None
                    if res is not None and status == "created" and res.get("id"):
                        tally.created.append((v.row, res["id"]))
                    elif res is not None and status == "exists" and res.get("id"):
                        tally.existing.append((v.row, res["id"]))
                    elif res is not None and status == "rejected":
                        reasons = res.get("errors") or [{"field": "row", "problem": "rejected by the service"}]
                        for e in reasons:
                            tally.reject(v.row, str(e.get("field") or "row"), str(e.get("problem") or "rejected"))
                    else:
                        tally.reject(v.row, "row", f"not imported: unexpected answer from the service: {res!r}"[:300])
                advance(len(chunk))

            # Validate here, row by row; send each full chunk of valid rows as soon as it is ready.
            # Later occurrences of an ID document wait for a later round.
            seen: dict[tuple[str, str], int] = {}  # ID document -> occurrences so far
            later_rounds: list[list[_Valid]] = []
            pending: list[_Valid] = []
            invalid = 0
            for number, row in numbered:
                try:
                    payload = to_payload(row)
                    model = VALIDATOR.validate_python(payload)
                except ValidationError as exc:
                    for problem in problems(exc):
                        tally.reject(number, problem["field"], problem["problem"])
                    invalid += 1
                    continue
                doc = model.id_document
                key = (doc.type, doc.number)
                occurrence = seen.get(key, 0)
                seen[key] = occurrence + 1
                if occurrence:
                    while len(later_rounds) < occurrence:
                        later_rounds.append([])
                    later_rounds[occurrence - 1].append(_Valid(number, payload))
                    continue
                pending.append(_Valid(number, payload))
                if len(pending) == chunk_size:
                    chunk, pending = pending, []
                    await in_flight.submit(partial(send, chunk))
                    advance(invalid)
                    invalid = 0
                    await asyncio.sleep(0)  # let the chunk go out while the next is validated
            advance(invalid)
            if pending:
                await in_flight.submit(partial(send, pending))
            await in_flight.drain()
            for round_rows in later_rounds:
                for chunk in _chunks(round_rows, chunk_size):
                    await in_flight.submit(partial(send, chunk))
                await in_flight.drain()
    except ImportAborted as exc:
        await in_flight.cancel()
        exc.result = _summary(len(numbered), tally, started)
        raise
    except BaseException:
        await in_flight.cancel()
        raise
    finally:
        await client.close()
    return _summary(len(numbered), tally, started)


# --------------------------------------------------------------------------------------------
# the command


def write_report(errors: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=["row", "field", "problem"])
        w.writeheader()
        w.writerows(errors)


def summary_table(result: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    for column in ("rows", "imported", "already present", "rejected", "seconds", "rows/s"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{result['rows']:,}",
        f"{len(result['created']):,}",
        f"{len(result['existing']):,}",
        f"{result['rejected_rows']:,}",
        f"{result['seconds']:.1f}",
        f"{result['rows_per_second']:,.0f}",
    )
    return table


async def import_command(
    *, file: Path, api: str, staff_id: str, role: str, branch: str | None, errors: Path | None
) -> int:
    secrets = load_dev_secrets(dev_dir() / "secrets.env")
    aborted: ImportAborted | None = None
    try:
        result = await import_file(
            path=file, api=api, jwt_secret=secrets["CRM_JWT_SECRET"], staff_id=staff_id, role=role, branch=branch
        )
    except ImportAborted as exc:
        aborted = exc
        result = exc.result or _summary(0, _Tally(), time.perf_counter())
    errors_path = errors or file.with_name(file.stem + ".errors.csv")
    if result["errors"]:
        write_report(result["errors"], errors_path)
    console.print(summary_table(result, f"import of {file.name}" + (" (stopped)" if aborted else "")))
    for e in result["errors"][:20]:
        console.print(f"  row {e['row']}: {e['field']}: {e['problem']}", markup=False, highlight=False)
    if len(result["errors"]) > 20:
        console.print(f"  … and {len(result['errors']) - 20:,} more")
    if result["errors"]:
        console.print(f"every rejected row is listed in {errors_path}")
    if aborted is not None:
        console.print(f"import stopped: {aborted}", style="red", markup=False, highlight=False)
        console.print("rows already imported stay imported; running the same import again is safe (no duplicates)")
        return 1
    return 2 if result["errors"] else 0
