"""The deadline clock: every open case is checked, pass after pass (a pass walks the open cases in id order, one
chunk per transaction, then waits SCHEDULER_INTERVAL_SECONDS) — deadline-approaching (default 3 days
before), sla-breached and a single escalation to the supervisor role on the first breach — and resolved cases the
customer has not answered for `confirm_within_days` after being told the decision (告知) are closed; a decision not
communicated yet keeps its case resolved, and its decision target open (warned and breached like any other). Each
chunk commits its cases, their events and the day's cursor together; the warned/breached/escalated marks live on the
case, so a scheduler killed and started again, or run twice, says nothing twice."""

from __future__ import annotations

from datetime import timedelta

from crm_complaints.adapters.repositories import ComplaintsRepositories
from crm_complaints.service.context import Complaints
from crm_kit.clock import local_day

KEY = "deadlines"


async def step(service: Complaints) -> bool:
    """One chunk of the current pass. True while the pass has more."""
    day = service.today()
    progress = await service.uow.reading().clock.get(KEY)
    cursor = progress.get("cursor", "")
    size = service.rt.settings.scheduler_chunk_size
    key = f"deadlines:{progress.get('passes', 0)}"

    async def to_visit() -> list[str]:
        return await service.uow.reading().complaints.watched_ids()

    ids = await service.work_lists.next_chunk(key, size=size, fetch=to_visit, after=cursor)
    last = service.work_lists.is_last(key, ids)

    async def check(repos: ComplaintsRepositories) -> int:
        policy, _ = await repos.policy.current()
        now = service.now()
        cases = await repos.complaints.watched_among(ids)
        changed = []
        for case in cases:
            if case.state == "resolved":
                # The customer's silence counts from the day they were told the decision; untold, it waits.
                told = case.decision_notice
                if told and local_day(told["at"]) + timedelta(days=policy.confirm_within_days) <= day:
                    if not (
                        case.resolution and case.resolution["needs_approval"] and not case.resolution["approved_by"]
                    ):
                        case.close(by="complaints", at=now, how="no_answer")
                elif not told:
                    case.check_deadlines(today=day, policy=policy, at=now)  # the decision is due told
            else:
                case.check_deadlines(today=day, policy=policy, at=now)
            if case.events:
                changed.append(case)
        await repos.complaints.save_many(changed)
        await repos.clock.record(
            KEY, cursor="" if last else ids[-1], at=now, finished_day=day.isoformat() if last else None
        )
        return len(cases)

    await service.uow.run(check)
    service.published()
    if last:
        service.work_lists.forget(key)
        return False
    service.work_lists.advance(key, ids[-1])
    return True
