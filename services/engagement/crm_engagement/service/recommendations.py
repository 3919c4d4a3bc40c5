"""The product catalogue and recommendations under the suitability rule (适当性, BRIEF §4.7). Every attempt,
allowed or blocked, is kept with what was known when it was made — the customer's tolerance and assessment
date, the product's risk level, who, when and on which channel — so a sale can be traced back (可回溯)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.engagement import RecommendationRecorded
from crm_engagement.domain.suitability import suitable
from crm_engagement.schemas import ProductUpsert, RecommendationCreate
from crm_engagement.service import contacts, interactions, policies
from crm_engagement.service.context import Engagement
from crm_engagement.service.scope import customer_in_scope
from crm_engagement.service.tasks import SUPERVISORS
from crm_kit.auth import Principal
from crm_kit.clock import local_day
from crm_kit.errors import Conflict, Forbidden, NotFound


def _product(doc: dict[str, Any]) -> dict[str, Any]:
    return {"code": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


async def list_products(*, e: Engagement, risk_level: str | None, active: bool | None) -> list[dict[str, Any]]:
    query = {k: v for k, v in (("risk_level", risk_level), ("active", active)) if v is not None}
    return [_product(d) for d in await e.store.products.find(query).sort("_id", 1).to_list()]


async def put_product(*, e: Engagement, principal: Principal, code: str, body: ProductUpsert) -> dict[str, Any]:
    now = datetime.now().astimezone()

    async def txn(s: AsyncClientSession) -> dict[str, Any]:
        doc = {
            "name": body.name,
            "type": body.type,
            "risk_level": body.risk_level,
            "active": body.active,
            "updated_at": now,
            "updated_by": principal.staff_id,
        }
        await e.store.products.update_one({"_id": code}, {"$set": doc}, upsert=True, session=s)
        await e.store.audit.record(
            s,
            staff_id=principal.staff_id,
            role=principal.role.value,
            action="product.put",
            target=f"product-{code}",
            detail={"risk_level": body.risk_level, "active": body.active},
        )
        return {"_id": code, **doc}

    return _product(await e.rt.mongo.transaction(txn))


def _rec_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


async def recommend(*, e: Engagement, principal: Principal, body: RecommendationCreate) -> dict[str, Any]:
    staff = body.staff_id or principal.staff_id
    if staff != principal.staff_id and principal.role not in SUPERVISORS:
        raise Forbidden("staff_id: you may record only your own recommendations")
    now = e.now()

    async def txn(s: AsyncClientSession) -> tuple[dict[str, Any], contacts.BlockedAttempt | None]:
        customer = await customer_in_scope(e, principal, body.customer_id, s)
        product = await e.store.products.find_one({"_id": body.product_code}, session=s)
        if product is None or not product.get("active", True):
            raise NotFound(f"product {body.product_code} not found (or no longer sold)")
        policy, _ = await policies.current(e, s)
        verdict = suitable(
            product_risk=product["risk_level"],
            tolerance=customer.risk_tolerance,
            professional=customer.professional_investor,
            assessed_on=customer.risk_assessed_on,
            today=local_day(now),
            valid_months=policy.suitability.assessment_valid_months,
        )
        allowed, reason, rule = verdict.allowed, verdict.reason, "suitability" if not verdict.allowed else None
        blocked = None
        if allowed:
            blocked = await contacts.check(
                e,
                s,
                customer=customer,
                channel=body.channel,
                purpose="marketing",
                at=now,
                policy=policy,
                staff_id=staff,
                context="recommendation",
            )
            if blocked:
                allowed, reason, rule = False, blocked.detail, blocked.rule
        rid = f"REC-{ObjectId()}"
        doc = {
            "_id": rid,
            "customer_id": customer.customer_id,
            "product_code": body.product_code,
            "product_name": product.get("name"),
            "product_risk": product["risk_level"],
            "customer_tolerance": customer.risk_tolerance,
            "professional_investor": customer.professional_investor,
            "assessed_on": customer.risk_assessed_on.isoformat() if customer.risk_assessed_on else None,
            "allowed": allowed,
            "rule": rule,
            "reason": reason,
            "staff_id": staff,
            "recorded_by": principal.staff_id,
            "channel": body.channel,
            "at": now,
            "branch": customer.branch,
            "note": body.note,
        }
        await e.store.recommendations.insert_one(doc, session=s)
        await e.rt.outbox.add(
            s,
            [
                e.event(
                    RecommendationRecorded(
                        recommendation_id=rid,
                        customer_id=customer.customer_id,
                        product_code=body.product_code,
                        product_risk=product["risk_level"],
                        customer_tolerance=customer.risk_tolerance,
                        professional_investor=customer.professional_investor,
                        assessed_on=customer.risk_assessed_on,
                        allowed=allowed,
                        reason=reason,
                        staff_id=staff,
                        channel=body.channel,
                        at=now,
                    ),
                    customer_id=customer.customer_id,
                )
            ],
        )
        if allowed:
            await interactions.record(
                e,
                s,
                customer=customer,
                channel=body.channel,
                purpose="marketing",
                direction="outbound",
                staff_id=staff,
                occurred_at=now,
                policy=policy,
                outcome=f"recommended {body.product_code}",
                notes=body.note,
            )
        return doc, blocked

    doc, _ = await e.rt.mongo.transaction(txn)
    e.rt.outbox.notify()
    if not doc["allowed"]:
        raise Conflict(
            f"recommendation blocked by rule {doc['rule']}: {doc['reason']}",
            rule=doc["rule"],
            recommendation_id=doc["_id"],
        )
    return _rec_view(doc)


async def list_recommendations(
    *, e: Engagement, principal: Principal, customer_id: str, limit: int
) -> list[dict[str, Any]]:
    await customer_in_scope(e, principal, customer_id)
    docs = await e.store.recommendations.find({"customer_id": customer_id}).sort("at", -1).limit(limit).to_list()
    return [_rec_view(d) for d in docs]
