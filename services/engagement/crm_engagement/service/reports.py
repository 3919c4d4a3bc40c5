"""Follow-up completion and workload (BRIEF §6.3), and the blocked contact attempts."""

from __future__ import annotations

from datetime import date
from typing import Any

from crm_engagement.domain.tasks import is_overdue
from crm_engagement.service.context import Engagement
from crm_engagement.service.scope import customer_in_scope
from crm_kit.auth import ALL_SCOPE, BRANCH_SCOPE, Principal
from crm_kit.errors import Forbidden


async def follow_ups(*, service: Engagement, principal: Principal, branch: str | None) -> dict[str, Any]:
    day = service.today()
    today = day.isoformat()
    rows: dict[str, dict[str, int]] = {}
    for task in await service.uow.reading().tasks.for_report(principal, branch):
        row = rows.setdefault(
            task.get("assignee") or "(unassigned)",
            {"open": 0, "overdue": 0, "done": 0, "done_on_time": 0, "cancelled": 0},
        )
        if task["status"] == "open":
            row["open"] += 1
            row["overdue"] += is_overdue(status=task["status"], due_on=date.fromisoformat(task["due_on"]), today=day)
        elif task["status"] == "done":
            row["done"] += 1
            row["done_on_time"] += bool(task.get("on_time"))
        else:
            row["cancelled"] += 1
    staff: list[dict[str, Any]] = [
        {"staff_id": k, **v, "on_time_rate": round(v["done_on_time"] / v["done"], 3) if v["done"] else None}
        for k, v in sorted(rows.items())
    ]
    totals = {k: sum(row[k] for row in staff) for k in ("open", "overdue", "done", "done_on_time", "cancelled")}
    return {"as_of": today, "staff": staff, "totals": totals}


async def blocked_attempts(
    *, service: Engagement, principal: Principal, customer_id: str | None, rule: str | None, limit: int
) -> list[dict[str, Any]]:
    repos = service.uow.reading()
    query: dict[str, Any] = {}
    if customer_id:
        await customer_in_scope(repos, principal, customer_id)
        query["customer_id"] = customer_id
    elif principal.role in BRANCH_SCOPE:
        query["branch"] = principal.branch
    elif principal.role not in ALL_SCOPE:
        raise Forbidden("give customer_id: only supervisors, head office and auditors list attempts across customers")
    if rule:
        query["rule"] = rule
    docs = await repos.attempts.latest(query, limit)
    return [{"id": doc.pop("_id"), **doc} for doc in docs]
