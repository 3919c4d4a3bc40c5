"""The interaction history (沟通历史, BRIEF §4.5): every contact on every channel, shared by the team within
data scope. An outbound contact is checked against the contact rules when it is made."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.engagement import InteractionLogged
from crm_engagement.domain.customer import EngagedCustomer
from crm_engagement.domain.policy import EngagementPolicy
from crm_engagement.schemas import InteractionCreate
from crm_engagement.service import contacts, policies, surveys
from crm_engagement.service.context import Engagement
from crm_engagement.service.scope import customer_in_scope
from crm_kit.auth import Principal
from crm_kit.clock import local_day, past_instant


def sampled(interaction_id: str, pct: int) -> bool:
    """A stable share of contacts (the same id always answers the same), so a retry samples alike."""
    return int(hashlib.sha256(interaction_id.encode()).hexdigest()[:8], 16) % 100 < pct


async def record(
    e: Engagement,
    session: AsyncClientSession,
    *,
    customer: EngagedCustomer,
    channel: str,
    purpose: str,
    direction: str,
    staff_id: str,
    occurred_at: datetime,
    policy: EngagementPolicy,
    task_id: str | None = None,
    outcome: str | None = None,
    notes: str | None = None,
    interaction_id: str | None = None,
) -> dict[str, Any]:
    """Store an interaction that was allowed (or inbound), publish it, and maybe open a survey after it."""
    iid = interaction_id or f"INT-{ObjectId()}"
    doc = {
        "_id": iid,
        "customer_id": customer.customer_id,
        "channel": channel,
        "purpose": purpose,
        "direction": direction,
        "staff_id": staff_id,
        "occurred_at": occurred_at,
        "logged_at": e.now(),
        "task_id": task_id,
        "outcome": outcome,
        "notes": notes,
        "branch": customer.branch,
    }
    await e.store.interactions.insert_one(doc, session=session)
    await e.rt.outbox.add(
        session,
        [
            e.event(
                InteractionLogged(
                    interaction_id=iid,
                    customer_id=customer.customer_id,
                    channel=channel,
                    purpose=purpose,
                    direction=direction,
                    staff_id=staff_id,
                    occurred_at=occurred_at,
                    task_id=task_id,
                    outcome=outcome,
                ),
                customer_id=customer.customer_id,
            )
        ],
    )
    if direction == "outbound" and sampled(iid, policy.surveys.interaction_sample_pct):
        await surveys.open_survey(
            e,
            session,
            survey_id=f"interaction:{iid}",
            customer_id=customer.customer_id,
            trigger="interaction_sample",
            complaint_id=None,
            now=e.now(),
            expires_on=local_day(occurred_at) + timedelta(days=policy.surveys.expires_days),
        )
    return view(doc)


def view(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k != "_id"}
    return {"id": doc["_id"], **out}


def _when(e: Engagement, occurred_at: datetime | None) -> datetime:
    return past_instant(
        occurred_at,
        now=e.now(),
        max_age=timedelta(days=30),
        field="occurred_at",
        what="contacts are logged when they happen",
    )


async def log_interaction(*, e: Engagement, principal: Principal, body: InteractionCreate) -> dict[str, Any]:
    at = _when(e, body.occurred_at)

    async def txn(s: AsyncClientSession) -> tuple[dict[str, Any] | None, contacts.BlockedAttempt | None]:
        customer = await customer_in_scope(e, principal, body.customer_id, s)
        policy, _ = await policies.current(e, s)
        if body.direction == "outbound":
            blocked = await contacts.check(
                e,
                s,
                customer=customer,
                channel=body.channel,
                purpose=body.purpose,
                at=at,
                policy=policy,
                staff_id=principal.staff_id,
                context="interaction",
            )
            if blocked:
                return None, blocked
        return await record(
            e,
            s,
            customer=customer,
            channel=body.channel,
            purpose=body.purpose,
            direction=body.direction,
            staff_id=principal.staff_id,
            occurred_at=at,
            policy=policy,
            outcome=body.outcome,
            notes=body.notes,
        ), None

    done, blocked = await e.rt.mongo.transaction(txn)
    e.rt.outbox.notify()
    if blocked:
        raise blocked.error()
    assert done is not None
    return done


async def history(
    *, e: Engagement, principal: Principal, customer_id: str, limit: int, before: datetime | None
) -> list[dict[str, Any]]:
    await customer_in_scope(e, principal, customer_id)
    query: dict[str, Any] = {"customer_id": customer_id}
    if before:
        query["occurred_at"] = {"$lt": before}
    docs = await e.store.interactions.find(query).sort("occurred_at", -1).limit(limit).to_list()
    return [view(d) for d in docs]
