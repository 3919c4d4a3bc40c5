"""Satisfaction surveys into the churn warning (BRIEF §4.8): a low answer is a reason for a while, a later
answer that is not low clears it. Of the engagement service's events only `SurveyAnswered` matters here;
every other type on the topic is skipped.

A redelivery is dropped by the inbox; were it applied again, the answer kept is the latest one (by
`answered_at`), so a repeat or an older answer arriving late changes nothing."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.engagement import SurveyAnswered
from crm_contracts.envelope import CloudEvent
from crm_kit.messaging import BatchHandler, Incoming, Rejection
from crm_tiering.domain.churn import SurveyAnswer
from crm_tiering.service import policies
from crm_tiering.service.context import Tiering, load, save


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
    *, t: Tiering, session: AsyncClientSession, items: list[Incoming[CloudEvent[Any] | None]]
) -> list[Rejection]:
    relevant = [
        (i, i.payload.data) for i in items if i.payload is not None and isinstance(i.payload.data, SurveyAnswered)
    ]
    if not relevant:
        return []
    policy, _ = await policies.current(t, session)
    loaded = await load(t, session, {data.customer_id for _, data in relevant})
    for item, data in relevant:
        c = loaded.customers.get(data.customer_id)
        if c is None:
            # The answer may overtake the registration (another topic): keep it, the registration fills in
            # branch and owner when it arrives.
            c = loaded.add_new(data.customer_id)
        if c.survey_answered(answer_of(data), policy=policy):
            loaded.causes[c.customer_id] = (item.message_id, item.correlation_id)
        # Not applied (older than the answer kept, without a score, a merged record): nothing is written, and
        # no record is made for a customer tiering does not know.
    await save(t, session, loaded, only=set(loaded.causes))
    return []


def handler(t: Tiering) -> BatchHandler[CloudEvent[Any] | None]:
    async def handle(session: AsyncClientSession, items: list[Incoming[CloudEvent[Any] | None]]) -> list[Rejection]:
        return await apply_engagement_events(t=t, session=session, items=items)

    return handle
