"""Satisfaction surveys into the churn warning (BRIEF §4.8): a low answer is a reason for a while, a later
answer that is not low clears it. Of the engagement service's events only `SurveyAnswered` matters here;
every other type on the topic is skipped.

A redelivery is dropped by the inbox; were it applied again, the answer kept is the latest one (by
`answered_at`), so a repeat or an older answer arriving late changes nothing."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from crm_contracts.engagement import SurveyAnswered
from crm_contracts.envelope import CloudEvent
from crm_kit.messaging import Incoming, Rejection
from crm_tiering.adapters.repositories import TieringRepositories
from crm_tiering.domain.churn import SurveyAnswer
from crm_tiering.service.context import Tiering, save


def answer_of(data: SurveyAnswered) -> SurveyAnswer:
    at = data.answered_at if data.answered_at.tzinfo is not None else data.answered_at.replace(tzinfo=UTC)
    # Milliseconds, as the database keeps them: the answer read back compares equal to the one received.
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)
    return SurveyAnswer(
        survey_id=data.survey_id,
        answered_at=at,
        on=data.answered_at.date(),
        csat=data.csat,
        nps=data.nps,
        complaint_id=data.complaint_id,
    )


async def apply_engagement_events(
    *, service: Tiering, repos: TieringRepositories, items: list[Incoming[CloudEvent[Any] | None]]
) -> list[Rejection]:
    """One consumed batch, in the consumer's transaction."""
    relevant = [
        (i, i.payload.data) for i in items if i.payload is not None and isinstance(i.payload.data, SurveyAnswered)
    ]
    if not relevant:
        return []
    policy, _ = await repos.policies.current()
    loaded = await repos.customers.load({data.customer_id for _, data in relevant})
    for item, data in relevant:
        customer = loaded.customers.get(data.customer_id)
        if customer is None:
            # The answer may overtake the registration (another topic): keep it, the registration fills in
            # branch and owner when it arrives.
            customer = loaded.add_new(data.customer_id)
        if customer.survey_answered(answer_of(data), policy=policy):
            loaded.causes[customer.customer_id] = (item.message_id, item.correlation_id)
        # Not applied (older than the answer kept, without a score, a merged record): nothing is written, and
        # no record is made for a customer tiering does not know.
    await save(service, repos, loaded, only=set(loaded.causes))
    return []
