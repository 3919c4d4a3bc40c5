"""Which handler a case goes to when nobody names one: the fitting handler of the highest stable rank for the case,
whatever order cases arrive in and however many each handler has open."""

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from crm_complaints.domain.roster import choose_handler
from crm_kit.rendezvous import rank


def test_only_handlers_who_take_the_category_fit():
    roster = {"S-CH1": ["cards"], "S-CH2": [], "S-CH3": ["fees", "queueing"]}
    for i in range(50):
        cid = f"CMP-{i}"
        assert choose_handler(roster, complaint_id=cid, category="cards") in ("S-CH1", "S-CH2")
        assert choose_handler(roster, complaint_id=cid, category="wealth") == "S-CH2"  # takes every category
    assert choose_handler({"S-CH1": ["cards"]}, complaint_id="CMP-1", category="fees") is None
    assert choose_handler({}, complaint_id="CMP-1", category="fees") is None


def test_the_highest_rank_for_the_case_wins():
    roster = {"S-CH1": None, "S-CH2": None, "S-CH3": None}
    for cid in (f"CMP-{i}" for i in range(50)):
        assert choose_handler(roster, complaint_id=cid, category="cards") == max(roster, key=lambda h: rank(cid, h))


def test_a_handler_joining_takes_no_case_from_the_others_it_does_not_outrank():
    before = {"S-CH1": None, "S-CH2": None}
    after = {**before, "S-CH9": None}
    cases = [f"CMP-{i}" for i in range(300)]
    moved = [
        c
        for c in cases
        if choose_handler(after, complaint_id=c, category="x") != choose_handler(before, complaint_id=c, category="x")
    ]
    assert moved and all(choose_handler(after, complaint_id=c, category="x") == "S-CH9" for c in moved)


@settings(max_examples=50, deadline=None)
@given(
    handlers=st.lists(st.from_regex(r"S-CH[0-9]{1,3}", fullmatch=True), min_size=1, max_size=6, unique=True),
    cases=st.lists(st.from_regex(r"CMP-[0-9a-f]{24}", fullmatch=True), min_size=1, max_size=40, unique=True),
    data=st.data(),
)
def test_the_same_cases_and_roster_give_the_same_handlers_in_any_order(handlers, cases, data):
    roster = {h: None for h in handlers}
    first = {c: choose_handler(roster, complaint_id=c, category="cards") for c in cases}
    shuffled = dict((h, None) for h in data.draw(st.permutations(handlers)))
    assert {
        c: choose_handler(shuffled, complaint_id=c, category="cards") for c in data.draw(st.permutations(cases))
    } == first


def test_cases_spread_roughly_evenly():
    roster = {f"S-CH{i}": None for i in range(4)}
    counts = Counter(choose_handler(roster, complaint_id=f"CMP-{i:024x}", category="cards") for i in range(2000))
    assert set(counts) == set(roster) and all(400 < n < 600 for n in counts.values()), counts
