"""Satisfaction surveys in the churn early warning (BRIEF §4.8): a low CSAT or NPS is the reason
"low_satisfaction" for `low_satisfaction_days` after the answer, unless a later answer is not low."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crm_contracts.engagement import SurveyAnswered
from crm_contracts.tiering import ChurnRiskCleared, ChurnRiskRaised
from crm_tiering.adapters.store import customer_from_doc, customer_state
from crm_tiering.domain.balances import Point
from crm_tiering.domain.churn import SurveyAnswer, next_check, reasons
from crm_tiering.domain.customer import TieredCustomer
from crm_tiering.domain.policy import DEFAULT_POLICY, ChurnRules, Policy
from crm_tiering.service.engagement_events import answer_of

D0 = date(2026, 1, 1)
RULES = ChurnRules()


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def at(n: int, hour: int = 10) -> datetime:
    d = day(n)
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


def answer(
    n: int,
    *,
    csat: int | None = None,
    nps: int | None = None,
    survey: str | None = None,
    hour: int = 10,
    complaint: str | None = None,
) -> SurveyAnswer:
    return SurveyAnswer(
        survey_id=survey or f"SV-{n}-{hour}",
        answered_at=at(n, hour),
        on=day(n),
        csat=csat,
        nps=nps,
        complaint_id=complaint,
    )


def rules_on(n: int, satisfaction: SurveyAnswer | None, rules: ChurnRules = RULES) -> dict[str, str]:
    return reasons(
        series=[], as_of=day(n), last_change=None, drop=None, open_complaints=[], rules=rules, satisfaction=satisfaction
    )


# -- policy ------------------------------------------------------------------------------------------------------


def test_defaults_csat_two_nps_four_for_ninety_days():
    assert (RULES.low_csat_at_most, RULES.low_nps_at_most, RULES.low_satisfaction_days) == (2, 4, 90)


def test_a_stored_policy_without_the_fields_loads_with_the_defaults():
    stored = DEFAULT_POLICY.model_dump(mode="json")
    for name in ("low_csat_at_most", "low_nps_at_most", "low_satisfaction_days"):
        del stored["churn"][name]
    policy = Policy.model_validate(stored)
    assert policy.churn == ChurnRules()
    assert Policy.model_validate(DEFAULT_POLICY.model_dump(mode="json")) == DEFAULT_POLICY


@pytest.mark.parametrize(
    "bad",
    [
        {"low_csat_at_most": 0},
        {"low_csat_at_most": 6},
        {"low_nps_at_most": -1},
        {"low_nps_at_most": 11},
        {"low_satisfaction_days": 0},
    ],
)
def test_bounds_outside_the_scales_are_refused(bad):
    with pytest.raises(ValidationError):
        ChurnRules(**bad)


# -- the rule ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("csat", "nps", "low"),
    [
        (1, None, True),
        (2, None, True),
        (3, None, False),
        (5, None, False),
        (None, 0, True),
        (None, 4, True),
        (None, 5, False),
        (None, 10, False),
        (4, 3, True),  # either score low is enough
        (2, 9, True),
        (3, 5, False),
    ],
)
def test_low_is_a_csat_of_at_most_two_or_an_nps_of_at_most_four(csat, nps, low):
    assert ("low_satisfaction" in rules_on(0, answer(0, csat=csat, nps=nps))) is low


def test_the_detail_names_the_scores_the_survey_and_the_date():
    assert rules_on(3, answer(0, csat=2, nps=3, survey="SV-7")) == {
        "low_satisfaction": "CSAT 2/5, NPS 3/10 in survey SV-7 answered on 2026-01-01"
    }
    assert rules_on(0, answer(0, csat=1, survey="SV-8", complaint="CMP-1")) == {
        "low_satisfaction": "CSAT 1/5 in survey SV-8 after complaint CMP-1 answered on 2026-01-01"
    }


def test_a_low_answer_holds_for_ninety_days_then_comes_due():
    low = answer(0, csat=1)
    assert "low_satisfaction" in rules_on(0, low)
    assert "low_satisfaction" in rules_on(89, low)
    assert "low_satisfaction" not in rules_on(90, low)
    assert next_check(series=[], as_of=day(0), last_change=None, drop=None, rules=RULES, satisfaction=low) == day(90)
    assert next_check(series=[], as_of=day(90), last_change=None, drop=None, rules=RULES, satisfaction=low) is None


def test_a_satisfied_answer_sets_no_date():
    good = answer(0, csat=5, nps=9)
    assert next_check(series=[], as_of=day(0), last_change=None, drop=None, rules=RULES, satisfaction=good) is None


def test_the_bounds_and_the_period_follow_the_policy():
    strict = ChurnRules(low_csat_at_most=3, low_nps_at_most=None, low_satisfaction_days=10)
    assert "low_satisfaction" in rules_on(9, answer(0, csat=3), strict)
    assert "low_satisfaction" not in rules_on(10, answer(0, csat=3), strict)
    assert rules_on(0, answer(0, nps=0), strict) == {}  # NPS not used
    assert rules_on(0, answer(0, csat=1), ChurnRules(low_csat_at_most=None)) == {}


def test_later_is_by_answered_at_and_the_survey_id_breaks_a_tie():
    first, later = answer(0, csat=1, hour=9), answer(0, csat=5, hour=11)
    assert later.newer_than(first) and not first.newer_than(later) and first.newer_than(None)
    assert not first.newer_than(first)
    a, b = answer(0, csat=1, survey="SV-A"), answer(0, csat=5, survey="SV-B")
    assert b.newer_than(a) and not a.newer_than(b)
    # Instants compare across offsets: 17:00 in Beijing is 09:00 UTC, before 10:00 UTC.
    beijing = SurveyAnswer("SV-X", datetime(2026, 1, 1, 17, tzinfo=timezone(timedelta(hours=8))), day(0), csat=1)
    assert answer(0, csat=5).newer_than(beijing)


# -- the customer -------------------------------------------------------------------------------------------------


def customer(**kw) -> TieredCustomer:
    return TieredCustomer(customer_id="C1", branch="B1", owner="S1", **kw)


def of(c: TieredCustomer, kind: type) -> list:
    return [e for e in c.events if isinstance(e, kind)]


def see(c: TieredCustomer, n: int, aum: str) -> None:
    c.observe_balance(as_of=day(n), aum=Decimal(aum), breakdown={}, policy=DEFAULT_POLICY, version=1)


def test_a_low_answer_raises_and_a_later_satisfied_one_clears_at_once():
    c = customer(registered_on=day(-400))
    assert c.survey_answered(answer(5, csat=2, survey="SV-1"), policy=DEFAULT_POLICY)
    [e] = of(c, ChurnRiskRaised)
    assert (e.as_of, e.owner, e.branch) == (day(5), "S1", "B1")
    assert [(r.rule, r.detail) for r in e.reasons] == [
        ("low_satisfaction", "CSAT 2/5 in survey SV-1 answered on 2026-01-06")
    ]
    assert c.churn_since == day(5) and c.due_on == day(95)
    assert c.survey_answered(answer(20, csat=4, nps=8, survey="SV-2"), policy=DEFAULT_POLICY)
    [cleared] = of(c, ChurnRiskCleared)
    assert (cleared.as_of, cleared.resolved) == (day(20), ["low_satisfaction"])
    assert c.churn == {} and c.churn_since is None and c.due_on is None


def test_the_same_answer_again_changes_nothing():
    c = customer()
    low = answer(3, nps=2)
    assert c.survey_answered(low, policy=DEFAULT_POLICY)
    assert not c.survey_answered(low, policy=DEFAULT_POLICY)
    assert len(of(c, ChurnRiskRaised)) == 1 and of(c, ChurnRiskCleared) == []


def test_an_older_answer_arriving_late_does_not_override_the_newer_one():
    c = customer()
    assert c.survey_answered(answer(10, csat=5), policy=DEFAULT_POLICY)
    assert not c.survey_answered(answer(4, csat=1), policy=DEFAULT_POLICY)
    assert c.churn == {} and c.events == []
    # And the other way: a low answer is not cleared by an older satisfied one.
    d = customer()
    d.survey_answered(answer(10, csat=1), policy=DEFAULT_POLICY)
    assert not d.survey_answered(answer(4, csat=5), policy=DEFAULT_POLICY)
    assert "low_satisfaction" in d.churn and of(d, ChurnRiskCleared) == []


def test_an_answer_without_a_score_is_skipped():
    c = customer()
    c.survey_answered(answer(1, csat=1), policy=DEFAULT_POLICY)
    assert not c.survey_answered(answer(2), policy=DEFAULT_POLICY)
    assert "low_satisfaction" in c.churn and c.satisfaction == answer(1, csat=1)


def test_a_later_low_answer_keeps_the_warning_and_its_start_and_moves_the_end():
    c = customer()
    c.survey_answered(answer(0, csat=2), policy=DEFAULT_POLICY)
    c.survey_answered(answer(30, nps=1, survey="SV-9"), policy=DEFAULT_POLICY)
    assert len(of(c, ChurnRiskRaised)) == 1 and c.churn_since == day(0)
    assert c.churn["low_satisfaction"] == "NPS 1/10 in survey SV-9 answered on 2026-01-31"
    assert c.due_on == day(120)


def test_the_sweep_clears_the_warning_when_the_period_ends():
    c = customer(registered_on=day(-400))
    see(c, 0, "80000.00")
    c.survey_answered(answer(10, csat=1), policy=DEFAULT_POLICY)
    swept = []
    while c.due_on is not None and c.due_on <= day(100):  # what the due sweep does, date by date
        swept.append(c.due_on)
        c.evaluate(on=c.due_on, policy=DEFAULT_POLICY, version=1)
    assert swept[-1] == day(100)
    [cleared] = of(c, ChurnRiskCleared)
    assert (cleared.as_of, cleared.resolved) == (day(100), ["low_satisfaction"])
    assert c.churn == {} and c.due_on == day(180)  # dormancy next


def test_an_answer_older_than_the_period_raises_nothing():
    c = customer()
    see(c, 200, "80000.00")
    assert c.survey_answered(answer(100, csat=1), policy=DEFAULT_POLICY)  # kept: it is the latest answer
    assert c.churn == {} and of(c, ChurnRiskRaised) == []


def test_low_satisfaction_joins_the_other_reasons():
    c = customer()
    c.complaint_opened("K1", on=day(1), policy=DEFAULT_POLICY)
    c.survey_answered(answer(2, csat=1, complaint="K1"), policy=DEFAULT_POLICY)
    assert [[r.rule for r in e.reasons] for e in of(c, ChurnRiskRaised)] == [
        ["complaint"],
        ["complaint", "low_satisfaction"],
    ]
    c.complaint_closed("K1", on=day(3), policy=DEFAULT_POLICY)
    assert of(c, ChurnRiskCleared) == [] and list(c.churn) == ["low_satisfaction"]
    c.survey_answered(answer(4, csat=4), policy=DEFAULT_POLICY)
    [cleared] = of(c, ChurnRiskCleared)
    assert cleared.resolved == ["low_satisfaction"]
    assert c.churn == {}


def test_a_customer_tiering_does_not_know_yet_keeps_the_answer_until_the_registration():
    c = TieredCustomer(customer_id="C-NEW")
    assert c.survey_answered(answer(5, csat=1), policy=DEFAULT_POLICY)
    # Kept, but no warning yet: it would name no branch and no owner.
    assert c.satisfaction is not None and c.events == [] and c.churn == {}
    c.branch, c.owner = "B1", "S1"  # the registration arrives
    c.registration_arrived(policy=DEFAULT_POLICY)
    [raised] = of(c, ChurnRiskRaised)
    assert (raised.branch, raised.owner, raised.as_of) == ("B1", "S1", day(5))
    assert list(c.churn) == ["low_satisfaction"] and c.due_on == day(95)


def test_a_merged_customer_takes_no_answer():
    c = customer(merged_into="C2")
    assert not c.survey_answered(answer(5, csat=1), policy=DEFAULT_POLICY)
    assert c.events == [] and c.satisfaction is None


def test_the_due_dates_of_other_rules_stay_when_an_answer_comes_after_the_last_balance():
    # Below the ordinary bound from day 0: the downgrade is due on day 30. An answer on day 40, before any
    # evaluation of day 30, must not lose that date.
    c = customer(registered_on=day(-400), tier="ordinary", tier_since=day(-100), policy_version=1)
    see(c, 0, "40000.00")
    assert c.due_on == day(30)
    c.survey_answered(answer(40, csat=5), policy=DEFAULT_POLICY)
    assert c.due_on == day(30)


# -- stored and received -------------------------------------------------------------------------------------------


def test_the_answer_survives_the_store():
    c = customer()
    c.survey_answered(answer(5, csat=2, nps=7, complaint="CMP-1"), policy=DEFAULT_POLICY)
    back = customer_from_doc({"_id": "C1", **customer_state(c)})
    assert back.satisfaction == c.satisfaction and back.churn == c.churn
    assert customer_from_doc({"_id": "C1"}).satisfaction is None


def test_an_event_becomes_the_answer_with_its_own_day():
    beijing = timezone(timedelta(hours=8))
    data = SurveyAnswered(
        survey_id="SV-1",
        customer_id="C1",
        trigger="complaint_closed",
        complaint_id="CMP-1",
        csat=2,
        nps=None,
        answered_at=datetime(2026, 1, 2, 7, 30, 0, 123456, tzinfo=beijing),
    )
    a = answer_of(data)
    assert (a.survey_id, a.on, a.csat, a.nps, a.complaint_id) == ("SV-1", date(2026, 1, 2), 2, None, "CMP-1")
    assert a.answered_at == datetime(2026, 1, 1, 23, 30, 0, 123000, tzinfo=UTC)
    naive = answer_of(data.model_copy(update={"answered_at": datetime(2026, 1, 2, 7, 30)}))
    assert naive.answered_at == datetime(2026, 1, 2, 7, 30, tzinfo=UTC)


# -- no change before the date it comes due -------------------------------------------------------------------------


@settings(max_examples=100)
@given(
    st.integers(0, 60),
    st.one_of(st.none(), st.integers(1, 5)),
    st.one_of(st.none(), st.integers(0, 10)),
    st.integers(0, 200),
)
def test_the_rule_does_not_change_before_next_check(answered, csat, nps, after):
    s = [Point(day(0), Decimal("5000.00"))]
    a = answer(answered, csat=csat, nps=nps)
    start = day(answered + after)

    def held(when: date) -> set[str]:
        return set(
            reasons(
                series=s, as_of=when, last_change=day(0), drop=None, open_complaints=[], rules=RULES, satisfaction=a
            )
        )

    due = next_check(series=s, as_of=start, last_change=day(0), drop=None, rules=RULES, satisfaction=a)
    end = due if due is not None else start + timedelta(days=400)
    now = held(start)
    for n in range(1, (end - start).days):
        assert held(start + timedelta(days=n)) == now
    if due is not None:
        assert due > start
