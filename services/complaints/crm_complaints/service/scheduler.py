"""The deadline clock: every open case is checked, pass after pass (a pass walks the open cases in id order, one
chunk per transaction, then waits SCHEDULER_INTERVAL_SECONDS) — deadline-approaching (default 3 days
before), sla-breached and a single escalation to the supervisor role on the first breach — and resolved cases the
customer has not answered for `confirm_within_days` after being told the decision (告知) are closed; a decision not
communicated yet keeps its case resolved, and its decision target open (warned and breached like any other). Each
chunk commits its cases, their events and the day's cursor together; the warned/breached/escalated marks live on the
case, so a scheduler killed and started again, or run twice, says nothing twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_complaints.adapters.store import complaint_from_doc
from crm_complaints.service.context import Complaints, save_many
from crm_complaints.service.policy import current
from crm_kit.clock import local_day

KEY = "deadlines"


async def step(cx: Complaints) -> bool:
    """One chunk of the current pass. True while the pass has more."""
    day = cx.today()
    state = await cx.store.scheduler.find_one({"_id": KEY}) or {}
    cursor = state.get("cursor", "")
    size = cx.rt.settings.scheduler_chunk_size
    watched = {"$or": [{"open": True}, {"state": "resolved"}]}
    key = f"deadlines:{state.get('passes', 0)}"

    async def to_visit() -> list[str]:
        return [d["_id"] for d in await cx.store.complaints.find(watched, {"_id": 1}).to_list()]

    ids = await cx.work_lists.next_chunk(key, size=size, fetch=to_visit, after=cursor)
    last = cx.work_lists.is_last(key, ids)

    async def txn(s: AsyncClientSession) -> int:
        policy, _ = await current(cx, s)
        now = cx.now()
        # Read again by id: a case closed since the pass began is not watched any more.
        docs = (
            await cx.store.complaints.find({**watched, "_id": {"$in": ids}}, session=s).sort("_id", 1).to_list()
            if ids
            else []
        )
        changed = []
        for doc in docs:
            c = complaint_from_doc(doc, calendar=cx.rt.calendar)
            if c.state == "resolved":
                # The customer's silence counts from the day they were told the decision; untold, it waits.
                told = c.decision_notice
                if told and local_day(told["at"]) + timedelta(days=policy.confirm_within_days) <= day:
                    if not (c.resolution and c.resolution["needs_approval"] and not c.resolution["approved_by"]):
                        c.close(by="complaints", at=now, how="no_answer")
                elif not told:
                    c.check_deadlines(today=day, policy=policy, at=now)  # the decision is due told
            else:
                c.check_deadlines(today=day, policy=policy, at=now)
            if c.events:
                changed.append(c)
        await save_many(cx, s, changed)
        update: dict[str, Any] = {"$set": {"cursor": "" if last else ids[-1], "updated_at": now}}
        if last:
            update["$inc"] = {"passes": 1}
            update["$set"]["last_pass_day"] = day.isoformat()
        await cx.store.scheduler.update_one({"_id": KEY}, update, upsert=True, session=s)
        return len(docs)

    await cx.rt.mongo.transaction(txn)
    cx.rt.outbox.notify()
    if last:
        cx.work_lists.forget(key)
        return False
    cx.work_lists.advance(key, ids[-1])
    return True
