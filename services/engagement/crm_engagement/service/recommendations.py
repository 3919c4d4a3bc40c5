"""The product catalogue and recommendations under the suitability rule (适当性, BRIEF §4.7). Every attempt,
allowed or blocked, is kept with what was known when it was made — the customer's tolerance and assessment
date, the product's risk level, who, when and on which channel — so a sale can be traced back (可回溯)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from crm_contracts.engagement import RecommendationRecorded
from crm_engagement.adapters.repositories import EngagementRepositories
from crm_engagement.domain.suitability import suitable
from crm_engagement.schemas import ProductUpsert, RecommendationCreate
from crm_engagement.service import contacts, interactions
from crm_engagement.service.context import Engagement
from crm_engagement.service.scope import customer_in_scope
from crm_kit.auth import SUPERVISING, Principal
from crm_kit.clock import local_day
from crm_kit.errors import Conflict, Forbidden, NotFound


def _product(doc: dict[str, Any]) -> dict[str, Any]:
    return {"code": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


async def list_products(*, service: Engagement, risk_level: str | None, active: bool | None) -> list[dict[str, Any]]:
    products = await service.uow.reading().products.catalogue(risk_level=risk_level, active=active)
    return [_product(doc) for doc in products]


async def put_product(*, service: Engagement, principal: Principal, code: str, body: ProductUpsert) -> dict[str, Any]:
    now = datetime.now().astimezone()

    async def work(repos: EngagementRepositories) -> dict[str, Any]:
        doc = {
            "name": body.name,
            "type": body.type,
            "risk_level": body.risk_level,
            "active": body.active,
            "updated_at": now,
            "updated_by": principal.staff_id,
        }
        await repos.products.put(code, doc)
        await repos.audit.record(
            staff_id=principal.staff_id,
            role=principal.role.value,
            action="product.put",
            target=f"product-{code}",
            detail={"risk_level": body.risk_level, "active": body.active},
        )
        return {"_id": code, **doc}

    return _product(await service.uow.run(work))


def _rec_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


async def recommend(*, service: Engagement, principal: Principal, body: RecommendationCreate) -> dict[str, Any]:
    staff = body.staff_id or principal.staff_id
    if staff != principal.staff_id and principal.role not in SUPERVISING:
        raise Forbidden("staff_id: you may record only your own recommendations")
    now = service.now()

    async def work(repos: EngagementRepositories) -> tuple[dict[str, Any], contacts.BlockedAttempt | None]:
        customer = await customer_in_scope(repos, principal, body.customer_id)
        product = await repos.products.get(body.product_code)
        if product is None or not product.get("active", True):
            raise NotFound(f"product {body.product_code} not found (or no longer sold)")
        policy, _ = await repos.policies.current()
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
                service,
                repos,
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
        await repos.recommendations.add(doc)
        await repos.outbox.add(
            [
                service.event(
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
                service,
                repos,
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

    doc, _ = await service.uow.run(work)
    service.published()
    if not doc["allowed"]:
        raise Conflict(
            f"recommendation blocked by rule {doc['rule']}: {doc['reason']}",
            rule=doc["rule"],
            recommendation_id=doc["_id"],
        )
    return _rec_view(doc)


async def list_recommendations(
    *, service: Engagement, principal: Principal, customer_id: str, limit: int
) -> list[dict[str, Any]]:
    repos = service.uow.reading()
    await customer_in_scope(repos, principal, customer_id)
    return [_rec_view(doc) for doc in await repos.recommendations.latest(customer_id, limit)]
