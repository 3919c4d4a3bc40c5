"""Follow-up completion and workload (BRIEF §6.3), and the blocked contact attempts."""

from __future__ import annotations

from datetime import date
from typing import Any

from crm_engagement.domain.tasks import is_overdue
from crm_engagement.service.context import Engagement
from crm_engagement.service.scope import TASKS, customer_in_scope
from crm_kit.auth import ALL_SCOPE, BRANCH_SCOPE, Principal
from crm_kit.errors import Forbidden


async def follow_ups(*, e: Engagement, principal: Principal, branch: str | None) -> dict[str, Any]:
    day = e.today()
    today = day.isoformat()
    match: dict[str, Any] = dict(TASKS.query(principal))
    if branch:
        match = {"$and": [match, {"branch": branch}]}
    rows: dict[str, dict[str, int]] = {}
    async for d in e.store.tasks.find(match, {"assignee": 1, "status": 1, "due_on": 1, "on_time": 1}):
        r = rows.setdefault(
            d.get("assignee") or "(unassigned)", {"open": 0, "overdue": 0, "done": 0, "done_on_time": 0, "cancelled": 0}
        )
        if d["status"] == "open":
            r["open"] += 1
            r["overdue"] += is_overdue(status=d["status"], due_on=date.fromisoformat(d["due_on"]), today=day)
        elif d["status"] == "done":
            r["done"] += 1
            r["done_on_time"] += bool(d.get("on_time"))
        else:
            r["cancelled"] += 1
    staff: list[dict[str, Any]] = [
        {"staff_id": k, **v, "on_time_rate": round(v["done_on_time"] / v["done"], 3) if v["done"] else None}
        for k, v in sorted(rows.items())
    ]
    totals = {k: sum(s[k] for s in staff) for k in ("open", "overdue", "done", "done_on_time", "cancelled")}
    return {"as_of": today, "staff": staff, "totals": totals}


async def blocked_attempts(
    *, e: Engagement, principal: Principal, customer_id: str | None, rule: str | None, limit: int
) -> list[dict[str, Any]]:
    query: dict[str, Any] = {}
    if customer_id:
        await customer_in_scope(e, principal, customer_id)
        query["customer_id"] = customer_id
    elif principal.role in BRANCH_SCOPE:
        query["branch"] = principal.branch
    elif principal.role not in ALL_SCOPE:
        raise Forbidden("give customer_id: only supervisors, head office and auditors list attempts across customers")
    if rule:
        query["rule"] = rule
    docs = await e.store.attempts.find(query).sort("at", -1).limit(limit).to_list()
    return [{"id": d.pop("_id"), **d} for d in docs]
