"""The staff directory (branches, staff, roles, active flag), manual reassignment, and handing a
deactivated staff member's customers to colleagues."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_kit.auth import ALL_SCOPE, Principal, Role
from crm_kit.errors import Forbidden, Invalid, NotFound
from crm_kit.scope import CUSTOMERS
from crm_tiering.adapters.store import staff_from_doc
from crm_tiering.domain.staff import choose_owner
from crm_tiering.schemas import StaffUpsert
from crm_tiering.service import policies
from crm_tiering.service.assignment import Owners, branch_staff, count_owned
from crm_tiering.service.context import Tiering, load, save

MANAGES_STAFF = frozenset({Role.ADMIN, Role.HEAD_OFFICE, Role.BRANCH_MANAGER})


def _view(doc: dict[str, Any], owned: int) -> dict[str, Any]:
    return {
        "staff_id": doc["_id"],
        "name": doc.get("name"),
        "branch": doc.get("branch"),
        "roles": doc.get("roles", []),
        "active": doc.get("active", True),
        "customers": owned,
        "updated_at": doc.get("updated_at"),
    }


async def list_staff(
    *, t: Tiering, principal: Principal, branch: str | None, role: str | None, active: bool | None
) -> list[dict[str, Any]]:
    query: dict[str, Any] = {}
    if principal.role not in ALL_SCOPE:
        if branch and branch != principal.branch:
            return []
        query["branch"] = principal.branch
    elif branch:
        query["branch"] = branch
    if role:
        query["roles"] = role
    if active is not None:
        query["active"] = active
    docs = await t.store.staff.find(query).sort("_id", ASCENDING).to_list()
    return [_view(d, d.get("owned", 0)) for d in docs]


async def put_staff(*, t: Tiering, principal: Principal, staff_id: str, data: StaffUpsert) -> dict[str, Any]:
    """Create or replace a staff member. Deactivating one hands their customers to colleagues in the same call."""
    if principal.role not in MANAGES_STAFF:
        raise Forbidden(f"role {principal.role.value} may not change the staff directory")
    if principal.role is Role.BRANCH_MANAGER and data.branch != principal.branch:
        raise Forbidden("a branch manager manages the staff of their own branch")
    now = datetime.now(UTC)
    change = {"name": data.name, "branch": data.branch, "roles": sorted(set(data.roles)), "active": data.active}

    async def txn(s: AsyncClientSession) -> dict[str, Any] | None:
        before = await t.store.staff.find_one_and_update(
            {"_id": staff_id},
            {"$set": {**change, "updated_at": now, "updated_by": principal.staff_id}},
            upsert=True,
            session=s,
        )
        # Counted afresh when a member is written: the counter then moves with each assignment.
        owned = (await count_owned(t, s, [staff_id])).get(staff_id, 0)
        await t.store.staff.update_one({"_id": staff_id}, {"$set": {"owned": owned}}, session=s)
        if before is None or any(before.get(k) != v for k, v in change.items()):
            await t.store.audit.record(
                s,
                staff_id=principal.staff_id,
                role=principal.role.value,
                action="staff.changed",
                target=staff_id,
                detail=change,
            )
        return before

    before = await t.rt.mongo.transaction(txn)
    moved: dict[str, int] = {"reassigned": 0, "unassigned": 0}
    leaving = not data.active or (before is not None and before.get("branch") != data.branch)
    if leaving:
        moved = await redistribute(t=t, staff_id=staff_id, by=principal.staff_id)
    if data.active:
        await hand_over_waiting(t=t, branch=data.branch)
    doc = await t.store.staff.find_one({"_id": staff_id}) or {}
    return {**_view(doc, doc.get("owned", 0)), **moved}


async def redistribute(*, t: Tiering, staff_id: str, by: str, chunk: int = 500) -> dict[str, int]:
    """Each customer of a staff member who left (inactive, or moved branch) goes to the active colleague of the
    customer's branch holding one of the tier's responsible roles (for untiered customers, one of the leaver's
    roles) of the highest stable rank for that customer (crm_tiering.domain.staff.choose_owner): the leaver's
    customers spread over the rest, nobody else's move. Chunked transactions: a crash leaves the rest with the
    leaver, and running it again continues."""
    reassigned = unassigned = 0
    skip: list[str] = []
    while True:

        async def txn(s: AsyncClientSession) -> tuple[int, int, list[str], bool]:
            leaver_doc = await t.store.staff.find_one({"_id": staff_id}, session=s)
            leaver = staff_from_doc(leaver_doc) if leaver_doc else None
            ids = [
                d["_id"]
                for d in await t.store.customers.find(
                    {"owner": staff_id, "merged_into": None, "_id": {"$nin": skip}},  # noqa: B023 - run in this iteration
                    {"_id": 1},
                    session=s,
                )
                .sort("_id", ASCENDING)
                .limit(chunk)
                .to_list()
            ]
            if not ids:
                return 0, 0, [], False
            policy, _ = await policies.current(t, s)
            loaded = await load(t, s, ids)
            staff = await branch_staff(t, s, (c.branch for c in loaded.customers.values()))
            done, stuck = 0, []
            now = datetime.now(UTC)
            for cid in ids:
                c = loaded.customers[cid]
                rule = policy.rule(c.tier)
                roles = rule.responsible_roles if rule else sorted(leaver.roles if leaver else [])
                choice = choose_owner(staff, key=c.choice_key, branch=c.branch, roles=roles, exclude=staff_id)
                if choice is None:
                    stuck.append(cid)
                    c.awaiting_owner = c.tier is not None  # handed over when someone who may own it joins
                    continue
                c.assign_owner(
                    choice.staff.staff_id,
                    reason="staff_deactivated",
                    by=by,
                    at=now,
                    note=f"{staff_id} no longer serves branch {c.branch}; {choice.explain()}",
                )
                done += 1
            await save(t, s, loaded)
            return done, len(stuck), stuck, len(ids) == chunk

        done, stuck_n, stuck, more = await t.rt.mongo.transaction(txn)
        t.rt.outbox.notify()
        reassigned += done
        unassigned += stuck_n
        skip += stuck
        if not more:
            return {"reassigned": reassigned, "unassigned": unassigned}


async def hand_over_waiting(*, t: Tiering, branch: str, chunk: int = 500) -> int:
    """Customers of the branch who entered a tier while nobody there held its roles (the directory filled after
    the balances, a new branch, everyone away) go to the member who may now own them of the highest stable rank,
    as they would have on entering. Chunked transactions; those still without anyone suitable keep waiting."""
    handed = 0
    still: list[str] = []
    while True:

        async def txn(s: AsyncClientSession) -> tuple[int, list[str], bool]:
            ids = [
                d["_id"]
                for d in await t.store.customers.find(
                    {"branch": branch, "awaiting_owner": True, "merged_into": None, "_id": {"$nin": still}},  # noqa: B023 - run now
                    {"_id": 1},
                    session=s,
                )
                .sort("_id", ASCENDING)
                .limit(chunk)
                .to_list()
            ]
            if not ids:
                return 0, [], False
            policy, _ = await policies.current(t, s)
            loaded = await load(t, s, ids)
            waiting = [loaded.customers[cid] for cid in ids]
            for c in waiting:
                c.tier_entered = True
            await Owners(t, s, policy=policy, loaded=loaded).settle(waiting)
            await save(t, s, loaded)
            waiting_still = [c.customer_id for c in waiting if c.awaiting_owner]
            return len(ids) - len(waiting_still), waiting_still, len(ids) == chunk

        done, waiting_still, more = await t.rt.mongo.transaction(txn)
        t.rt.outbox.notify()
        handed += done
        still += waiting_still
        if not more:
            return handed


async def reassign(
    *, t: Tiering, principal: Principal, customer_id: str, new_owner: str, reason: str
) -> dict[str, Any]:
    """Manual reassignment by an RM supervisor or branch manager, within their branch."""

    async def txn(s: AsyncClientSession) -> dict[str, Any]:
        loaded = await load(t, s, [customer_id])
        c = loaded.customers.get(customer_id)
        if c is None or c.merged_into or not CUSTOMERS.allows(principal, {"owner": c.owner, "branch": c.branch}):
            raise NotFound(f"customer {customer_id} not found")
        target = await t.store.staff.find_one({"_id": new_owner}, session=s)
        if target is None or not target.get("active", True):
            raise Invalid(f"owner: {new_owner} is not an active staff member")
        if target.get("branch") != c.branch:
            raise Invalid(f"owner: {new_owner} works in branch {target.get('branch')}, the customer in {c.branch}")
        previous = c.owner
        c.assign_owner(new_owner, reason="manual", by=principal.staff_id, at=datetime.now(UTC), note=reason)
        await save(t, s, loaded)
        await t.store.audit.record(
            s,
            staff_id=principal.staff_id,
            role=principal.role.value,
            action="owner.reassigned",
            target=customer_id,
            detail={"from": previous, "to": new_owner, "reason": reason},
        )
        return {"customer_id": customer_id, "previous_owner": previous, "owner": new_owner}

    result = await t.rt.mongo.transaction(txn)
    t.rt.outbox.notify()
    return result
