"""The complaints policy: the defaults of BRIEF §5 and the validation that keeps a bank's edit consistent."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from crm_complaints.domain.policy import DEFAULT_POLICY, ComplaintsPolicy, Regulator, Targets


def test_regulator_defaults_follow_the_2020_measures():
    r = DEFAULT_POLICY.regulator
    assert (r.decision_days, r.extended_days, r.maximum_days) == (15, 30, 60)


def test_internal_target_defaults():
    assert (DEFAULT_POLICY.targets.acknowledge, DEFAULT_POLICY.targets.first_contact) == (1, 2)
    assert (DEFAULT_POLICY.priority_targets.acknowledge, DEFAULT_POLICY.priority_targets.first_contact) == (0, 1)
    assert DEFAULT_POLICY.priority_tiers == ["key", "vip"]


def test_other_defaults():
    p = DEFAULT_POLICY
    assert p.warn_days_before == 3
    assert p.compensation_approval_above == Decimal("1000.00")
    assert p.confirm_within_days == 7
    assert p.repeat_window_days == 90
    assert "other" in p.categories and "wealth_mis_selling" in p.categories
    assert ComplaintsPolicy() == DEFAULT_POLICY


@pytest.mark.parametrize(
    "decision,extended,maximum", [(15, 30, 60), (15, 15, 15), (10, 20, 60), (5, 10, 20), (1, 1, 1)]
)
def test_ordered_regulator_clocks_are_accepted(decision, extended, maximum):
    r = Regulator(decision_days=decision, extended_days=extended, maximum_days=maximum)
    assert (r.decision_days, r.extended_days, r.maximum_days) == (decision, extended, maximum)


@pytest.mark.parametrize("decision,extended,maximum", [(15, 10, 60), (10, 30, 20), (15, 30, 20), (10, 5, 60)])
def test_unordered_regulator_clocks_are_refused(decision, extended, maximum):
    with pytest.raises(ValidationError, match="decision_days <= extended_days <= maximum_days"):
        Regulator(decision_days=decision, extended_days=extended, maximum_days=maximum)


@pytest.mark.parametrize("field,value", [("decision_days", 16), ("extended_days", 31), ("maximum_days", 61)])
def test_the_regulators_days_are_maxima(field, value):
    """The regulation's 15/30/60 days are maxima: a bank may set shorter ones, never longer."""
    days = {"decision_days": 15, "extended_days": 30, "maximum_days": 60, field: value}
    with pytest.raises(ValidationError, match="less than or equal to") as info:
        Regulator(**days)
    assert info.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize("decision,extended,maximum", [(31, 30, 60), (15, 50, 40), (20, 10, 60), (10, 20, 90)])
def test_clocks_beyond_the_regulators_maxima_are_refused(decision, extended, maximum):
    with pytest.raises(ValidationError, match="less than or equal to"):
        Regulator(decision_days=decision, extended_days=extended, maximum_days=maximum)


def test_the_regulators_maxima_themselves_are_accepted():
    assert Regulator(decision_days=15, extended_days=30, maximum_days=60) == DEFAULT_POLICY.regulator


def test_unordered_clock_inside_a_policy_is_refused():
    with pytest.raises(ValidationError, match="decision_days <= extended_days <= maximum_days"):
        ComplaintsPolicy.model_validate({"regulator": {"decision_days": 15, "extended_days": 10}})


def test_a_clock_beyond_the_maxima_inside_a_policy_is_refused():
    with pytest.raises(ValidationError, match="less than or equal to 15"):
        ComplaintsPolicy.model_validate({"regulator": {"decision_days": 45}})


@pytest.mark.parametrize(
    "model,data",
    [
        (ComplaintsPolicy, {"warn_days": 3}),
        (Regulator, {"decision_days": 15, "appeal_days": 10}),
        (Targets, {"acknowledge": 1, "resolve": 5}),
        (ComplaintsPolicy, {"targets": {"acknowledge": 1, "first_contact": 2, "callback": 3}}),
    ],
)
def test_extra_fields_are_forbidden(model, data):
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate(data)


@pytest.mark.parametrize(
    "data",
    [
        {"categories": []},
        {"targets": {"acknowledge": -1}},
        {"targets": {"first_contact": 31}},
        {"warn_days_before": -1},
        {"compensation_approval_above": "-1.00"},
        {"compensation_approval_above": 1000.5},  # binary floats are not money
        {"confirm_within_days": 0},
        {"repeat_window_days": 0},
    ],
)
def test_out_of_range_values_are_refused(data):
    with pytest.raises(ValidationError):
        ComplaintsPolicy.model_validate(data)


def test_the_policy_is_frozen():
    with pytest.raises(ValidationError):
        DEFAULT_POLICY.warn_days_before = 5  # type: ignore[misc]


def test_money_is_kept_to_the_cent():
    assert ComplaintsPolicy(compensation_approval_above=Decimal("500")).compensation_approval_above == Decimal("500.00")


def test_json_round_trip_of_the_default_policy():
    text = DEFAULT_POLICY.model_dump_json()
    assert ComplaintsPolicy.model_validate_json(text) == DEFAULT_POLICY


def test_json_round_trip_of_an_edited_policy():
    edited = ComplaintsPolicy.model_validate(
        {
            "categories": ["fees", "cards", "other"],
            "targets": {"acknowledge": 2, "first_contact": 3},
            "priority_targets": {"acknowledge": 0, "first_contact": 0},
            "priority_tiers": ["key"],
            "regulator": {"decision_days": 10, "extended_days": 20, "maximum_days": 40},
            "warn_days_before": 5,
            "compensation_approval_above": "2500.50",
            "confirm_within_days": 10,
            "repeat_window_days": 180,
        }
    )
    back = ComplaintsPolicy.model_validate_json(edited.model_dump_json())
    assert back == edited
    assert back.compensation_approval_above == Decimal("2500.50")
    assert back.regulator.maximum_days == 40
    assert ComplaintsPolicy.model_validate(edited.model_dump(mode="json")) == edited


def test_a_decision_due_on_a_public_holiday_stays_there_unless_the_bank_decides_otherwise():
    assert DEFAULT_POLICY.regulator.holiday_rolls_to_next_workday is False  # the earlier, stricter date
    assert ComplaintsPolicy(regulator={"holiday_rolls_to_next_workday": True}).regulator.holiday_rolls_to_next_workday
