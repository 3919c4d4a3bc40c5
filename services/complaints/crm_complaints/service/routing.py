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
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_complaints.adapters.store import complaint_from_doc
from crm_complaints.service import handlers
from crm_complaints.service.context import Complaints, save, save_many
from crm_complaints.service.policy import current
from crm_kit.calendar import CalendarYearUnknown

log = structlog.get_logger(__name__)
KEY = "unverified"
MERGE_DEPTH = 5
"""merges followed from a record to its survivor (a survivor merged again, and so on)"""


async def catch_up(cx: Complaints, session: AsyncClientSession, customer_ids: Iterable[str]) -> int:
    """Route the waiting cases and raise the priority of the open cases of these customers, from what complaints now
    knows of them (the `customers` collection, already updated in this transaction). The number of cases changed."""
    ids = set(customer_ids)
    if not ids:
        return 0
    known = await _with_merges(cx, session, ids)
    # A survivor's news reaches the cases of the records merged into it.
    ids |= {m for cid in list(ids) for m in (known.get(cid) or {}).get("merged_ids", [])}
    await _owners_of_merged(cx, session, ids, known)
    docs = (
        await cx.store.complaints.find(
            {
                "customer_id": {"$in": sorted(ids)},
                "open": True,
                "$or": [{"routing": "pending_customer"}, {"priority": False}],
            },
            {"description": 0, "complainant": 0},
            session=session,
        )
        .sort("_id", 1)
        .to_list()
    )
    if not docs:
        return 0
    policy, _ = await current(cx, session)
    cal = cx.rt.calendar
    now, today = cx.now(), cx.today()
    changed = 0
    for doc in docs:
        c = complaint_from_doc(doc)
        customer = effective(known, c.customer_id)
        touched = False
        if c.waits_for_customer and customer.get("branch"):
            branch = customer["branch"] if c.takes_customer_branch() else c.branch
            handler = (
                c.handler
                if branch == c.branch and c.handler
                else await handlers.route(cx, session, complaint_id=c.complaint_id, branch=branch, category=c.category)
            )
            c.route(branch=branch, handler=handler, by="complaints", at=now, reason="customer_known")
            touched = True
        if customer.get("tier"):
            try:
                touched |= c.raise_priority(
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
                log.warning("complaint.priority_targets_kept", complaint_id=c.complaint_id)
                touched = True
        if touched:
            await save(cx, session, c)
            if not doc.get("owner") and customer.get("owner"):  # scope, when the consumer did not fill it
                await cx.store.complaints.update_one(
                    {"_id": c.complaint_id}, {"$set": {"owner": customer["owner"]}}, session=session
                )
            changed += 1
    return changed


def effective(known: dict[str, dict[str, Any]], customer_id: str | None) -> dict[str, Any]:
    """What complaints knows of a customer: the survivor's record for one merged away (followed along a chain)."""
    doc = known.get(customer_id or "") or {}
    for _ in range(MERGE_DEPTH):
        survivor = doc.get("merged_into")
        if not survivor or survivor not in known:
            break
        doc = known[survivor]
    return doc


async def _with_merges(cx: Complaints, session: AsyncClientSession, ids: set[str]) -> dict[str, dict[str, Any]]:
    """The customers' records, with those they were merged into and those merged into them."""
    known: dict[str, dict[str, Any]] = {}
    wanted = set(ids)
    for _ in range(MERGE_DEPTH):
        wanted -= known.keys()
        if not wanted:
            break
        for doc in await cx.store.customers.find({"_id": {"$in": sorted(wanted)}}, session=session).to_list():
            known[doc["_id"]] = doc
        wanted = {d["merged_into"] for d in known.values() if d.get("merged_into")} | {
            m for d in known.values() for m in d.get("merged_ids", [])
        }
    return known


async def _owners_of_merged(
    cx: Complaints, session: AsyncClientSession, ids: set[str], known: dict[str, dict[str, Any]]
) -> None:
    """Complaints of a record merged away are in the scope of the survivor's owner."""
    for cid in sorted(ids):
        if not (known.get(cid) or {}).get("merged_into"):
            continue
        owner = effective(known, cid).get("owner")
        if owner:
            await cx.store.complaints.update_many(
                {"customer_id": cid, "owner": {"$ne": owner}}, {"$set": {"owner": owner}}, session=session
            )


async def unverified_step(cx: Complaints) -> bool:
    """Route the waiting cases whose customer became known without their noticing; flag one chunk of those whose
    customer is still unknown after the policy's wait. True while more wait to be flagged."""
    size = cx.rt.settings.scheduler_chunk_size

    async def txn(s: AsyncClientSession) -> int:
        policy, _ = await current(cx, s)
        now = cx.now()
        # An intake and the customer's registration committed at the same moment do not see each other: the case
        # waits for an event that has already been applied. Young waiting cases whose customer is known are routed
        # here (within ROUTING_INTERVAL_SECONDS), before anything is flagged.
        young = (
            await cx.store.complaints.find(
                {"routing": "pending_customer", "customer_unverified": False, "open": True},
                {"customer_id": 1},
                session=s,
            )
            .sort("pending_since", 1)
            .limit(size)
            .to_list()
        )
        ids = sorted({d["customer_id"] for d in young if d.get("customer_id")})
        if ids:
            known = await cx.store.customers.find(
                {"_id": {"$in": ids}, "branch": {"$ne": None}}, {"_id": 1}, session=s
            ).to_list()
            if known:
                await catch_up(cx, s, [d["_id"] for d in known])
        cutoff = now - timedelta(minutes=policy.unverified_customer_after_minutes)
        docs = (
            await cx.store.complaints.find(
                {
                    "routing": "pending_customer",
                    "customer_unverified": False,
                    "open": True,
                    "pending_since": {"$lte": cutoff},
                },
                {"description": 0, "complainant": 0},
                session=s,
            )
            .sort("pending_since", 1)
            .limit(size)
            .to_list()
        )
        cases = [complaint_from_doc(d) for d in docs]
        for c in cases:
            c.flag_unverified(at=now)
        await save_many(cx, s, [c for c in cases if c.events])
        return len(docs)

    flagged = await cx.rt.mongo.transaction(txn)
    if flagged:
        cx.rt.outbox.notify()
    return flagged == size
