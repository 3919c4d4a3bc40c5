"""Who is responsible (责任人): a customer of a tier is owned by staff holding one of the tier's
responsible roles in the customer's branch. When a customer enters a tier and the owner is not such
a person (other role, inactive, other branch), the customer goes to the eligible member of the branch
(active, with one of those roles) of the highest stable rank for that customer: rendezvous hashing,
sha256 of the customer's key (the core banking customer number, else the customer id) and the staff id
(crm_kit.rendezvous). The choice depends only on the customer and the eligible roster, never on who
owns how many at the moment or in what order the feed arrived, so two runs of the same events give the
same owners and an audit can recompute each one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from crm_kit.rendezvous import highest


@dataclass(frozen=True)
class StaffMember:
    staff_id: str
    branch: str | None
    roles: frozenset[str] = field(default_factory=frozenset)
    active: bool = True
    name: str | None = None

    def may_own(self, *, branch: str | None, roles: Sequence[str]) -> bool:
        return self.active and self.branch == branch and bool(self.roles & set(roles))


def needs_new_owner(owner: StaffMember | None, *, branch: str | None, roles: Sequence[str]) -> bool:
    return owner is None or not owner.may_own(branch=branch, roles=roles)


@dataclass(frozen=True)
class OwnerChoice:
    """The chosen member and the roster they were chosen from: enough for an audit to recompute the choice."""

    staff: StaffMember
    key: str
    eligible: tuple[str, ...]
    """the eligible staff ids, in staff id order"""

    def explain(self) -> str:
        return f"chosen by stable rank of {self.key} among {len(self.eligible)} eligible: {', '.join(self.eligible)}"


def choose_owner(
    candidates: Sequence[StaffMember], *, key: str, branch: str | None, roles: Sequence[str], exclude: str | None = None
) -> OwnerChoice | None:
    """The eligible member of the highest rank for the customer's `key` (TieredCustomer.choice_key; equal
    ranks, which sha256 all but never gives: the smallest staff id). A member joining takes customers only
    where they outrank the one chosen before; a member leaving spreads only their own customers over the
    rest, each to its next in rank. None when nobody is eligible."""
    eligible = sorted(
        {s.staff_id: s for s in candidates if s.may_own(branch=branch, roles=roles) and s.staff_id != exclude}.values(),
        key=lambda s: s.staff_id,
    )
    if not eligible:
        return None
    ids = tuple(s.staff_id for s in eligible)
    best = highest(key, ids)
    return OwnerChoice(staff=next(s for s in eligible if s.staff_id == best), key=key, eligible=ids)
