"""Satisfaction surveys (满意度调查, BRIEF §4.8): opened after a closed complaint and after a sample of
outbound contacts; an answer (CSAT 1–5, NPS 0–10) is published for tiering's churn view and earns points."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from crm_contracts.engagement import SurveyAnswered
from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.schemas import SurveyResponse
from crm_engagement.service import points
from crm_engagement.service.context import Engagement
from crm_engagement.service.scope import customer_in_scope
from crm_kit.auth import Principal
from crm_kit.errors import Conflict, Forbidden, NotFound, must_exist


async def open_survey(
    repos: EngagementRepositories,
    *,
    survey_id: str,
    customer_id: str,
    trigger: str,
    complaint_id: str | None,
    now: datetime,
    expires_on: date,
) -> None:
    """Idempotent: the id is the reason (a complaint, an interaction)."""
    await repos.surveys.open(
        survey_id,
        {
            "customer_id": customer_id,
            "trigger": trigger,
            "complaint_id": complaint_id,
            "status": "open",
            "created_at": now,
            "expires_on": expires_on.isoformat(),
            "csat": None,
            "nps": None,
        },
    )


def view(doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


async def list_surveys(
    *, service: Engagement, principal: Principal, customer_id: str, status: str | None
) -> list[dict[str, Any]]:
    repos = service.uow.reading()
    await customer_in_scope(repos, principal, customer_id)
    return [view(doc) for doc in await repos.surveys.of_customer(customer_id, status)]


async def answer(*, service: Engagement, principal: Principal, survey_id: str, body: SurveyResponse) -> dict[str, Any]:
    now, today = service.now(), service.today()

    async def work(repos: EngagementRepositories) -> dict[str, Any]:
        doc = await repos.surveys.get(survey_id)
        if doc is None:
            raise NotFound(f"survey {survey_id} not found")
        customer = await customer_in_scope(repos, principal, doc["customer_id"])
        if customer.owner == principal.staff_id:
            raise Forbidden(
                "the customer's owner may not record the answer about their own service: the call centre, "
                "the branch or mobile banking records it"
            )
        if doc["status"] == "answered":
            raise Conflict(
                f"survey {survey_id} was already answered on {doc['answered_at']:%Y-%m-%d}", state="answered"
            )
        if doc["expires_on"] < today.isoformat():
            raise Conflict(f"survey {survey_id} expired on {doc['expires_on']}", state="expired")
        updated = await repos.surveys.record_answer(
            survey_id,
            {
                "status": "answered",
                "csat": body.csat,
                "nps": body.nps,
                "comment": body.comment,
                "answered_at": now,
                "recorded_by": principal.staff_id,
                "via": body.via,
            },
        )
        await repos.outbox.add(
            [
                service.event(
                    SurveyAnswered(
                        survey_id=survey_id,
                        customer_id=doc["customer_id"],
                        trigger=doc["trigger"],
                        complaint_id=doc.get("complaint_id"),
                        csat=body.csat,
                        nps=body.nps,
                        answered_at=now,
                    ),
                    customer_id=doc["customer_id"],
                )
            ],
        )
        policy, _ = await repos.policies.current()
        if policy.points.per_survey:
            await points.credit(
                service,
                repos,
                customer_id=doc["customer_id"],
                entry_id=f"{doc['customer_id']}:survey:{survey_id}",
                points=policy.points.per_survey,
                reason="survey",
                now=now,
            )
        # Read open in this transaction, so it is still open: must_exist only narrows the type.
        return view(must_exist(updated, f"survey {survey_id}"))

    result = await service.uow.run(work)
    service.published()
    return result
