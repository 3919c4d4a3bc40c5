"""Satisfaction surveys into the churn warning (BRIEF §4.8): a low answer is a reason for a while, a later
answer that is not low clears it. Of the engagement service's events only `SurveyAnswered` matters here;
every other type on the topic is passed over.

A redelivery is dropped by the inbox; were it applied again, the answer kept is the latest one (by
`answered_at`), so a repeat or an older answer arriving late changes nothing. Engagement's events are not
numbered yet: they are not ordered by a sequence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from crm_contracts.engagement import SurveyAnswered
from crm_kit.event_handlers import EventHandlers, Message
from crm_kit.messaging import Rejection
from crm_tiering.adapters.repositories import Loaded, TieringRepositories
from crm_tiering.domain.churn import SurveyAnswer
from crm_tiering.domain.policy import Policy
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


@dataclass
class SurveyNews:
    """One batch of engagement's events: the customers answering, and the policy their warning follows."""

    policy: Policy
    loaded: Loaded


async def _survey_answered(news: SurveyNews, item: Message, data: SurveyAnswered) -> None:
    loaded = news.loaded
    # The answer may overtake the registration (another topic): keep it, the registration fills in branch and
    # owner when it arrives.
    customer = loaded.customers.get(data.customer_id) or loaded.add_new(data.customer_id)
    if customer.survey_answered(answer_of(data), policy=news.policy):
        loaded.causes[customer.customer_id] = (item.message_id, item.correlation_id)
    # Not applied (older than the answer kept, without a score, a merged record): nothing is written, and no
    # record is made for a customer tiering does not know.


ENGAGEMENT_EVENTS = EventHandlers[SurveyNews]().on(SurveyAnswered, _survey_answered)


async def apply_engagement_events(
    *, service: Tiering, repos: TieringRepositories, items: list[Message]
) -> list[Rejection]:
    """One consumed batch, in the consumer's transaction."""
    answers = [item for item in items if ENGAGEMENT_EVENTS.handles(item)]
    if not answers:
        return []
    policy, _ = await repos.policies.current()
    loaded = await repos.customers.load({item.payload.data.customer_id for item in answers if item.payload is not None})
    await ENGAGEMENT_EVENTS.apply(SurveyNews(policy=policy, loaded=loaded), answers)
    await save(service, repos, loaded, only=set(loaded.causes))
    return []
