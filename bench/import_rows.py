"""How fast `crm import` registers customers: N rows through a real profile service, twice.

    python bench/import_rows.py --rows 100000          (make bench-import ROWS=100000)

Starts the embedded stack (Tansu + SecantusDB on free ports, data in a temporary directory) unless
KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI are both set (then a fresh database `bench_<tag>` and topic prefix
are used there and the database is dropped afterwards), and the profile service as its own process
(uvicorn, as `crm run` does). Writes a CSV of N rows in the importer's columns (demo data: valid resident
IDs and USCCs, unique core-banking numbers; about 1% deliberately invalid: a wrong ID check digit or a
malformed mobile), then imports it twice with `crm_cli.importer.import_file`. The second run must create
nothing: every valid row is already present, the same rows are rejected.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import random
import secrets
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from crm_cli.demo_data import make_branches, make_corporate, make_faker, make_individual, make_staff
from crm_cli.importer import CHUNK_SIZE, COLUMNS, CONCURRENCY, ImportAborted, import_file
from crm_cli.stack import EmbeddedKafka, EmbeddedMongo, ServiceProcess, StackError, free_port

console = Console()
STAFF = ("S-IMPORT", "admin", None)


# --------------------------------------------------------------------------------------------
# the data


def flat_row(customer: dict[str, Any]) -> dict[str, str]:
    """A demo customer (API shape) as a row of the importer's flat columns."""
    row = {
        "kind": customer["kind"],
        "name": customer["name"],
        "gender": customer.get("gender", ""),
        "birthday": customer.get("birthday", ""),
        "id_type": customer["id_document"]["type"],
        "id_number": customer["id_document"]["number"],
        "phones": ";".join(customer["phones"]),
        "email": customer.get("email", ""),
        "address": customer.get("address", ""),
        "branch": customer["branch"],
        "owner": customer["owner"],
        "core_customer_no": customer["core_customer_no"],
        "segment": customer.get("segment", ""),
        "tags": "bench;imported",
        "occupation": customer.get("occupation", ""),
        "education": customer.get("education", ""),
        "interests": ";".join(customer.get("interests", [])),
        "industry": customer.get("industry", ""),
        "annual_income": (customer.get("income") or {}).get("annual", ""),
    }
    return {c: row.get(c, "") for c in COLUMNS}


def _break_check_digit(number: str) -> str:
    last = number[-1]
    return number[:-1] + ("1" if last != "1" else "2")


def make_rows(n: int, *, seed: int = 20261124, invalid_every: int = 100) -> tuple[list[dict[str, str]], int]:
    """`n` rows with unique ID documents and core-banking numbers; every `invalid_every`-th row is broken
    (alternately a wrong ID check digit and a malformed mobile). Returns (rows, number of broken rows)."""
    rng, faker = random.Random(seed), make_faker(seed)
    today = date.today()
    branches = make_branches(3)
    staff = make_staff(branches, faker=faker)
    rms = {
        b["code"]: [s["staff_id"] for s in staff if s["branch"] == b["code"] and s["role"] == "relationship_manager"]
        for b in branches
    }
    seen_ids: set[str] = set()
    rows: list[dict[str, str]] = []
    broken = 0
    for i in range(n):
        branch = branches[i % len(branches)]
        owner = rng.choice(rms[branch["code"]])
        core_no = f"CB{i:010d}"  # unique by construction
        while True:  # random resident IDs collide now and then (birthday, 2-digit sequence): draw again
            if i % 8 == 7:
                customer = make_corporate(rng, faker, branch, owner, core_customer_no=core_no)
            else:
                customer = make_individual(rng, faker, branch, owner, today=today, core_customer_no=core_no)
            if customer["id_document"]["number"] not in seen_ids:
                seen_ids.add(customer["id_document"]["number"])
                break
        row = flat_row(customer)
        if invalid_every and i % invalid_every == invalid_every // 2:
            if broken % 2 == 0:
                row["id_number"] = _break_check_digit(row["id_number"])
            else:
                row["phones"] = "1380013"  # too short
            broken += 1
        rows.append(row)
    return rows, broken


def write_csv(rows: list[dict[str, str]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS))
        w.writeheader()
        w.writerows(rows)


# --------------------------------------------------------------------------------------------
# the stack


def start_stack(stack: ExitStack, workdir: Path) -> tuple[str, str, str, str]:
    """(kafka bootstrap, mongodb uri, database, description); embedded unless both variables are set."""
    tag = uuid.uuid4().hex[:8]
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("MONGODB_URI"):
        database = f"bench_{tag}"
        uri = os.environ["MONGODB_URI"]

        def drop() -> None:
            from pymongo import MongoClient

            client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=5000)
            try:
                client.drop_database(database)
            finally:
                client.close()

        stack.callback(drop)
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"], uri, database, f"from the environment (database {database})"
    console.print("starting the embedded Kafka (Tansu) and MongoDB (SecantusDB) …")
    kafka = EmbeddedKafka("127.0.0.1", free_port(), log_path=workdir / "kafka.log")
    stack.enter_context(kafka)
    mongo = EmbeddedMongo("127.0.0.1", free_port(), workdir / "mongo-data", log_path=workdir / "mongodb.log")
    stack.enter_context(mongo)
    return kafka.bootstrap, mongo.uri, "crm_profile", "embedded Tansu + SecantusDB"


