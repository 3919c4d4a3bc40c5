"""Cases that complaints took in before it knew their customer catch up when the customer's events arrive.

- A complaint naming a customer id complaints has not heard of (topics are not ordered with each other, and a
  registration may reach complaints seconds after the counter took the complaint in) is accepted and kept with
  `routing: pending_customer`. When the profile's registration or tiering's events arrive, `catch_up` runs in the
  consumer's transaction: the case moves to the customer's branch (unless the intake named one or someone already
  took it on), gets a handler of that branch, and priority by tier.
- A tier learnt after intake that gives priority (key, vip) raises the priority of every open case of the customer.
- `unverified_step` (a leased job) first routes young waiting cases whose customer is already known (an intake and the
  registration committed at the same moment miss each other), then flags the cases still waiting after the policy's
  wait (default 10 minutes) `customer_unverified` and publishes it; they are listed for manual routing
  (`GET /v1/complaints?customer_unverified=true`) and routed by hand with `POST /v1/complaints/{id}/route`. A
  registration arriving even later still routes a flagged case nobody has routed yet.

A record merged away (the profile's CustomerMerged) follows its survivor: its open cases take the survivor's owner
(data scope) and tier (priority); a complaint taken in later under the merged-away id is filed under the survivor
(`named_customer_id` keeps the id given).

Everything is idempotent: a routed case no longer waits, a raised priority is not raised again, a flagged case is
not flagged again — a redelivered event or a second replica's pass changes nothing twice."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import structlog

from crm_complaints.adapters.repositories import ComplaintsRepositories
from crm_complaints.service import handlers
from crm_complaints.service.context import Complaints
from crm_kit.calendar import CalendarYearUnknown

log = structlog.get_logger(__name__)
KEY = "unverified"
MERGE_DEPTH = 5
"""merges followed from a record to its survivor (a survivor merged again, and so on)"""


async def catch_up(service: Complaints, repos: ComplaintsRepositories, customer_ids: Iterable[str]) -> int:
    """Route the waiting cases and raise the priority of the open cases of these customers, from what complaints now
    knows of them (the customers' records, already updated in this transaction). The number of cases changed."""
    ids = set(customer_ids)
    if not ids:
        return 0
    known = await _with_merges(repos, ids)
    # A survivor's news reaches the cases of the records merged into it.
    ids |= {merged for cid in list(ids) for merged in (known.get(cid) or {}).get("merged_ids", [])}
    await _owners_of_merged(repos, ids, known)
    waiting = await repos.complaints.open_to_catch_up(ids)
    if not waiting:
        return 0
    policy, _ = await repos.policy.current()
    cal = service.rt.calendar
    now, today = service.now(), service.today()
    changed = []
    owners: dict[str, str] = {}
    for case, owner in waiting:
        customer = effective(known, case.customer_id)
        touched = False
        if case.waits_for_customer and customer.get("branch"):
            branch = customer["branch"] if case.takes_customer_branch() else case.branch
            handler = (
                case.handler
                if branch == case.branch and case.handler
                else await handlers.route(repos, complaint_id=case.complaint_id, branch=branch, category=case.category)
            )
            case.route(branch=branch, handler=handler, by="complaints", at=now, reason="customer_known")
            touched = True
        if customer.get("tier"):
            try:
                touched |= case.raise_priority(
                    tier=customer["tier"],
                    policy=policy,
                    today=today,
                    at=now,
                    add_working_days=cal.add_working_days,
                    next_workday=cal.next_workday,
                    depends_on_provisional=cal.depends_on_provisional,
                    calendar_revision=cal.revision,
                )
            except CalendarYearUnknown:  # priority is raised; the targets stay as they were
                log.warning("complaint.priority_targets_kept", complaint_id=case.complaint_id)
                touched = True
        if touched:
            changed.append(case)
            if not owner and customer.get("owner"):  # scope, when the consumer did not fill it
                owners[case.complaint_id] = customer["owner"]
    await repos.complaints.save_many(changed)  # one write and one outbox insert for the batch's cases
    for complaint_id, owner in owners.items():
        await repos.complaints.set_owner(complaint_id, owner)
    return len(changed)


def effective(known: dict[str, dict[str, Any]], customer_id: str | None) -> dict[str, Any]:
    """What complaints knows of a customer: the survivor's record for one merged away (followed along a chain)."""
    record = known.get(customer_id or "") or {}
    for _ in range(MERGE_DEPTH):
        survivor = record.get("merged_into")
        if not survivor or survivor not in known:
            break
        record = known[survivor]
    return record


async def _with_merges(repos: ComplaintsRepositories, ids: set[str]) -> dict[str, dict[str, Any]]:
    """The customers' records, with those they were merged into and those merged into them."""
    known: dict[str, dict[str, Any]] = {}
    wanted = set(ids)
    for _ in range(MERGE_DEPTH):
        wanted -= known.keys()
        if not wanted:
            break
        for record in await repos.customers.get_many(wanted):
            known[record["_id"]] = record
        wanted = {r["merged_into"] for r in known.values() if r.get("merged_into")} | {
            merged for r in known.values() for merged in r.get("merged_ids", [])
        }
    return known


async def _owners_of_merged(repos: ComplaintsRepositories, ids: set[str], known: dict[str, dict[str, Any]]) -> None:
    """Complaints of a record merged away are in the scope of the survivor's owner."""
    for cid in sorted(ids):
        if not (known.get(cid) or {}).get("merged_into"):
            continue
        owner = effective(known, cid).get("owner")
        if owner:
            await repos.complaints.give_customer_cases_to(cid, owner)


async def unverified_step(service: Complaints) -> bool:
    """Route the waiting cases whose customer became known without their noticing; flag one chunk of those whose
    customer is still unknown after the policy's wait. True while more wait to be flagged."""
    size = service.rt.settings.scheduler_chunk_size

    async def flag(repos: ComplaintsRepositories) -> int:
        policy, _ = await repos.policy.current()
        now = service.now()
        # An intake and the customer's registration committed at the same moment do not see each other: the case
        # waits for an event that has already been applied. Young waiting cases whose customer is known are routed
        # here (within ROUTING_INTERVAL_SECONDS), before anything is flagged.
        ids = await repos.complaints.waiting_customer_ids(limit=size)
        if ids:
            known = await repos.customers.with_branch(ids)
            if known:
                await catch_up(service, repos, known)
        cutoff = now - timedelta(minutes=policy.unverified_customer_after_minutes)
        cases = await repos.complaints.waiting_since(cutoff, limit=size)
        for case in cases:
            case.flag_unverified(at=now)
        await repos.complaints.save_many([case for case in cases if case.events])
        return len(cases)

    flagged = await service.uow.run(flag)
    if flagged:
        service.published()
    return flagged == size
