"""Customer value (客户价值评估): contribution and potential as readable parts."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from crm_contracts.corebank import PRODUCT_TYPES
from crm_tiering.domain.policy import LifecycleRules, ValueRules
from crm_tiering.domain.value import Part, contribution, potential

RULES = ValueRules()
LIFE = LifecycleRules()


def test_contribution_is_the_margin_of_each_product_sorted_by_product():
    parts = contribution(Decimal("300000.00"), {"wealth": Decimal("200000.00"), "deposit": Decimal("100000.00")}, RULES)
    assert parts == [
        Part("deposit", "100000.00 × 0.005", Decimal("500.00")),
        Part("wealth", "200000.00 × 0.010", Decimal("2000.00")),
    ]


def test_every_default_margin_applies_to_its_product():
    breakdown = {k: Decimal("10000.00") for k in RULES.margins}
    amounts = {p.name: p.amount for p in contribution(Decimal("60000.00"), breakdown, RULES)}
    assert amounts == {
        "bond": Decimal("60.00"),
        "deposit": Decimal("50.00"),
        "fund": Decimal("120.00"),
        "insurance": Decimal("150.00"),
        "precious_metal": Decimal("80.00"),
        "wealth": Decimal("100.00"),
    }


def test_the_margins_are_the_balance_contracts_product_types():
    assert set(RULES.margins) == set(PRODUCT_TYPES)


def test_a_policy_with_a_margin_for_an_unknown_product_type_is_refused():
    with pytest.raises(ValidationError, match="unknown product type 'crypto'"):
        ValueRules(margins={**RULES.margins, "crypto": Decimal("0.1")})


def test_a_policy_must_give_every_product_type_a_margin():
    partial = {k: v for k, v in RULES.margins.items() if k != "insurance"}
    with pytest.raises(ValidationError, match="no margin for product type 'insurance'"):
        ValueRules(margins=partial)


def test_a_breakdown_kept_from_before_the_vocabulary_is_shown_and_valued_at_nothing():
    # Only stored data can hold such a type: the contract refuses it at the door.
    assert contribution(Decimal("1000.00"), {"deposits": Decimal("1000.00")}, RULES) == [
        Part("deposits", "1000.00 × 0 (not a product type of the balance contract)", Decimal("0.00"))
    ]


def test_without_a_breakdown_the_whole_aum_is_unclassified():
    assert contribution(Decimal("250000.00"), {}, RULES) == [
        Part("unclassified", "250000.00 × 0.004", Decimal("1000.00"))
    ]


@pytest.mark.parametrize("aum", [None, Decimal("0.00")])
def test_no_aum_contributes_nothing(aum):
    assert contribution(aum, {}, RULES) == []


def test_contribution_is_rounded_to_cents():
    assert contribution(Decimal("1234.57"), {}, RULES)[0].amount == Decimal("4.94")


def test_a_bank_sets_its_own_margins():
    rules = ValueRules(
        margins={**{k: Decimal(0) for k in PRODUCT_TYPES}, "deposit": Decimal("0.02")}, default_margin=Decimal(0)
    )
    assert [p.amount for p in contribution(Decimal(2), {"deposit": Decimal(100), "fund": Decimal(100)}, rules)] == [
        Decimal("2.00"),
        Decimal("0.00"),
    ]


def test_potential_parts_score_trend_income_and_age():
    parts = potential(trend_pct=Decimal("10.0"), income_band="300k_1m", age_band="30_44", rules=RULES, lifecycle=LIFE)
    assert parts == [
        Part("assets_trend", "10.0% over 90 days", Decimal("40.0")),
        Part("income", "300k_1m", Decimal(25)),
        Part("age", "30_44", Decimal(30)),
    ]


@pytest.mark.parametrize(
    ("trend", "points"),
    [(None, "0.0"), ("-20", "0.0"), ("0", "0.0"), ("2.5", "10.0"), ("5", "20.0"), ("10", "40.0"), ("80", "40.0")],
)
def test_trend_points_grow_to_the_full_points_at_the_growing_pct(trend, points):
    parts = potential(
        trend_pct=None if trend is None else Decimal(trend),
        income_band=None,
        age_band=None,
        rules=RULES,
        lifecycle=LIFE,
    )
    assert parts[0].amount == Decimal(points)


def test_missing_data_scores_nothing_and_says_so():
    parts = potential(trend_pct=None, income_band=None, age_band=None, rules=RULES, lifecycle=LIFE)
    assert parts == [
        Part("assets_trend", "no trend yet", Decimal("0.0")),
        Part("income", "unknown", Decimal(0)),
        Part("age", "unknown", Decimal(0)),
    ]


def test_an_unknown_band_scores_nothing():
    parts = potential(trend_pct=None, income_band="lottery", age_band="200_plus", rules=RULES, lifecycle=LIFE)
    assert [p.amount for p in parts[1:]] == [Decimal(0), Decimal(0)]


def test_top_scores_reach_a_hundred():
    parts = potential(trend_pct=Decimal(50), income_band="1m_plus", age_band="30_44", rules=RULES, lifecycle=LIFE)
    assert sum(p.amount for p in parts) == Decimal(100)
