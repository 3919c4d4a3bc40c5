"""Who owns a customer (责任人): the eligible staff member of the branch of the highest stable rank for the
customer (rendezvous hashing): a pure function of the customer and the eligible roster."""

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_kit.rendezvous import rank
from crm_tiering.domain.customer import TieredCustomer
from crm_tiering.domain.staff import StaffMember, choose_owner, needs_new_owner

RM = ["relationship_manager", "lobby_manager"]


def member(staff_id, branch="B1", *roles, active=True):
    return StaffMember(
        staff_id=staff_id, branch=branch, roles=frozenset(roles or {"relationship_manager"}), active=active
    )


def owner_of(customer_id, staff, **kw):
    choice = choose_owner(staff, key=customer_id, branch=kw.pop("branch", "B1"), roles=kw.pop("roles", RM), **kw)
    return choice.staff.staff_id if choice else None


def test_the_rule_is_pinned():
    # These owners follow from sha256 alone: a change here would move customers on the next tier entry.
    staff = [member("RM-1"), member("RM-2"), member("RM-3")]
    assert [owner_of(c, staff) for c in ("CUST-1", "CUST-2", "CUST-3", "CUST-4")] == ["RM-2", "RM-1", "RM-3", "RM-1"]


def test_the_highest_rank_wins_and_the_choice_explains_itself():
    staff = [member("S2"), member("S1"), member("S3", "B1", "lobby_manager")]
    choice = choose_owner(staff, key="C-7", branch="B1", roles=RM)
    assert choice.staff.staff_id == max(["S1", "S2", "S3"], key=lambda s: rank("C-7", s))
    assert choice.eligible == ("S1", "S2", "S3")
    assert choice.explain() == "chosen by stable rank of C-7 among 3 eligible: S1, S2, S3"


@pytest.mark.parametrize(
    "other",
    [
        member("S0", "B1", active=False),
        member("S0", "B2"),
        member("S0", None),
        member("S0", "B1", "high_counter_teller", "complaint_handler"),
    ],
)
def test_inactive_other_branch_and_wrong_role_staff_are_ignored(other):
    for cid in (f"C{i}" for i in range(50)):
        choice = choose_owner([other, member("S5")], key=cid, branch="B1", roles=RM)
        assert choice.staff.staff_id == "S5" and choice.eligible == ("S5",)


def test_no_eligible_staff_gives_none():
    assert choose_owner([member("S1", "B2")], key="C1", branch="B1", roles=RM) is None
    assert choose_owner([], key="C1", branch="B1", roles=RM) is None


def test_the_excluded_member_is_not_picked():
    staff = [member("S1"), member("S2")]
    assert {owner_of(f"C{i}", staff, exclude="S1") for i in range(30)} == {"S2"}
    assert owner_of("C1", [member("S1")], exclude="S1") is None


def test_a_customer_without_a_branch_goes_to_staff_without_a_branch():
    assert owner_of("C1", [member("S1", "B1"), member("HQ", None)], branch=None) == "HQ"


def test_a_member_joining_takes_only_customers_from_others_and_leaving_moves_only_their_own():
    before = [member(f"S{i}") for i in range(4)]
    after = [*before, member("S9")]
    customers = [f"C{i}" for i in range(400)]
    owners = {c: owner_of(c, before) for c in customers}
    joined = {c: owner_of(c, after) for c in customers}
    assert all(joined[c] in (owners[c], "S9") for c in customers)
    assert 0 < sum(joined[c] == "S9" for c in customers) < 160
    left = {c: owner_of(c, after, exclude="S0") for c in customers}
    assert all(left[c] == joined[c] for c in customers if joined[c] != "S0")
    assert len({left[c] for c in customers if joined[c] == "S0"}) > 1  # spread over the rest, not dumped on one


staff_ids = st.lists(st.from_regex(r"[A-Z]{1,3}-[0-9]{1,4}", fullmatch=True), min_size=1, max_size=8, unique=True)
customer_ids = st.lists(st.from_regex(r"CUST-[0-9a-f]{1,8}", fullmatch=True), min_size=1, max_size=60, unique=True)


@settings(max_examples=60, deadline=None)
@given(staff=staff_ids, customers=customer_ids, data=st.data())
def test_the_owners_are_the_same_whatever_order_customers_and_staff_arrive_in(staff, customers, data):
    roster = [member(s) for s in staff]
    first = {c: owner_of(c, roster) for c in customers}
    # Another run: customers in another order, the roster read in another order, someone ineligible present.
    order = data.draw(st.permutations(customers))
    shuffled = [*data.draw(st.permutations(roster)), member("ZZ-0", "B1", active=False), member("ZZ-1", "B2")]
    again = {}
    for c in order:
        again[c] = owner_of(c, shuffled)
    assert again == first


@settings(max_examples=20, deadline=None)
@given(staff=st.lists(st.from_regex(r"RM-[0-9]{1,5}", fullmatch=True), min_size=2, max_size=6, unique=True))
def test_customers_spread_roughly_evenly(staff):
    roster = [member(s) for s in staff]
    n = 3000
    counts = Counter(owner_of(f"CUST-{i:06d}", roster) for i in range(n))
    share = n / len(staff)
    # Binomial spread: within 6 standard deviations of the even share (never by chance, and far from a pile-up).
    sd = (n * (1 / len(staff)) * (1 - 1 / len(staff))) ** 0.5
    assert set(counts) == set(staff)
    assert all(abs(counts[s] - share) < 6 * sd for s in staff), counts


def test_needs_new_owner_when_the_owner_may_not_own_the_tier():
    assert needs_new_owner(None, branch="B1", roles=RM)
    assert not needs_new_owner(member("S1"), branch="B1", roles=RM)
    assert not needs_new_owner(member("S1", "B1", "lobby_manager", "high_counter_teller"), branch="B1", roles=RM)
    assert needs_new_owner(member("S1", active=False), branch="B1", roles=RM)
    assert needs_new_owner(member("S1", "B2"), branch="B1", roles=RM)
    assert needs_new_owner(member("S1", "B1", "high_counter_teller"), branch="B1", roles=RM)


def test_customers_are_ranked_by_the_core_banking_number_else_the_customer_id():
    # The CRM's id is minted afresh on each registration; the core banking number is the bank's, on every run.
    assert TieredCustomer(customer_id="C65f0a", core_customer_no="CB0000000042").choice_key == "CB0000000042"
    assert TieredCustomer(customer_id="C65f0a").choice_key == "C65f0a"
