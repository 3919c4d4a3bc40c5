"""Who owns a customer (责任人): least-loaded eligible staff of the branch, ties by staff id."""

import pytest

from crm_tiering.domain.staff import StaffMember, least_loaded, needs_new_owner

RM = ["relationship_manager", "lobby_manager"]


def member(staff_id, branch="B1", *roles, active=True):
    return StaffMember(staff_id=staff_id, branch=branch, roles=frozenset(roles or {"relationship_manager"}),
                       active=active)


def test_least_loaded_picks_the_fewest_customers():
    staff = [member("S1"), member("S2"), member("S3", "B1", "lobby_manager")]
    assert least_loaded(staff, {"S1": 5, "S2": 3, "S3": 4}, branch="B1", roles=RM).staff_id == "S2"


def test_staff_without_customers_count_as_zero():
    staff = [member("S1"), member("S2")]
    assert least_loaded(staff, {"S1": 1}, branch="B1", roles=RM).staff_id == "S2"


def test_equal_loads_go_to_the_smallest_staff_id():
    staff = [member("S9"), member("S10"), member("S2")]
    assert least_loaded(staff, {"S9": 1, "S10": 1, "S2": 2}, branch="B1", roles=RM).staff_id == "S10"
    assert least_loaded(list(reversed(staff)), {}, branch="B1", roles=RM).staff_id == "S10"


@pytest.mark.parametrize("other", [
    member("S0", "B1", active=False),
    member("S0", "B2"),
    member("S0", None),
    member("S0", "B1", "high_counter_teller", "complaint_handler"),
])
def test_inactive_other_branch_and_wrong_role_staff_are_ignored(other):
    staff = [other, member("S5")]
    assert least_loaded(staff, {"S0": 0, "S5": 100}, branch="B1", roles=RM).staff_id == "S5"


def test_no_eligible_staff_gives_none():
    assert least_loaded([member("S1", "B2")], {}, branch="B1", roles=RM) is None
    assert least_loaded([], {}, branch="B1", roles=RM) is None


def test_the_excluded_member_is_not_picked():
    staff = [member("S1"), member("S2")]
    assert least_loaded(staff, {"S2": 9}, branch="B1", roles=RM, exclude="S1").staff_id == "S2"
    assert least_loaded([member("S1")], {}, branch="B1", roles=RM, exclude="S1") is None


def test_a_customer_without_a_branch_goes_to_staff_without_a_branch():
    staff = [member("S1", "B1"), member("HQ", None)]
    assert least_loaded(staff, {}, branch=None, roles=RM).staff_id == "HQ"


def test_needs_new_owner_when_the_owner_may_not_own_the_tier():
    assert needs_new_owner(None, branch="B1", roles=RM)
    assert not needs_new_owner(member("S1"), branch="B1", roles=RM)
    assert not needs_new_owner(member("S1", "B1", "lobby_manager", "high_counter_teller"), branch="B1", roles=RM)
    assert needs_new_owner(member("S1", active=False), branch="B1", roles=RM)
    assert needs_new_owner(member("S1", "B2"), branch="B1", roles=RM)
    assert needs_new_owner(member("S1", "B1", "high_counter_teller"), branch="B1", roles=RM)
