"""Satisfaction surveys (满意度调查, BRIEF §4.8): opened after a closed complaint and after a sample of
outbound contacts; an answer (CSAT 1–5, NPS 0–10) is published for tiering's churn view and earns points."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.engagement import SurveyAnswered
from crm_engagement.schemas import SurveyResponse
from crm_engagement.service import points, policies
from crm_engagement.service.context import Engagement
from crm_engagement.service.scope import customer_in_scope
from crm_kit.auth import Principal
from crm_kit.errors import Conflict, Forbidden, NotFound


async def open_survey(
    e: Engagement,
    session: AsyncClientSession,
    *,
    survey_id: str,
    customer_id: str,
    trigger: str,
    complaint_id: str | None,
    now: datetime,
    expires_on: date,
) -> None:
    """Idempotent: the id is the reason (a complaint, an interaction)."""
    await e.store.surveys.update_one(
        {"_id": survey_id},
        {
            "$setOnInsert": {
                "customer_id": customer_id,
                "trigger": trigger,
                "complaint_id": complaint_id,
                "status": "open",
                "created_at": now,
                "expires_on": expires_on.isoformat(),
                "csat": None,
                "nps": None,
            }
        },
        upsert=True,
        session=session,
    )


def view(doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


async def list_surveys(
    *, e: Engagement, principal: Principal, customer_id: str, status: str | None
) -> list[dict[str, Any]]:
    await customer_in_scope(e, principal, customer_id)
    query: dict[str, Any] = {"customer_id": customer_id, **({"status": status} if status else {})}
    return [view(d) for d in await e.store.surveys.find(query).sort("created_at", -1).limit(200).to_list()]


async def answer(*, e: Engagement, principal: Principal, survey_id: str, body: SurveyResponse) -> dict[str, Any]:
    now, today = e.now(), e.today()

    async def txn(s: AsyncClientSession) -> dict[str, Any]:
        doc = await e.store.surveys.find_one({"_id": survey_id}, session=s)
        if doc is None:
            raise NotFound(f"survey {survey_id} not found")
        customer = await customer_in_scope(e, principal, doc["customer_id"], s)
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
        updated = await e.store.surveys.find_one_and_update(
            {"_id": survey_id, "status": "open"},
            {
                "$set": {
                    "status": "answered",
                    "csat": body.csat,
                    "nps": body.nps,
                    "comment": body.comment,
                    "answered_at": now,
                    "recorded_by": principal.staff_id,
                    "via": body.via,
                }
            },
            return_document=ReturnDocument.AFTER,
            session=s,
        )
        await e.rt.outbox.add(
            s,
            [
                e.event(
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
        policy, _ = await policies.current(e, s)
        if policy.points.per_survey:
            await points.credit(
                e,
                s,
                customer_id=doc["customer_id"],
                entry_id=f"{doc['customer_id']}:survey:{survey_id}",
                points=policy.points.per_survey,
                reason="survey",
                now=now,
            )
        return view(updated)  # type: ignore[arg-type]

    result = await e.rt.mongo.transaction(txn)
    e.rt.outbox.notify()
    return result
