"""Giving customers to the right staff member (rules in crm_tiering.domain.staff)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_kit.logging import get_logger
import prometheus_client
from crm_tiering.adapters.store import staff_from_doc
from crm_tiering.domain.customer import TieredCustomer
from crm_tiering.domain.policy import Policy
from crm_tiering.domain.staff import StaffMember, least_loaded, needs_new_owner
from crm_tiering.service.context import Tiering

log = get_logger(__name__)
UNSTAFFED = prometheus_client.Counter("crm_tiering_unstaffed_total", "Customers who needed a new owner but the branch had no active staff in the role")


async def branch_staff(t: Tiering, session: AsyncClientSession | None, branches: Iterable[str | None]
                       ) -> tuple[list[StaffMember], Counter[str]]:
    """The branches' staff, and how many customers each owns (kept by crm_tiering.service.context.save)."""
    docs = await t.store.staff.find({"branch": {"$in": sorted({b for b in branches if b})}}, session=session).to_list()
    return [staff_from_doc(d) for d in docs], Counter({d["_id"]: d.get("owned", 0) for d in docs})


async def count_owned(t: Tiering, session: AsyncClientSession | None, staff_ids: Iterable[str]) -> Counter[str]:
    """Customers owned by each of these staff members (merged records not counted), counted afresh."""
    rows = await (await t.store.customers.aggregate([
        {"$match": {"owner": {"$in": sorted(set(staff_ids))}, "merged_into": None}},
        {"$group": {"_id": "$owner", "n": {"$sum": 1}}},
    ], session=session)).to_list()
    return Counter({r["_id"]: r["n"] for r in rows})


async def assign_owners(t: Tiering, session: AsyncClientSession, customers: list[TieredCustomer], *, policy: Policy,
                        at: datetime | None = None) -> None:
    """Customers who entered a tier in this unit of work go to a responsible owner when theirs is not one.
    Costs one round trip, and only when some customer entered a tier."""
    entered = [c for c in customers if c.tier_entered and c.tier and not c.merged_into]
    if not entered:
        return
    staff, load = await branch_staff(t, session, (c.branch for c in entered))
    by_id = {s.staff_id: s for s in staff}
    needing = [c for c in entered
               if needs_new_owner(by_id.get(c.owner or ""), branch=c.branch, roles=policy.rule(c.tier).responsible_roles)]  # type: ignore[union-attr]
    if not needing:
        return
    at = at or datetime.now(UTC)
    for c in sorted(needing, key=lambda c: c.customer_id):
        roles = policy.rule(c.tier).responsible_roles  # type: ignore[union-attr]
        pick = least_loaded(staff, load, branch=c.branch, roles=roles)
        if pick is None:
            UNSTAFFED.inc()
            log.warning("no active staff to own customer", customer_id=c.customer_id, branch=c.branch, tier=c.tier,
                        roles=list(roles))
            continue
        previous = c.owner
        if c.assign_owner(pick.staff_id, reason="tier_responsibility", by="tiering", at=at,
                          note=f"{c.tier} customers are owned by {', '.join(roles)}"):
            load[pick.staff_id] += 1
            if previous:
                load[previous] -= 1
