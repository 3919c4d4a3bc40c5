"""HTTP routes: parse, call one application function, return."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status

from crm_contracts.tiering import LifecycleStage, TierName
from crm_kit.auth import AuditReader, PolicyEditor, Principal, Reader, Role, Writer, app_state, require_roles
from crm_tiering.domain.policy import StaffRole
from crm_tiering.schemas import (
    CustomerPage,
    OwnerChange,
    OwnerChanged,
    PolicyRead,
    PolicyUpdate,
    RolloutRead,
    StaffChanged,
    StaffRead,
    StaffUpsert,
    TierRead,
    ValueRead,
    WatchList,
)
from crm_tiering.service import audit, customers, policies, staff
from crm_tiering.service.context import Tiering

router = APIRouter(prefix="/v1")
CustomerId = Annotated[str, Path(min_length=1, max_length=40)]
StaffId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")]


Service = Annotated[Tiering, Depends(app_state("tiering"))]
# Who may hand a customer to another relationship manager (the branch's supervisors).
OwnerAssigner = Annotated[Principal, Depends(require_roles(Role.RM_SUPERVISOR, Role.BRANCH_MANAGER))]


@router.get("/policy", response_model=PolicyRead, tags=["policy"])
async def get_policy(service: Service, principal: Reader) -> dict[str, Any]:  # noqa: ARG001 - any staff may read the rules
    """The policy in force: tier bounds (lower bound inclusive), responsible roles, downgrade grace, basis (balance
    or 日均), churn, lifecycle, value and watch rules."""
    return await policies.read(service=service)


@router.put(
    "/policy",
    response_model=RolloutRead,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["policy"],
    responses={202: {"description": "new version stored; every customer is re-tiered in the background"}},
)
async def put_policy(service: Service, principal: PolicyEditor, body: PolicyUpdate) -> dict[str, Any]:
    """Store a new policy version (head office, admin) and start re-tiering every customer under it. Follow the
    rollout at `/v1/policy/rollouts/{id}`."""
    return await policies.publish_new(
        service=service, policy=body.policy, by=principal.staff_id, role=principal.role.value, note=body.note
    )


@router.get("/policy/rollouts/{rollout_id}", response_model=RolloutRead, tags=["policy"])
async def get_rollout(
    service: Service,
    principal: Reader,  # noqa: ARG001 - authorisation only
    rollout_id: Annotated[str, Path(max_length=40)],
) -> dict[str, Any]:
    return await policies.rollout(service=service, rollout_id=rollout_id)


@router.get("/customers", response_model=CustomerPage, tags=["customers"])
async def list_customers(
    service: Service,
    principal: Reader,
    tier: TierName | None = None,
    owner: str | None = Query(None, max_length=40),
    branch: str | None = Query(None, max_length=20),
    churn_risk: bool | None = None,
    stage: LifecycleStage | None = None,
    after: str | None = Query(None, max_length=40),
    limit: int = Query(100, ge=1, le=500),
) -> dict[str, Any]:
    """Customers in the caller's scope with tier, stage and churn reasons; filter e.g. `churn_risk=true`."""
    return await customers.list_customers(
        service=service,
        principal=principal,
        tier=tier,
        owner=owner,
        branch=branch,
        churn_risk=churn_risk,
        stage=stage,
        after=after,
        limit=limit,
    )


@router.get("/customers/{customer_id}/tier", response_model=TierRead, tags=["customers"])
async def get_tier(service: Service, principal: Reader, customer_id: CustomerId) -> dict[str, Any]:
    """Tier, since when, under which policy version, any pending downgrade, lifecycle, churn risk and history."""
    return await customers.tier(service=service, principal=principal, customer_id=customer_id)


@router.get("/customers/{customer_id}/value", response_model=ValueRead, tags=["customers"])
async def get_value(service: Service, principal: Reader, customer_id: CustomerId) -> dict[str, Any]:
    """Contribution (yearly margin per product type) and potential (trend, income band, age band), part by part."""
    return await customers.customer_value(service=service, principal=principal, customer_id=customer_id)


@router.post("/customers/{customer_id}/owner", response_model=OwnerChanged, tags=["customers"])
async def change_owner(
    service: Service, principal: OwnerAssigner, customer_id: CustomerId, body: OwnerChange
) -> dict[str, Any]:
    """Manual reassignment by an RM supervisor or branch manager, to an active staff member of the customer's branch."""
    return await staff.reassign(
        service=service, principal=principal, customer_id=customer_id, new_owner=body.owner, reason=body.reason
    )


@router.get("/watch", response_model=WatchList, tags=["reports"])
async def watch(
    service: Service, principal: Reader, owner: str | None = Query(None, max_length=40), date: date | None = None
) -> dict[str, Any]:  # the query parameter's name
    """The morning list: significant AUM changes of customers at or above the watch amount (200,000) on `date`
    (default: the latest day with changes), per owner; an RM sees their own."""
    return await customers.watch_list(service=service, principal=principal, owner=owner, on=date)


# The reports are plain dicts: declared as such so that money keeps its exact decimal string, as everywhere
# else in the API (without a response model FastAPI would turn Decimal into a float).
Report = dict[str, Any]


@router.get("/reports/concentration", response_model=Report, tags=["reports"])
async def concentration(service: Service, principal: Reader) -> dict[str, Any]:
    """Share of total AUM held by the top 20% of customers, overall and per branch, within the caller's scope."""
    return await customers.concentration(service=service, principal=principal)


@router.get("/reports/tiers", response_model=Report, tags=["reports"])
async def tiers(service: Service, principal: Reader) -> dict[str, Any]:
    """Customers and AUM per tier and branch, within the caller's scope."""
    return await customers.tier_distribution(service=service, principal=principal)


@router.get("/staff", response_model=list[StaffRead], tags=["staff"])
async def list_staff(
    service: Service,
    principal: Reader,
    branch: str | None = Query(None, max_length=20),
    role: StaffRole | None = None,
    active: bool | None = None,
) -> list[dict[str, Any]]:
    """Staff of the caller's branch (head office, auditors and admins: any branch) with how many customers each owns."""
    return await staff.list_staff(service=service, principal=principal, branch=branch, role=role, active=active)


@router.put("/staff/{staff_id}", response_model=StaffChanged, tags=["staff"])
async def put_staff(service: Service, principal: Writer, staff_id: StaffId, body: StaffUpsert) -> dict[str, Any]:
    """Create or replace a staff member (admin, head office; a branch manager for their branch). Setting `active`
    false (or moving them to another branch) hands their customers to colleagues at once."""
    return await staff.put_staff(service=service, principal=principal, staff_id=staff_id, data=body)


@router.get("/audit", tags=["audit"])
async def get_audit(
    service: Service,
    principal: AuditReader,  # noqa: ARG001 - authorisation only
    target: str | None = Query(None, max_length=60),
    staff_id: str | None = Query(None, max_length=40),
    limit: int = Query(200, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Who changed the policy, the staff directory or a customer's owner, newest first."""
    return await audit.read(service=service, target=target, staff_id=staff_id, limit=limit)
