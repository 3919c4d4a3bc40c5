"""The interaction history (沟通历史, BRIEF §4.5): every contact on every channel, shared by the team within
data scope. An outbound contact is checked against the contact rules when it is made."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from crm_contracts.engagement import InteractionLogged
from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.domain.customer import EngagedCustomer
from crm_engagement.domain.policy import EngagementPolicy
from crm_engagement.schemas import InteractionCreate
from crm_engagement.service import contacts, surveys
from crm_engagement.service.context import Engagement
from crm_engagement.service.scope import customer_in_scope
from crm_kit.auth import Principal
from crm_kit.clock import local_day, past_instant


def sampled(interaction_id: str, pct: int) -> bool:
    """A stable share of contacts (the same id always answers the same), so a retry samples alike."""
    return int(hashlib.sha256(interaction_id.encode()).hexdigest()[:8], 16) % 100 < pct


async def record(
    service: Engagement,
    repos: EngagementRepositories,
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
        "logged_at": service.now(),
        "task_id": task_id,
        "outcome": outcome,
        "notes": notes,
        "branch": customer.branch,
    }
    await repos.interactions.add(doc)
    await repos.outbox.add(
        [
            service.event(
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
            repos,
            survey_id=f"interaction:{iid}",
            customer_id=customer.customer_id,
            trigger="interaction_sample",
            complaint_id=None,
            now=service.now(),
            expires_on=local_day(occurred_at) + timedelta(days=policy.surveys.expires_days),
        )
    return view(doc)


def view(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k != "_id"}
    return {"id": doc["_id"], **out}


def when(service: Engagement, occurred_at: datetime | None) -> datetime:
    """When a contact being logged happened: given (not in the future, at most 30 days ago) or now."""
    return past_instant(
        occurred_at,
        now=service.now(),
        max_age=timedelta(days=30),
        field="occurred_at",
        what="contacts are logged when they happen",
    )


async def log_interaction(*, service: Engagement, principal: Principal, body: InteractionCreate) -> dict[str, Any]:
    at = when(service, body.occurred_at)

    async def work(repos: EngagementRepositories) -> tuple[dict[str, Any] | None, contacts.BlockedAttempt | None]:
        customer = await customer_in_scope(repos, principal, body.customer_id)
        policy, _ = await repos.policies.current()
        if body.direction == "outbound":
            blocked = await contacts.check(
                service,
                repos,
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
            service,
            repos,
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

    done, blocked = await service.uow.run(work)
    service.published()
    if blocked:
        raise blocked.error()
    assert done is not None
    return done


async def history(
    *, service: Engagement, principal: Principal, customer_id: str, limit: int, before: datetime | None
) -> list[dict[str, Any]]:
    repos = service.uow.reading()
    await customer_in_scope(repos, principal, customer_id)
    return [view(doc) for doc in await repos.interactions.history(customer_id, before=before, limit=limit)]
