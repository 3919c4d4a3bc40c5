"""The standard process (BRIEF §5.2): which step may follow which, and the refusal that names the current state."""

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_complaints.domain.workflow import OPEN_STATES, TRANSITIONS, IllegalTransition, check
from crm_kit.errors import RuleBroken

STATES = ["received", "acknowledged", "assigned", "investigating", "escalated", "resolved", "closed", "reopened"]
HAPPY_PATH = ["received", "acknowledged", "assigned", "investigating", "resolved", "closed"]


def test_the_transition_table_knows_every_state_of_the_contract():
    from typing import get_args

    from crm_contracts.complaints import ComplaintState

    assert set(TRANSITIONS) == set(STATES) == set(get_args(ComplaintState))
    for targets in TRANSITIONS.values():
        assert targets <= set(STATES)


def test_open_states_are_the_states_before_resolution():
    assert {"received", "acknowledged", "assigned", "investigating", "escalated", "reopened"} == OPEN_STATES


@pytest.mark.parametrize("current,wanted", list(pairwise(HAPPY_PATH)))
def test_every_step_of_the_standard_process_is_legal(current, wanted):
    check(current, wanted)


@pytest.mark.parametrize("current", ["received", "acknowledged", "assigned", "investigating", "reopened"])
def test_a_case_may_be_escalated_from_each_open_step(current):
    check(current, "escalated")


@pytest.mark.parametrize("back_to", ["acknowledged", "assigned", "investigating", "resolved"])
def test_an_escalated_case_comes_back_to_the_handler(back_to):
    check("escalated", back_to)


def test_an_escalated_case_cannot_be_escalated_again_nor_closed_directly():
    for wanted in ("escalated", "closed", "received", "reopened"):
        with pytest.raises(IllegalTransition):
            check("escalated", wanted)


@pytest.mark.parametrize("current", ["resolved", "closed"])
def test_a_resolved_or_closed_case_may_be_reopened(current):
    check(current, "reopened")


@pytest.mark.parametrize("wanted", ["assigned", "investigating", "escalated"])
def test_a_reopened_case_goes_back_into_handling(wanted):
    check("reopened", wanted)


@pytest.mark.parametrize("current", ["received", "acknowledged", "assigned", "investigating", "escalated", "reopened"])
def test_an_open_case_cannot_be_reopened(current):
    with pytest.raises(IllegalTransition):
        check(current, "reopened")


@pytest.mark.parametrize(
    "current,wanted",
    [
        ("closed", "investigating"),
        ("received", "resolved"),
        ("received", "closed"),
        ("acknowledged", "investigating"),
        ("investigating", "closed"),
        ("resolved", "investigating"),
        ("closed", "resolved"),
        ("received", "received"),
        ("reopened", "resolved"),
        ("reopened", "closed"),
    ],
)
def test_illegal_transitions_are_refused_naming_the_current_state(current, wanted):
    with pytest.raises(IllegalTransition) as info:
        check(current, wanted)
    message = str(info.value)
    assert f"is {current}" in message and wanted in message
    assert info.value.current == current and info.value.wanted == wanted
    assert isinstance(info.value, RuleBroken) and info.value.kind == "conflict"  # 409, mapped once by the kit
    assert info.value.extra["state"] == current


def test_the_refusal_lists_what_the_current_state_may_become():
    with pytest.raises(IllegalTransition) as info:
        check("closed", "investigating")
    assert str(info.value) == (
        "a complaint that is closed cannot become investigating; from closed it may become reopened"
    )
    with pytest.raises(IllegalTransition) as info:
        check("received", "resolved")
    assert "may become acknowledged, escalated" in str(info.value)


def test_an_unknown_state_may_become_nothing():
    with pytest.raises(IllegalTransition) as info:
        check("lost", "closed")
    assert "is lost" in str(info.value) and "may become nothing" in str(info.value)


@given(st.sampled_from(STATES), st.sampled_from(STATES))
def test_check_agrees_with_the_transition_table(current, wanted):
    if wanted in TRANSITIONS[current]:
        check(current, wanted)
    else:
        with pytest.raises(IllegalTransition, match=f"is {current} "):
            check(current, wanted)
