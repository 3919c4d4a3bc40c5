"""Who is responsible (责任人): a customer of a tier is owned by staff holding one of the tier's
responsible roles in the customer's branch. When a customer enters a tier and the owner is not such
a person (other role, inactive, other branch), the customer goes to the active member of the branch
with one of those roles who owns the fewest customers; equal loads go to the smallest staff id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


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


def least_loaded(candidates: Sequence[StaffMember], loads: Mapping[str, int], *, branch: str | None,
                 roles: Sequence[str], exclude: str | None = None) -> StaffMember | None:
    eligible = [s for s in candidates if s.may_own(branch=branch, roles=roles) and s.staff_id != exclude]
    if not eligible:
        return None
    return min(eligible, key=lambda s: (loads.get(s.staff_id, 0), s.staff_id))
