"""crm_engagement.domain.policy: the defaults of docs/BRIEF.md §4, validation, JSON round trip."""

from __future__ import annotations

import json
from datetime import time
from decimal import Decimal

import pytest
from pydantic import ValidationError

from crm_engagement.domain.policy import (
    DEFAULT_POLICY,
    TIER_RANK,
    CadenceRule,
    CareRules,
    ContactRules,
    EngagementPolicy,
    SuitabilityRules,
    TriggerRules,
)

TIERS = {"small", "ordinary", "potential", "vip", "key"}


def rules_of(tier: str) -> dict[str, CadenceRule]:
    return {r.name: r for r in DEFAULT_POLICY.cadence[tier]}


# -- defaults ------------------------------------------------------------------------------------------------


def test_default_cadence_covers_every_tier() -> None:
    assert set(DEFAULT_POLICY.cadence) == TIERS


def test_key_customers_visited_monthly_and_called_fortnightly() -> None:
    key = rules_of("key")
    assert set(key) == {"monthly_visit", "fortnightly_call"}
    assert (key["monthly_visit"].channel, key["monthly_visit"].every_days) == ("visit", 30)
    assert (key["fortnightly_call"].channel, key["fortnightly_call"].every_days) == ("call", 14)


def test_vip_called_monthly() -> None:
    vip = list(rules_of("vip").values())
    assert len(vip) == 1 and vip[0].channel == "call" and vip[0].every_days == 30


def test_potential_about_quarterly_ordinary_about_half_yearly_small_yearly_sms() -> None:
    (potential,) = DEFAULT_POLICY.cadence["potential"]
    (ordinary,) = DEFAULT_POLICY.cadence["ordinary"]
    (small,) = DEFAULT_POLICY.cadence["small"]
    assert potential.channel == "call" and 89 <= potential.every_days <= 92
    assert ordinary.channel == "call" and 180 <= ordinary.every_days <= 184
    assert small.channel == "sms" and 365 <= small.every_days <= 366


def test_cadence_contacts_are_service() -> None:
    for tier, rules in DEFAULT_POLICY.cadence.items():
        for r in rules:
            assert r.purpose == "service", (tier, r.name)


def test_default_contact_rules() -> None:
    c = DEFAULT_POLICY.contact
    assert (c.short_window_days, c.short_window_max) == (7, 2)
    assert (c.long_window_days, c.long_window_max) == (30, 4)
    assert (c.quiet_from, c.quiet_until) == (time(21, 0), time(8, 0))
    assert c.quiet_channels == ["call", "sms"]
    assert c.timezone == "Asia/Shanghai"
    assert c.no_marketing_on_public_holidays is True and c.marketing_needs_consent is True


def test_default_assessment_valid_twelve_months() -> None:
    assert DEFAULT_POLICY.suitability.assessment_valid_months == 12


def test_default_care_and_triggers() -> None:
    care = DEFAULT_POLICY.care
    assert care.days_before == {"key": 7, "vip": 5, "potential": 3, "ordinary": 1, "small": 0}
    assert care.birthday and care.anniversary
    assert "spring_festival" in care.festivals and "mid_autumn" in care.festivals
    assert care.channel["key"] == "visit" and set(care.tiers) == TIERS
    t = DEFAULT_POLICY.triggers
    assert t.idle_funds_amount == Decimal("100000.00")
    assert t.retention_working_days == 1 and t.welcome_working_days == 2
    assert "small" not in t.welcome_tiers


def test_purposes() -> None:
    assert DEFAULT_POLICY.purpose_of("product_recommendation") == "marketing"
    for kind in (
        "follow_up",
        "birthday",
        "anniversary",
        "festival",
        "welcome",
        "retention",
        "complaint_follow_up",
        "manual",
    ):
        assert DEFAULT_POLICY.purpose_of(kind) == "service", kind
    assert DEFAULT_POLICY.purpose_of("unknown_kind") == "service"


def test_tier_rank() -> None:
    assert (
        TIER_RANK["key"]
        > TIER_RANK["vip"]
        > TIER_RANK["potential"]
        > TIER_RANK["ordinary"]
        > TIER_RANK["small"]
        > TIER_RANK[None]
    )


def test_default_factories_are_not_shared() -> None:
    a, b = EngagementPolicy(), EngagementPolicy()
    assert a == b
    assert a.cadence is not b.cadence and a.contact.quiet_channels is not b.contact.quiet_channels


def test_policy_is_frozen() -> None:
    with pytest.raises(ValidationError):
        DEFAULT_POLICY.contact.short_window_max = 10  # type: ignore[misc]
    with pytest.raises(ValidationError):
        DEFAULT_POLICY.care = CareRules()  # type: ignore[misc]


