"""One data-scope object per kind of record: its database filter and its check on a record already read agree,
for every role, on records of every shape (the filter is evaluated here the way MongoDB would)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_complaints.service.cases import COMPLAINTS as CASES
from crm_engagement.service.scope import TASKS
from crm_kit.auth import Principal, Role
from crm_kit.scope import CUSTOMERS

STAFF = st.sampled_from(["S1", "S2", None])
BRANCHES = st.sampled_from(["BR1", "BR2", None])


def matches(query: dict[str, Any], record: dict[str, Any]) -> bool:
    """The subset of MongoDB's matching the scopes use: equality, $or, and the never-matching `_id` test."""
    for key, wanted in query.items():
        if key == "$or":
            if not any(matches(part, record) for part in wanted):
                return False
        elif (key == "_id" and wanted == {"$exists": False}) or record.get(key) != wanted:
            return False
    return True


@pytest.mark.parametrize("scope", [CUSTOMERS, TASKS, CASES], ids=["customers", "tasks", "complaints"])
@given(
    role=st.sampled_from(list(Role)),
    staff_id=st.sampled_from(["S1", "S2"]),
    branch=BRANCHES,
    record=st.fixed_dictionaries({"owner": STAFF, "assignee": STAFF, "received_by": STAFF, "branch": BRANCHES}),
)
def test_the_filter_and_the_check_agree(scope, role, staff_id, branch, record):
    principal = Principal(staff_id=staff_id, role=role, branch=branch)
    assert matches(scope.query(principal), record) == scope.allows(principal, record)


def test_who_sees_what():
    rm = Principal("S1", Role.RELATIONSHIP_MANAGER, "BR1")
    handler = Principal("H1", Role.COMPLAINT_HANDLER, "BR1")
    orphan_manager = Principal("M1", Role.BRANCH_MANAGER, None)
    assert TASKS.query(rm) == {"$or": [{"assignee": "S1"}, {"owner": "S1"}]}
    assert TASKS.allows(rm, {"assignee": "S1", "owner": "S9"}) and not TASKS.allows(rm, {"owner": "S9"})
    assert CASES.allows(handler, {"branch": "BR1"}) and not CUSTOMERS.allows(handler, {"branch": "BR1"})
    # A branch role whose token names no branch sees nothing, not the records without a branch.
    assert not CUSTOMERS.allows(orphan_manager, {"branch": None}) and CUSTOMERS.query(orphan_manager) == {
        "_id": {"$exists": False}
    }
