"""The contact rules at the moment of contact: the customer's consents, their marketing contacts in the
caps' window, the local time and the public holidays. A blocked attempt is recorded (and published) in
the same transaction, before the caller answers 409 naming the rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.engagement import ContactBlocked, ContactChannel, Purpose
from crm_engagement.domain import contact
from crm_engagement.domain.customer import EngagedCustomer
from crm_engagement.domain.policy import EngagementPolicy
from crm_engagement.service.context import Engagement
from crm_kit.errors import Conflict


@dataclass
class BlockedAttempt:
    attempt_id: str
    rule: str
    detail: str

    def error(self, what: str = "contact") -> Conflict:
        return Conflict(
            f"{what} blocked by rule {self.rule}: {self.detail}", rule=self.rule, attempt_id=self.attempt_id
        )


async def marketing_contacts(
    e: Engagement, session: AsyncClientSession | None, customer_id: str, *, at: datetime, policy: EngagementPolicy
) -> list[datetime]:
    width = at - contact.window_start(at, policy.contact)  # the busiest window may lie on either side of `at`
    docs = await e.store.interactions.find(
        {
            "customer_id": customer_id,
            "purpose": "marketing",
            "direction": "outbound",
            "occurred_at": {"$gt": at - width, "$lt": at + width},
        },
        {"occurred_at": 1},
        session=session,
    ).to_list()
    return [d["occurred_at"] for d in docs]


async def check(
    e: Engagement,
    session: AsyncClientSession,
    *,
    customer: EngagedCustomer,
    channel: ContactChannel,
    purpose: Purpose,
    at: datetime,
    policy: EngagementPolicy,
    staff_id: str,
    context: str,
    task_id: str | None = None,
) -> BlockedAttempt | None:
    """None if the contact may be made now; otherwise the blocked attempt, already recorded."""
    recent: list[datetime] = []
    if purpose == "marketing":
        # Two marketing contacts checked at once would each count the other's absence (write skew): touching the
        # customer's document makes the second transaction conflict, retry and count the first.
        await e.store.customers.update_one({"_id": customer.customer_id}, {"$inc": {"contact_seq": 1}}, session=session)
        recent = await marketing_contacts(e, session, customer.customer_id, at=at, policy=policy)
    blocked = contact.check(
        channel=channel,
        purpose=purpose,
        at=at,
        consents=customer.consents,
        marketing_contacts=recent,
        rules=policy.contact,
        is_public_holiday=e.is_public_holiday,
        do_not_contact=customer.do_not_contact,
    )
    if blocked is None:
        return None
    return await record_blocked(
        e,
        session,
        customer_id=customer.customer_id,
        channel=channel,
        purpose=purpose,
        rule=blocked.rule,
        detail=blocked.detail,
        staff_id=staff_id,
        at=at,
        context=context,
        task_id=task_id,
        extra={"branch": customer.branch},
    )


async def record_blocked(
    e: Engagement,
    session: AsyncClientSession,
    *,
    customer_id: str,
    channel: str,
    purpose: str,
    rule: str,
    detail: str,
    staff_id: str,
    at: datetime,
    context: str,
    task_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> BlockedAttempt:
    attempt_id = f"ATT-{ObjectId()}"
    await e.store.attempts.insert_one(
        {
            "_id": attempt_id,
            "customer_id": customer_id,
            "channel": channel,
            "purpose": purpose,
            "rule": rule,
            "detail": detail,
            "staff_id": staff_id,
            "at": at,
            "recorded_at": e.now(),
            "context": context,
            "task_id": task_id,
            **(extra or {}),
        },
        session=session,
    )
    await e.rt.outbox.add(
        session,
        [
            e.event(
                ContactBlocked(
                    attempt_id=attempt_id,
                    customer_id=customer_id,
                    channel=channel,
                    purpose=purpose,
                    rule=rule,
                    detail=detail,
                    staff_id=staff_id,
                    at=at,
                    context=context,
                    task_id=task_id,
                ),
                customer_id=customer_id,
            )
        ],
    )
    return BlockedAttempt(attempt_id, rule, detail)
