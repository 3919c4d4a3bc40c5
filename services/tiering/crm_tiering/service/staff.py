"""The staff directory (branches, staff, roles, active flag), manual reassignment, and handing a
deactivated staff member's customers to colleagues."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crm_kit.auth import ALL_SCOPE, Principal, Role
from crm_kit.errors import Forbidden, Invalid, NotFound
from crm_kit.scope import CUSTOMERS
from crm_tiering.adapters.repositories import TieringRepositories
from crm_tiering.domain.staff import choose_owner
from crm_tiering.schemas import StaffUpsert
from crm_tiering.service.assignment import Owners
from crm_tiering.service.context import Tiering, save

MANAGES_STAFF = frozenset({Role.ADMIN, Role.HEAD_OFFICE, Role.BRANCH_MANAGER})


async def list_staff(
    *, service: Tiering, principal: Principal, branch: str | None, role: str | None, active: bool | None
) -> list[dict[str, Any]]:
    every_branch = False
    if principal.role not in ALL_SCOPE:
        if branch and branch != principal.branch:
            return []
        branch = principal.branch
    elif not branch:
        every_branch = True
    return await service.uow.reading().staff.directory(
        branch=branch, every_branch=every_branch, role=role, active=active
    )


async def put_staff(*, service: Tiering, principal: Principal, staff_id: str, data: StaffUpsert) -> dict[str, Any]:
    """Create or replace a staff member. Deactivating one hands their customers to colleagues in the same call."""
    if principal.role not in MANAGES_STAFF:
        raise Forbidden(f"role {principal.role.value} may not change the staff directory")
    if principal.role is Role.BRANCH_MANAGER and data.branch != principal.branch:
        raise Forbidden("a branch manager manages the staff of their own branch")
    now = datetime.now(UTC)
    change = {"name": data.name, "branch": data.branch, "roles": sorted(set(data.roles)), "active": data.active}

    async def work(repos: TieringRepositories) -> dict[str, Any] | None:
        before = await repos.staff.upsert(staff_id, change, at=now, by=principal.staff_id)
        # Counted afresh when a member is written: the counter then moves with each assignment.
        owned = (await repos.customers.owned_counts([staff_id])).get(staff_id, 0)
        await repos.staff.set_owned(staff_id, owned)
        if before is None or any(before.get(k) != v for k, v in change.items()):
            await repos.audit.record(
                staff_id=principal.staff_id,
                role=principal.role.value,
                action="staff.changed",
                target=staff_id,
                detail=change,
            )
        return before

    before = await service.uow.run(work)
    moved: dict[str, int] = {"reassigned": 0, "unassigned": 0}
    leaving = not data.active or (before is not None and before.get("branch") != data.branch)
    if leaving:
        moved = await redistribute(service=service, staff_id=staff_id, by=principal.staff_id)
    if data.active:
        await hand_over_waiting(service=service, branch=data.branch)
    return {**await service.uow.reading().staff.view(staff_id), **moved}


async def redistribute(*, service: Tiering, staff_id: str, by: str, chunk: int = 500) -> dict[str, int]:
    """Each customer of a staff member who left (inactive, or moved branch) goes to the active colleague of the
    customer's branch holding one of the tier's responsible roles (for untiered customers, one of the leaver's
    roles) of the highest stable rank for that customer (crm_tiering.domain.staff.choose_owner): the leaver's
    customers spread over the rest, nobody else's move. Chunked transactions: a crash leaves the rest with the
    leaver, and running it again continues."""
    reassigned = unassigned = 0
    skip: list[str] = []
    while True:

        async def work(repos: TieringRepositories) -> tuple[int, int, list[str], bool]:
            leaver = await repos.staff.load(staff_id)
            ids = await repos.customers.owned_by(staff_id, skip=skip, limit=chunk)  # noqa: B023 - run in this iteration
            if not ids:
                return 0, 0, [], False
            policy, _ = await repos.policies.current()
            loaded = await repos.customers.load(ids)
            staff = await repos.staff.in_branches(customer.branch for customer in loaded.customers.values())
            done, stuck = 0, []
            now = datetime.now(UTC)
            for cid in ids:
                customer = loaded.customers[cid]
                rule = policy.rule(customer.tier)
                roles = rule.responsible_roles if rule else sorted(leaver.roles if leaver else [])
                choice = choose_owner(
                    staff, key=customer.choice_key, branch=customer.branch, roles=roles, exclude=staff_id
                )
                if choice is None:
                    stuck.append(cid)
                    customer.awaiting_owner = customer.tier is not None  # handed over when someone who may own it joins
                    continue
                customer.assign_owner(
                    choice.staff.staff_id,
                    reason="staff_deactivated",
                    by=by,
                    at=now,
                    note=f"{staff_id} no longer serves branch {customer.branch}; {choice.explain()}",
                )
                done += 1
            await save(service, repos, loaded)
            return done, len(stuck), stuck, len(ids) == chunk

        done, stuck_n, stuck, more = await service.uow.run(work)
        service.published()
        reassigned += done
        unassigned += stuck_n
        skip += stuck
        if not more:
            return {"reassigned": reassigned, "unassigned": unassigned}


async def hand_over_waiting(*, service: Tiering, branch: str, chunk: int = 500) -> int:
    """Customers of the branch who entered a tier while nobody there held its roles (the directory filled after
    the balances, a new branch, everyone away) go to the member who may now own them of the highest stable rank,
    as they would have on entering. Chunked transactions; those still without anyone suitable keep waiting."""
    handed = 0
    still: list[str] = []
    while True:

        async def work(repos: TieringRepositories) -> tuple[int, list[str], bool]:
            ids = await repos.customers.awaiting_owner(branch, skip=still, limit=chunk)  # noqa: B023 - run now
            if not ids:
                return 0, [], False
            policy, _ = await repos.policies.current()
            loaded = await repos.customers.load(ids)
            waiting = [loaded.customers[cid] for cid in ids]
            for customer in waiting:
                customer.tier_entered = True
            await Owners(repos, policy=policy, loaded=loaded).settle(waiting)
            await save(service, repos, loaded)
            waiting_still = [customer.customer_id for customer in waiting if customer.awaiting_owner]
            return len(ids) - len(waiting_still), waiting_still, len(ids) == chunk

        done, waiting_still, more = await service.uow.run(work)
        service.published()
        handed += done
        still += waiting_still
        if not more:
            return handed


async def reassign(
    *, service: Tiering, principal: Principal, customer_id: str, new_owner: str, reason: str
) -> dict[str, Any]:
    """Manual reassignment by an RM supervisor or branch manager, within their branch."""

    async def work(repos: TieringRepositories) -> dict[str, Any]:
        loaded = await repos.customers.load([customer_id])
        customer = loaded.customers.get(customer_id)
        if (
            customer is None
            or customer.merged_into
            or not CUSTOMERS.allows(principal, {"owner": customer.owner, "branch": customer.branch})
        ):
            raise NotFound(f"customer {customer_id} not found")
        target = await repos.staff.load(new_owner)
        if target is None or not target.active:
            raise Invalid(f"owner: {new_owner} is not an active staff member")
        if target.branch != customer.branch:
            raise Invalid(f"owner: {new_owner} works in branch {target.branch}, the customer in {customer.branch}")
        previous = customer.owner
        customer.assign_owner(new_owner, reason="manual", by=principal.staff_id, at=datetime.now(UTC), note=reason)
        await save(service, repos, loaded)
        await repos.audit.record(
            staff_id=principal.staff_id,
            role=principal.role.value,
            action="owner.reassigned",
            target=customer_id,
            detail={"from": previous, "to": new_owner, "reason": reason},
        )
        return {"customer_id": customer_id, "previous_owner": previous, "owner": new_owner}

    result = await service.uow.run(work)
    service.published()
    return result