# -- validation ----------------------------------------------------------------------------------------------


def test_duplicate_rule_names_in_a_tier_are_rejected() -> None:
    with pytest.raises(ValidationError, match=r"cadence\.vip: rule names must be unique"):
        EngagementPolicy(
            cadence={
                "vip": [
                    CadenceRule(name="monthly_call", channel="call", every_days=30),
                    CadenceRule(name="monthly_call", channel="sms", every_days=30),
                ]
            }
        )


def test_the_same_rule_name_in_two_tiers_is_fine() -> None:
    p = EngagementPolicy(
        cadence={
            "vip": [CadenceRule(name="monthly_call", channel="call", every_days=30)],
            "key": [CadenceRule(name="monthly_call", channel="call", every_days=30)],
        }
    )
    assert set(p.cadence) == {"vip", "key"}


def test_long_window_shorter_than_short_window_is_rejected() -> None:
    with pytest.raises(ValidationError, match="long_window_days must be at least short_window_days"):
        ContactRules(short_window_days=14, long_window_days=7)
    assert ContactRules(short_window_days=7, long_window_days=7).long_window_days == 7
    with pytest.raises(ValidationError):
        EngagementPolicy.model_validate({"contact": {"short_window_days": 31}})


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (EngagementPolicy, {"cadense": {}}),
        (ContactRules, {"quiet_from": "21:00", "quiet_hours": 3}),
        (CadenceRule, {"name": "x", "channel": "call", "every_days": 3, "owner": "S1"}),
        (CareRules, {"birthdays": True}),
        (TriggerRules, {"idle_funds": "1"}),
        (SuitabilityRules, {"valid_months": 12}),
        (EngagementPolicy, {"contact": {"caps": 1}}),
    ],
)
def test_extra_fields_are_forbidden(model: type, data: dict) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate(data)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "data",
    [
        {"name": "Monthly Call", "channel": "call", "every_days": 30},  # pattern
        {"name": "", "channel": "call", "every_days": 30},
        {"name": "x", "channel": "fax", "every_days": 30},
        {"name": "x", "channel": "call", "every_days": 0},
        {"name": "x", "channel": "call", "every_days": 30, "purpose": "sales"},
    ],
)
def test_invalid_cadence_rules(data: dict) -> None:
    with pytest.raises(ValidationError):
        CadenceRule.model_validate(data)


def test_invalid_values() -> None:
    with pytest.raises(ValidationError):
        EngagementPolicy.model_validate({"cadence": {"gold": []}})  # unknown tier
    with pytest.raises(ValidationError):
        SuitabilityRules(assessment_valid_months=0)
    with pytest.raises(ValidationError):
        TriggerRules(idle_funds_amount=Decimal("0"))
    with pytest.raises(ValidationError):
        CareRules.model_validate({"festivals": ["halloween"]})
    with pytest.raises(ValidationError):
        ContactRules(short_window_max=-1)


# -- round trip ----------------------------------------------------------------------------------------------


def test_default_round_trips_through_json() -> None:
    dumped = DEFAULT_POLICY.model_dump(mode="json")
    json.dumps(dumped)  # plain JSON
    assert dumped["contact"]["quiet_from"].startswith("21:00")
    assert EngagementPolicy.model_validate(dumped) == DEFAULT_POLICY
    assert EngagementPolicy.model_validate(json.loads(json.dumps(dumped))) == DEFAULT_POLICY
    assert EngagementPolicy.model_validate_json(DEFAULT_POLICY.model_dump_json()) == DEFAULT_POLICY


def test_edited_policy_round_trips() -> None:
    p = EngagementPolicy(
        cadence={
            "key": [
                CadenceRule(name="weekly_call", channel="call", every_days=7),
                CadenceRule(name="offer", channel="email", every_days=60, purpose="marketing"),
            ]
        },
        contact=ContactRules(
            short_window_days=3,
            short_window_max=1,
            long_window_days=10,
            long_window_max=3,
            quiet_from=time(22, 30),
            quiet_until=time(7, 15),
            quiet_channels=["call"],
            timezone="Asia/Hong_Kong",
            marketing_needs_consent=False,
        ),
        triggers=TriggerRules(idle_funds_amount=Decimal("250000.5")),
        suitability=SuitabilityRules(assessment_valid_months=24),
    )
    back = EngagementPolicy.model_validate(p.model_dump(mode="json"))
    assert back == p
    assert back.cadence["key"][1].purpose == "marketing"
    assert back.contact.quiet_from == time(22, 30)
    assert back.triggers.idle_funds_amount == Decimal("250000.50")
    assert "vip" not in back.cadence