def start_profile(
    stack: ExitStack, workdir: Path, kafka: str, mongo_uri: str, database: str
) -> tuple[ServiceProcess, str]:
    from crm_kit.crypto import new_key_b64

    jwt_secret = secrets.token_urlsafe(48)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "KAFKA_IDEMPOTENT_PRODUCER": os.environ.get("KAFKA_IDEMPOTENT_PRODUCER") or "false",
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "KAFKA_TOPIC_PREFIX": f"bench{uuid.uuid4().hex[:8]}.",
        "MONGODB_URI": mongo_uri,
        "MONGODB_DATABASE": database,
        "CRM_JWT_SECRET": jwt_secret,
        "CRM_DATA_KEY": new_key_b64(),
        "CRM_LOOKUP_KEY": new_key_b64(),
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "console",
    }
    profile = ServiceProcess(
        "profile", "crm_profile.main:create_app", "PROFILE_PORT", free_port(), env, log_path=workdir / "profile.log"
    )
    console.print(f"starting the profile service on {profile.base_url} …")
    stack.enter_context(profile)
    return profile, jwt_secret


# --------------------------------------------------------------------------------------------
# main


async def run_imports(
    file: Path, api: str, jwt_secret: str, *, runs: int, concurrency: int, chunk_size: int
) -> list[dict[str, Any]]:
    results = []
    for run in range(1, runs + 1):
        console.print(f"import run {run} …")
        results.append(
            await import_file(
                path=file,
                api=api,
                jwt_secret=jwt_secret,
                staff_id=STAFF[0],
                role=STAFF[1],
                branch=STAFF[2],
                concurrency=concurrency,
                chunk_size=chunk_size,
            )
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the generated file (default 100000)")
    parser.add_argument(
        "--concurrency", type=int, default=CONCURRENCY, help=f"chunks in flight (default {CONCURRENCY})"
    )
    parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help=f"rows per request (default {CHUNK_SIZE})")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (CSV, logs, data)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="crm-bench-import-"))
    with ExitStack() as stack:
        if not args.keep:
            import shutil

            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        t0 = time.perf_counter()
        rows, broken = make_rows(args.rows)
        file = workdir / "customers.csv"
        write_csv(rows, file)
        del rows
        console.print(
            f"generated {args.rows:,} rows ({broken:,} deliberately invalid) in "
            f"{time.perf_counter() - t0:.1f}s: {file} ({file.stat().st_size / 1e6:.1f} MB)"
        )
        try:
            kafka, mongo_uri, database, where = start_stack(stack, workdir)
            profile, jwt_secret = start_profile(stack, workdir, kafka, mongo_uri, database)
        except StackError as exc:
            console.print(str(exc), style="red", markup=False, highlight=False)
            return 1
        try:
            results = asyncio.run(
                run_imports(
                    file, profile.base_url, jwt_secret, runs=2, concurrency=args.concurrency, chunk_size=args.chunk_size
                )
            )
        except ImportAborted as exc:
            console.print(f"import stopped: {exc}", style="red", markup=False, highlight=False)
            console.print(profile.log_tail(), markup=False, highlight=False)
            return 1

    table = Table(title=f"crm import of {args.rows:,} rows (chunks of {args.chunk_size}, {args.concurrency} in flight)")
    for column in ("run", "rows", "created", "already present", "rejected", "seconds", "rows/s"):
        table.add_column(column, justify="right")
    for run, r in enumerate(results, start=1):
        table.add_row(
            str(run),
            f"{r['rows']:,}",
            f"{len(r['created']):,}",
            f"{len(r['existing']):,}",
            f"{r['rejected_rows']:,}",
            f"{r['seconds']:.1f}",
            f"{r['rows_per_second']:,.0f}",
        )
    console.print(table)
    console.print(
        f"machine: {os.cpu_count()} cores ({platform.machine()}, {platform.system()}), "
        f"Python {platform.python_version()} ({platform.python_implementation()}); stack: {where}; "
        "the CLI, the profile service and the database share the machine"
    )

    first, second = results
    problems = []
    if len(first["created"]) != args.rows - broken or first["rejected_rows"] != broken:
        problems.append(f"run 1 should create {args.rows - broken:,} and reject {broken:,}")
    if second["created"]:
        problems.append(f"run 2 created {len(second['created']):,} customers: the import is not idempotent")
    if second["errors"] != first["errors"] or len(second["existing"]) != args.rows - broken:
        problems.append("run 2 should find every valid row already present and reject the same rows")
    for p in problems:
        console.print(f"[red]{p}[/]")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
