"""The working-day calendar in complaints: the days as channels show them, loading an official schedule, and the
job that recomputes the open cases' targets that rested on provisional days once the calendar changed.

The recompute job (leased: one replica at a time) takes the open cases whose targets are provisional and were
computed under another calendar revision, a chunk per transaction; each case whose targets moved is audited and
publishes `complaint.targets-changed`. A case recomputed while the year is still provisional just records the new
revision, so the job ends when every such case carries the calendar's revision."""

from __future__ import annotations

from crm_complaints.adapters.repositories import ComplaintsRepositories
from crm_complaints.service.context import Complaints

CHUNK = 200


async def recompute(service: Complaints, revision: str) -> bool:
    """One chunk of open cases with provisional targets computed under another revision. True while more remain."""
    cal = service.rt.calendar

    async def recompute_chunk(repos: ComplaintsRepositories) -> int:
        policy, _ = await repos.policy.current()
        cases = await repos.complaints.provisional_under_other_revision(revision, limit=CHUNK)
        now, today = service.now(), service.today()
        for case in cases:
            was = list(case.provisional_targets)
            moved = case.recompute_targets(
                policy,
                add_working_days=cal.add_working_days,
                next_workday=cal.next_workday,
                depends_on_provisional=cal.depends_on_provisional,
                calendar_revision=revision,
                at=now,
                today=today,
            )
            if case.events:
                await repos.audit.record(
                    staff_id="complaints",
                    role="system",
                    action="complaint.targets_recomputed",
                    target=case.complaint_id,
                    detail={
                        "moved": {k: v.isoformat() for k, v in moved.items()},
                        "provisional_before": was,
                        "provisional_now": case.provisional_targets,
                        "revision": revision,
                    },
                )
        await repos.complaints.save_many(cases)
        return len(cases)

    done = await service.uow.run(recompute_chunk)
    service.published()
    return done == CHUNK
