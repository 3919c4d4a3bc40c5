"""Data scope (BRIEF §6.1): who may see a record. One object per kind of record gives both the database filter and
the check on a record already read, so a list and a single read can never disagree.

Head office, auditors and admins see every record; the branch roles see the records of their branch; everyone
else the records one of the record's personal fields names them in (the customer's owner; a task's assignee; the
staff member who took a complaint in). A branch role without a branch in its token sees nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crm_kit.auth import ALL_SCOPE, BRANCH_SCOPE, Principal, Role

NOTHING: dict[str, Any] = {"_id": {"$exists": False}}


@dataclass(frozen=True)
class DataScope:
    personal: tuple[str, ...] = ("owner",)
    """The fields naming the staff member a record is personally theirs (any one of them)."""
    branch_roles: frozenset[Role] = BRANCH_SCOPE
    """The roles that see their whole branch."""
    branch_field: str = "branch"

    def query(self, principal: Principal) -> dict[str, Any]:
        """The database filter: only the records `principal` may see."""
        if principal.role in ALL_SCOPE:
            return {}
        if principal.role in self.branch_roles:
            return {self.branch_field: principal.branch} if principal.branch is not None else dict(NOTHING)
        if len(self.personal) == 1:
            return {self.personal[0]: principal.staff_id}
        return {"$or": [{name: principal.staff_id} for name in self.personal]}

    def allows(self, principal: Principal, record: Mapping[str, Any]) -> bool:
        """The same rule on a record already read."""
        if principal.role in ALL_SCOPE:
            return True
        if principal.role in self.branch_roles:
            return principal.branch is not None and record.get(self.branch_field) == principal.branch
        return any(record.get(name) == principal.staff_id for name in self.personal)


CUSTOMERS = DataScope()
"""A customer: their owner (relationship manager), their branch's roles, head office."""
