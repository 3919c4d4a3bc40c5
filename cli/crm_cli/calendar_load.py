"""`crm calendar load FILE`: the State Council's holiday schedule into every service that counts working days.

The file is a notice in the shape of the State Council's (see crm_kit.calendar and deploy/README.md), a list of
notices, or the override file's shape (an object keyed by year). It is checked here first — the shape, and that
every statutory holiday is a rest day — and nothing is sent when it fails. Then each year goes to each service
(`PUT /v1/calendar/years/{year}`), which checks it again, stores it, audits and publishes it; every replica
applies it within CALENDAR_REFRESH_SECONDS, and the open cases' and tasks' provisional dates are recomputed.

Exit code 0 when every service took every year, 2 when the file is invalid (nothing sent), 1 when a service
refused a year or could not be reached."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from crm_kit.calendar import ScheduleInvalid, YearSchedule, parse_schedules, statute_problems

console = Console(stderr=True)


class FileInvalid(ValueError):
    pass


def read_schedule_file(path: Path) -> tuple[dict[int, YearSchedule], dict[int, Any]]:
    """The years the file describes, and for each the body to send. FileInvalid names the field and the problem."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise FileInvalid(f"{path}: cannot read it: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise FileInvalid(f"{path}: invalid JSON: {exc}") from exc
    try:
        schedules = parse_schedules(raw)
    except ScheduleInvalid as exc:
        raise FileInvalid(f"{path}: {exc.field}: {exc.problem}") from exc
    problems = [problem for schedule in schedules.values() for problem in statute_problems(schedule)]
    if problems:
        raise FileInvalid(f"{path}: not what the statute (全国年节及纪念日放假办法) requires: " + "; ".join(problems))
    if isinstance(raw, list):
        bodies = {item["year"]: item for item in raw}
    elif "year" in raw and "holidays" in raw:
        bodies = {raw["year"]: raw}
    else:
        bodies = {int(key): {key: spec} for key, spec in raw.items()}
    return schedules, bodies


async def push(
    bodies: Mapping[int, Any], clients: Mapping[str, httpx.AsyncClient], *, headers: Mapping[str, str]
) -> dict[tuple[str, int], tuple[int, Any]]:
    """Each year to each service: (service, year) -> (status, answer)."""
    results: dict[tuple[str, int], tuple[int, Any]] = {}
    for name, client in clients.items():
        for year, body in sorted(bodies.items()):
            try:
                response = await client.put(f"/v1/calendar/years/{year}", json=body, headers=dict(headers))
            except httpx.HTTPError as exc:
                results[(name, year)] = (0, f"cannot reach the service: {exc}")
                continue
            try:
                answer: Any = response.json()
            except ValueError:
                answer = response.text
            results[(name, year)] = (response.status_code, answer)
    return results


async def load_command(
    *, file: Path, apis: Mapping[str, str], token: str | None, staff_id: str, role: str, check_only: bool
) -> int:
    try:
        schedules, bodies = read_schedule_file(file)
    except FileInvalid as exc:
        console.print(f"[red]{exc}[/]", markup=True, highlight=False)
        return 2
    for year, schedule in sorted(schedules.items()):
        console.print(
            f"{year}: {len(schedule.holidays)} rest days, {len(schedule.workdays)} make-up working days"
            + (f" — {schedule.meta['notice']}" if schedule.meta.get("notice") else ""),
            markup=False,
        )
    if check_only:
        console.print("the file is valid; nothing sent (--check)")
        return 0
    if token is None:
        from crm_cli.devenv import dev_dir, load_dev_secrets
        from crm_kit.auth import issue_token

        secrets = load_dev_secrets(dev_dir() / "secrets.env")
        token = issue_token(
            secret=secrets["CRM_JWT_SECRET"], staff_id=staff_id, role=role, branch=None, ttl_seconds=600
        )
    headers = {"Authorization": f"Bearer {token}"}
    clients = {name: httpx.AsyncClient(base_url=url, timeout=30) for name, url in apis.items()}
    try:
        results = await push(bodies, clients, headers=headers)
    finally:
        for client in clients.values():
            await client.aclose()
    failed = False
    for (name, year), (status, answer) in sorted(results.items()):
        if status == 200:
            console.print(
                f"{name}: {year} {answer['change']} (was {answer['was']}); official through "
                f"{answer['official_through']}",
                markup=False,
            )
        else:
            failed = True
            detail = answer.get("detail", answer) if isinstance(answer, dict) else answer
            console.print(f"[red]{name}: {year} refused ({status or 'unreachable'}): {detail}[/]", highlight=False)
    return 1 if failed else 0
