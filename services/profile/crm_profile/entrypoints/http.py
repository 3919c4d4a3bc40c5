"""HTTP routes: parse, call one application function, return."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response, status

from crm_contracts.profile import ConsentChannel, SourceChannel
from crm_kit.auth import SUPERVISING, Principal, Reader, Role, Writer, app_state, require_roles
from crm_kit.http import bulk_request
from crm_profile.schemas import (
    BalanceBatch,
    BalanceResult,
    BatchResult,
    ConsentUpdate,
    Created,
    CustomerBatch,
    CustomerCreate,
    CustomerPage,
    CustomerRead,
    CustomerUpdate,
    MergeRequest,
    RelationshipCreate,
)
from crm_profile.service import balances, customers, registration
from crm_profile.service.context import Profile

router = APIRouter(prefix="/v1", tags=["customers"])
CustomerId = Annotated[str, Path(min_length=1, max_length=40)]


Service = Annotated[Profile, Depends(app_state("profile"))]


@router.post(
    "/customers",
    status_code=status.HTTP_201_CREATED,
    response_model=Created,
    responses={409: {"description": "ID document already registered; body names existing_id"}},
)
async def register(
    service: Service, principal: Writer, body: Annotated[CustomerCreate, Body()], response: Response
) -> Created:
    created = await registration.register_customer(service=service, principal=principal, data=body)
    response.headers["Location"] = f"/v1/customers/{created.id}"
    response.headers["ETag"] = customers.etag(created.version)
    return created


@router.post("/customers/batch", response_model=BatchResult)
@bulk_request
async def register_batch(service: Service, principal: Writer, body: CustomerBatch) -> dict[str, Any]:
    """Register up to 1,000 customers (imports). Each item is validated on its own: the answer says, in order,
    `created` (with id), `exists` (the ID document is already registered; its customer id) or `rejected` (errors).
    Sending the same batch again creates nothing new."""
    return await registration.register_batch(service=service, principal=principal, customers=body.customers)


@router.get("/customers", response_model=CustomerPage)
async def list_customers(
    service: Service,
    principal: Reader,
    branch: str | None = None,
    owner: str | None = None,
    tier: str | None = None,
    tag: str | None = None,
    phone: Annotated[str | None, Query(description="exact mobile number")] = None,
    include_merged: bool = False,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    items, next_cursor = await customers.list_customers(
        service=service,
        principal=principal,
        branch=branch,
        owner=owner,
        tier=tier,
        tag=tag,
        phone=phone,
        include_merged=include_merged,
        cursor=cursor,
        limit=limit,
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get("/customers/{customer_id}", response_model=CustomerRead)
async def get_customer(
    service: Service,
    principal: Reader,
    customer_id: CustomerId,
    response: Response,
    reveal: Annotated[bool, Query(description="full sensitive values; audited")] = False,
    purpose: Annotated[str | None, Query(max_length=200, description="why, required with reveal")] = None,
) -> dict[str, Any]:
    doc = await customers.get_customer(
        service=service, principal=principal, customer_id=customer_id, reveal=reveal, purpose=purpose
    )
    response.headers["ETag"] = customers.etag(doc["version"])
    return doc


@router.patch(
    "/customers/{customer_id}",
    response_model=CustomerRead,
    responses={412: {"description": "stale If-Match"}, 428: {"description": "If-Match missing"}},
)
async def update_customer(
    service: Service,
    principal: Writer,
    customer_id: CustomerId,
    body: CustomerUpdate,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    doc = await customers.update_customer(
        service=service, principal=principal, customer_id=customer_id, patch=body, if_match=if_match
    )
    response.headers["ETag"] = customers.etag(doc["version"])
    return doc


@router.get("/customers/{customer_id}/history")
async def history(service: Service, principal: Reader, customer_id: CustomerId) -> list[dict[str, Any]]:
    return await customers.customer_history(service=service, principal=principal, customer_id=customer_id)


@router.get("/customers/{customer_id}/balances")
async def balance_history(
    service: Service, principal: Reader, customer_id: CustomerId, limit: Annotated[int, Query(ge=1, le=1000)] = 400
) -> list[dict[str, Any]]:
    return await customers.balance_history(service=service, principal=principal, customer_id=customer_id, limit=limit)


@router.put("/customers/{customer_id}/consents/{channel}")
async def set_consent(
    service: Service, principal: Writer, customer_id: CustomerId, channel: ConsentChannel, body: ConsentUpdate
) -> dict[str, Any]:
    return await customers.set_consent(
        service=service, principal=principal, customer_id=customer_id, channel=channel, body=body
    )


@router.get("/customers/{customer_id}/relationships")
async def list_relationships(service: Service, principal: Reader, customer_id: CustomerId) -> list[dict[str, Any]]:
    return await customers.list_relationships(service=service, principal=principal, customer_id=customer_id)


@router.post("/customers/{customer_id}/relationships", status_code=status.HTTP_201_CREATED)
async def add_relationship(
    service: Service, principal: Writer, customer_id: CustomerId, body: RelationshipCreate
) -> dict[str, Any]:
    return await customers.add_relationship(service=service, principal=principal, customer_id=customer_id, body=body)


@router.delete("/customers/{customer_id}/relationships/{relationship_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_relationship(
    service: Service,
    principal: Writer,
    customer_id: CustomerId,
    relationship_id: str,
    channel: SourceChannel = "service_process",
) -> Response:
    await customers.remove_relationship(
        service=service, principal=principal, customer_id=customer_id, relationship_id=relationship_id, channel=channel
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/customers/{customer_id}/merge", response_model=CustomerRead)
async def merge(
    service: Service,
    customer_id: CustomerId,
    body: MergeRequest,
    principal: Annotated[Principal, Depends(require_roles(*SUPERVISING))],
) -> dict[str, Any]:
    return await customers.merge_customers(service=service, principal=principal, survivor_id=customer_id, body=body)


@router.post("/balances", response_model=BalanceResult, tags=["balances"])
@bulk_request
async def post_balances(
    service: Service,
    body: BalanceBatch,
    principal: Annotated[Principal, Depends(require_roles(Role.HEAD_OFFICE, Role.ADMIN))],  # noqa: ARG001 - authorisation only
) -> dict[str, Any]:
    return await balances.post_balances(service=service, snapshots=body.snapshots)


@router.get("/audit", tags=["audit"])
async def audit(
    service: Service,
    principal: Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.ADMIN))],  # noqa: ARG001 - authorisation only
    customer_id: str | None = None,
    staff_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    return await customers.audit_log(service=service, customer_id=customer_id, staff_id=staff_id, limit=limit)
