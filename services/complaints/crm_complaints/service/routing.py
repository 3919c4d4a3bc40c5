"""Cases that complaints took in before it knew their customer catch up when the customer's events arrive.

- A complaint naming a customer id complaints has not heard of (topics are not ordered with each other, and a
  registration may reach complaints seconds after the counter took the complaint in) is accepted and kept with
  `routing: pending_customer`. When the profile's registration or tiering's events arrive, `catch_up` runs in the
  consumer's transaction: the case moves to the customer's branch (unless the intake named one or someone already
  took it on), gets a handler of that branch, and priority by tier.
- A tier learnt after intake that gives priority (key, vip) raises the priority of every open case of the customer.
- `unverified_step` (a leased job) flags the cases still waiting after the policy's wait (default 10 minutes)
  `customer_unverified` and publishes it; they are listed for manual routing (`GET /v1/complaints?
  customer_unverified=true`) and routed by hand with `POST /v1/complaints/{id}/route`. A registration arriving
  even later still routes a flagged case nobody has routed yet.

Everything is idempotent: a routed case no longer waits, a raised priority is not raised again, a flagged case is
not flagged again — a redelivered event or a second replica's pass changes nothing twice."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import structlog
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_complaints.adapters.store import complaint_from_doc
from crm_complaints.service import handlers
from crm_complaints.service.context import Complaints, save, save_many
from crm_complaints.service.policy import current
from crm_kit.calendar import CalendarYearUnknown

log = structlog.get_logger(__name__)
KEY = "unverified"


async def catch_up(cx: Complaints, session: AsyncClientSession, customer_ids: Iterable[str]) -> int:
    """Route the waiting cases and raise the priority of the open cases of these customers, from what complaints now
    knows of them (the `customers` collection, already updated in this transaction). The number of cases changed."""
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    docs = await cx.store.complaints.find(
        {"customer_id": {"$in": ids}, "open": True, "$or": [{"routing": "pending_customer"}, {"priority": False}]},
        {"description": 0, "complainant": 0}, session=session).sort("_id", 1).to_list()
    if not docs:
        return 0
    known = {d["_id"]: d for d in await cx.store.customers.find({"_id": {"$in": ids}}, session=session).to_list()}
    policy, _ = await current(cx, session)
    cal = cx.rt.calendar
    now, today = cx.now(), cx.today()
    changed = 0
    for doc in docs:
        c = complaint_from_doc(doc)
        customer = known.get(c.customer_id or "") or {}
        touched = False
        if c.waits_for_customer and customer.get("branch"):
            branch = customer["branch"] if c.takes_customer_branch() else c.branch
            handler = c.handler if branch == c.branch and c.handler else await handlers.route(
                cx, session, branch=branch, category=c.category)
            c.route(branch=branch, handler=handler, by="complaints", at=now, reason="customer_known")
            touched = True
        if customer.get("tier"):
            try:
                touched |= c.raise_priority(tier=customer["tier"], policy=policy, today=today, at=now,
                                            add_working_days=cal.add_working_days, next_workday=cal.next_workday)
            except CalendarYearUnknown:  # priority is raised; the targets stay as they were
                log.warning("complaint.priority_targets_kept", complaint_id=c.complaint_id)
                touched = True
        if touched:
            await save(cx, session, c)  # one by one: the next case's routing sees this one's load
            changed += 1
    return changed


async def unverified_step(cx: Complaints) -> bool:
    """Flag one chunk of the cases whose customer is still unknown after the policy's wait. True while more wait."""
    size = cx.rt.settings.scheduler_chunk_size

    async def txn(s: AsyncClientSession) -> int:
        policy, _ = await current(cx, s)
        now = cx.now()
        cutoff = now - timedelta(minutes=policy.unverified_customer_after_minutes)
        docs = await cx.store.complaints.find(
            {"routing": "pending_customer", "customer_unverified": False, "open": True,
             "pending_since": {"$lte": cutoff}}, {"description": 0, "complainant": 0}, session=s
        ).sort("pending_since", 1).limit(size).to_list()
        cases = [complaint_from_doc(d) for d in docs]
        for c in cases:
            c.flag_unverified(at=now)
        await save_many(cx, s, [c for c in cases if c.events])
        return len(docs)

    flagged = await cx.rt.mongo.transaction(txn)
    if flagged:
        cx.rt.outbox.notify()
    return flagged == size
