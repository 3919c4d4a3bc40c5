"""Giving customers to the right staff member (rules in crm_tiering.domain.staff)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import prometheus_client

from crm_kit.logging import get_logger
from crm_tiering.adapters.repositories import Loaded, TieringRepositories
from crm_tiering.domain.customer import TieredCustomer
from crm_tiering.domain.policy import Policy
from crm_tiering.domain.staff import StaffMember, choose_owner, needs_new_owner

log = get_logger(__name__)
UNSTAFFED = prometheus_client.Counter(
    "crm_tiering_unstaffed_total", "Customers who needed a new owner but the branch had no active staff in the role"
)


class Owners:
    """Hands customers who entered a tier to a responsible owner, as often as a unit of work needs (a catch-up
    feed enters and leaves tiers several times in one batch, each day in its turn). The branches' staff are read
    once, on first need (with `loaded`, the unit of work's customers: the branches of all of them at once). The
    choice is by stable rank (crm_tiering.domain.staff.choose_owner): how the feed was batched or ordered, and
    who owns how many meanwhile, never changes it."""

    def __init__(
        self,
        repos: TieringRepositories,
        *,
        policy: Policy,
        loaded: Loaded | None = None,
        at: datetime | None = None,
    ) -> None:
        self.repos, self.policy, self.loaded, self.at = repos, policy, loaded, at
        self.last_at: datetime | None = None
        self.staff: list[StaffMember] = []
        self.branches: set[str] = set()

    async def _read(self, branches: Iterable[str | None]) -> None:
        missing = {b for b in branches if b} - self.branches
        if missing:
            self.staff += await self.repos.staff.in_branches(missing)
            self.branches |= missing

    async def settle(self, customers: Iterable[TieredCustomer]) -> None:
        """Customers who entered a tier since the last call go to a responsible owner when theirs is not one.
        Costs one round trip, and only the first time some customer entered a tier (per new branch)."""
        customers = list(customers)
        entered = [
            customer for customer in customers if customer.tier_entered and customer.tier and not customer.merged_into
        ]
        for customer in customers:
            if customer.tier_entered:
                customer.awaiting_owner = False  # set again below if still nobody may own it
            customer.tier_entered = False  # handled: a later entry in the same unit of work is a new one
        if not entered:
            return
        # The first time, every branch of the unit of work at once: one round trip for the whole batch.
        everyone = self.loaded.customers.values() if self.loaded is not None else ()
        await self._read([*(customer.branch for customer in entered), *(customer.branch for customer in everyone)])
        by_id = {member.staff_id: member for member in self.staff}
        needing = [
            customer
            for customer in entered
            if needs_new_owner(
                by_id.get(customer.owner or ""),
                branch=customer.branch,
                roles=self.policy.responsible_roles(customer.tier),
            )
        ]
        if not needing:
            return
        at = self.at or datetime.now(UTC)
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # as the profile stores it
        if self.last_at is not None and at <= self.last_at:
            # Each hand-over of the unit of work a later millisecond than the one before: the profile keeps the
            # latest by `assigned_at` (to the millisecond), and a catch-up feed hands a customer over several times.
            at = self.last_at + timedelta(milliseconds=1)
        self.last_at = at
        for customer in sorted(needing, key=lambda customer: customer.customer_id):
            roles = self.policy.responsible_roles(customer.tier)
            choice = choose_owner(self.staff, key=customer.choice_key, branch=customer.branch, roles=roles)
            if choice is None:
                customer.awaiting_owner = True  # caught up when someone who may own it joins the branch
                UNSTAFFED.inc()
                log.warning(
                    "no active staff to own customer",
                    customer_id=customer.customer_id,
                    branch=customer.branch,
                    tier=customer.tier,
                    roles=list(roles),
                )
                continue
            customer.assign_owner(
                choice.staff.staff_id,
                reason="tier_responsibility",
                by="tiering",
                at=at,
                note=f"{customer.tier} customers are owned by {', '.join(roles)}; {choice.explain()}",
            )


async def assign_owners(
    repos: TieringRepositories,
    customers: list[TieredCustomer],
    *,
    policy: Policy,
    at: datetime | None = None,
) -> None:
    """Customers who entered a tier in this unit of work go to a responsible owner when theirs is not one.
    Costs one round trip, and only when some customer entered a tier."""
    await Owners(repos, policy=policy, at=at).settle(customers)
