"""What the profile's events carry of a birthday (month and day, never the year) and of a risk assessment."""

import json
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from crm_contracts.profile import CustomerRegistered, CustomerUpdated
from crm_profile.domain.bands import birth_month_day, risk_facts
from crm_profile.domain.identity import uscc_check_char
from crm_profile.schemas import CorporateCreate, IndividualCreate, Risk
from crm_profile.service.customers import _changed_bands
from crm_profile.service.registration import _bands

NOW = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)
BIRTHDAY = date(1987, 9, 7)
RISK = Risk(tolerance="C4", assessed_on=date(2025, 3, 14), professional_investor=True)
NO_RISK = {"risk_tolerance": None, "risk_assessed_on": None, "professional_investor": None}


@pytest.mark.parametrize(
    ("birthday", "month_day"),
    [
        (date(1987, 9, 17), "09-17"),
        (date(1990, 1, 2), "01-02"),  # leading zeros on both
        (date(1996, 2, 29), "02-29"),  # a leap-day birthday keeps its day
        (date(1949, 12, 31), "12-31"),
    ],
)
def test_birth_month_day_is_month_and_day_only(birthday, month_day):
    assert birth_month_day(birthday) == month_day
    assert str(birthday.year) not in birth_month_day(birthday)


def test_no_birthday_no_month_day():
    assert birth_month_day(None) is None


def test_risk_facts_of_an_assessment_and_of_none():
    assert risk_facts(RISK) == {
        "risk_tolerance": "C4",
        "risk_assessed_on": date(2025, 3, 14),
        "professional_investor": True,
    }
    assert risk_facts(Risk(tolerance="C1", assessed_on=date(2025, 1, 1)))["professional_investor"] is False
    assert risk_facts(None) == NO_RISK


def _individual(**over) -> IndividualCreate:
    return IndividualCreate.model_validate(
        {
            "kind": "individual",
            "name": "张三",
            "phones": ["13812345678"],
            "branch": "BR001",
            "gender": "male",
            "birthday": BIRTHDAY.isoformat(),
            "id_document": {"type": "passport", "number": "E12345678"},
            **over,
        }
    )


def test_registration_carries_month_day_and_risk_for_an_individual():
    facts = _bands(_individual(risk=RISK.model_dump(), income={"annual": "120000.00"}), NOW)
    assert facts == {
        "age_band": "30_44",
        "income_band": "100k_300k",
        "birth_month_day": "09-07",
        "risk_tolerance": "C4",
        "risk_assessed_on": date(2025, 3, 14),
        "professional_investor": True,
    }


def test_registration_without_risk_carries_nulls():
    facts = _bands(_individual(), NOW)
    assert facts["birth_month_day"] == "09-07"
    assert {k: facts[k] for k in NO_RISK} == NO_RISK


def test_a_corporate_registration_has_no_month_day_nor_risk():
    company = CorporateCreate.model_validate(
        {
            "kind": "corporate",
            "name": "某某有限公司",
            "phones": ["13812345678"],
            "branch": "BR001",
            "id_document": {"type": "uscc", "number": "91110000MA0000001" + uscc_check_char("91110000MA0000001")},
        }
    )
    assert _bands(company, NOW) == {}
    event = CustomerRegistered(
        customer_id="C1",
        kind="corporate",
        branch="BR001",
        owner="S1",
        registered_at=NOW,
        registered_by="S1",
        channel="terminal",
        **_bands(company, NOW),
    )
    assert event.birth_month_day is None and event.risk_tolerance is None and event.professional_investor is None


def test_the_registered_event_never_holds_the_full_birthday_or_year():
    event = CustomerRegistered(
        customer_id="C1",
        kind="individual",
        branch="BR001",
        owner="S1",
        registered_at=NOW,
        registered_by="S1",
        channel="terminal",
        **_bands(_individual(risk=RISK.model_dump()), NOW),
    )
    raw = event.model_dump_json()
    assert json.loads(raw)["birth_month_day"] == "09-07"
    assert json.loads(raw)["risk_assessed_on"] == "2025-03-14"
    for value in (BIRTHDAY.isoformat(), BIRTHDAY.strftime("%Y%m%d"), "1987-", "1987"):
        assert value not in raw


def test_changed_risk_is_set_only_when_risk_changed():
    assert _changed_bands({"risk": RISK}, ["risk"]) == {
        "risk_tolerance": "C4",
        "risk_assessed_on": date(2025, 3, 14),
        "professional_investor": True,
    }
    # cleared: listed in changed_fields, every risk field null
    assert _changed_bands({"risk": None}, ["risk"]) == NO_RISK
    # another field: nothing of risk or birthday
    assert _changed_bands({"tags": ["x"], "occupation": "教师"}, ["occupation", "tags"]) == {}
    # asked for, but equal to what the archive holds: not in changed_fields, so not sent
    assert _changed_bands({"risk": RISK}, []) == {}


def test_changed_birthday_carries_month_day_and_band():
    facts = _changed_bands({"birthday": BIRTHDAY}, ["birthday"])
    assert facts["birth_month_day"] == "09-07" and facts["age_band"] is not None
    assert "risk_tolerance" not in facts


def test_updated_event_tells_cleared_from_unchanged_only_by_changed_fields():
    cleared = CustomerUpdated(
        customer_id="C1",
        version=3,
        changed_fields=["risk"],
        channel="terminal",
        changed_by="S1",
        changed_at=NOW,
        **_changed_bands({"risk": None}, ["risk"]),
    )
    other = CustomerUpdated(
        customer_id="C1",
        version=3,
        changed_fields=["tags"],
        channel="terminal",
        changed_by="S1",
        changed_at=NOW,
        **_changed_bands({"tags": []}, ["tags"]),
    )
    assert cleared.risk_tolerance is None and other.risk_tolerance is None
    assert "risk" in cleared.changed_fields and "risk" not in other.changed_fields


@pytest.mark.parametrize("value", ["1987-09-07", "9-7", "0907", "09/07", "09-07T00"])
def test_the_contract_refuses_anything_but_mm_dd(value):
    with pytest.raises(ValidationError):
        CustomerRegistered(
            customer_id="C1",
            kind="individual",
            branch="BR001",
            owner="S1",
            registered_at=NOW,
            registered_by="S1",
            channel="terminal",
            birth_month_day=value,
        )
    with pytest.raises(ValidationError):
        CustomerUpdated(
            customer_id="C1",
            version=2,
            changed_fields=["birthday"],
            channel="terminal",
            changed_by="S1",
            changed_at=NOW,
            birth_month_day=value,
        )


def test_the_contract_takes_only_c1_to_c5():
    with pytest.raises(ValidationError):
        CustomerUpdated(
            customer_id="C1",
            version=2,
            changed_fields=["risk"],
            channel="terminal",
            changed_by="S1",
            changed_at=NOW,
            risk_tolerance="C6",
        )


def test_a_payload_without_the_new_fields_still_reads():
    old = {
        "customer_id": "C1",
        "version": 2,
        "changed_fields": ["tags"],
        "channel": "terminal",
        "changed_by": "S1",
        "changed_at": NOW.isoformat(),
        "age_band": None,
        "income_band": None,
    }
    event = CustomerUpdated.model_validate(old)
    assert event.birth_month_day is None and event.risk_assessed_on is None
