"""The contact rules at the moment of contact: the customer's consents, their marketing contacts in the
caps' window, the local time and the public holidays. A blocked attempt is recorded (and published) in
the same transaction, before the caller answers 409 naming the rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from crm_contracts.engagement import ContactBlocked, ContactChannel, Purpose
from crm_engagement.adapters.repositories import EngagementRepositories
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
    repos: EngagementRepositories, customer_id: str, *, at: datetime, policy: EngagementPolicy
) -> list[datetime]:
    width = at - contact.window_start(at, policy.contact)  # the busiest window may lie on either side of `at`
    return await repos.interactions.marketing_times(customer_id, after=at - width, before=at + width)


async def check(
    service: Engagement,
    repos: EngagementRepositories,
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
        await repos.customers.mark_contact_checked(customer.customer_id)
        recent = await marketing_contacts(repos, customer.customer_id, at=at, policy=policy)
    blocked = contact.check(
        channel=channel,
        purpose=purpose,
        at=at,
        consents=customer.consents,
        marketing_contacts=recent,
        rules=policy.contact,
        is_public_holiday=service.is_public_holiday,
        do_not_contact=customer.do_not_contact,
    )
    if blocked is None:
        return None
    return await record_blocked(
        service,
        repos,
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
    service: Engagement,
    repos: EngagementRepositories,
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
    await repos.attempts.add(
        {
            "_id": attempt_id,
            "customer_id": customer_id,
            "channel": channel,
            "purpose": purpose,
            "rule": rule,
            "detail": detail,
            "staff_id": staff_id,
            "at": at,
            "recorded_at": service.now(),
            "context": context,
            "task_id": task_id,
            **(extra or {}),
        }
    )
    await repos.outbox.add(
        [
            service.event(
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
