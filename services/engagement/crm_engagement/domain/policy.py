"""The engagement policy: versioned data a bank edits (BRIEF §4). Every rule a banker asks about — how
often a tier is called, how many days before a birthday the task appears, how many marketing contacts
a week, the quiet hours, how long a risk assessment is valid — is a field here, with the defaults of
docs/BRIEF.md §4."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crm_contracts.corebank import Money
from crm_contracts.engagement import ContactChannel, Purpose, TaskKind, is_task_kind

TierName = Literal["small", "ordinary", "potential", "vip", "key"]
TIER_RANK: dict[str | None, int] = {"key": 5, "vip": 4, "potential": 3, "ordinary": 2, "small": 1, None: 0}
Days = Annotated[int, Field(ge=1, le=3660)]
LeadDays = Annotated[int, Field(ge=0, le=60)]


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CadenceRule(Rules):
    """One recurring follow-up of a tier: e.g. key customers are visited every 30 days."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$", description="e.g. monthly_visit")
    channel: ContactChannel
    every_days: Days
    purpose: Purpose = "service"


class CareRules(Rules):
    days_before: dict[TierName, LeadDays] = Field(
        default={"key": 7, "vip": 5, "potential": 3, "ordinary": 1, "small": 0},
        description="a care task appears this many days before the occasion (it is due on the day)",
    )
    birthday: bool = True
    anniversary: bool = True
    festivals: list[
        Literal["spring_festival", "lantern", "dragon_boat", "mid_autumn", "double_ninth", "new_year", "national_day"]
    ] = Field(
        default=[
            "spring_festival",
            "lantern",
            "dragon_boat",
            "mid_autumn",
            "double_ninth",
            "new_year",
            "national_day",
        ]
    )
    channel: dict[TierName, ContactChannel] = Field(
        default={"key": "visit", "vip": "call", "potential": "call", "ordinary": "sms", "small": "sms"},
        description="how the greeting is made, per tier",
    )
    tiers: list[TierName] = Field(
        default=["small", "ordinary", "potential", "vip", "key"],
        description="tiers that get care moments",
    )


class TriggerRules(Rules):
    welcome_working_days: int = Field(default=2, ge=0, le=30, description="tier upgrade: welcome call by the new owner")
    welcome_tiers: list[TierName] = Field(
        default=["ordinary", "potential", "vip", "key"],
        description="upgrades into these tiers get a welcome call",
    )
    welcome_first_tiers: list[TierName] = Field(
        default=["vip", "key"],
        description="a customer whose first tier is one of these gets the same welcome call as one upgraded into it",
    )
    retention_working_days: int = Field(default=1, ge=0, le=30, description="churn risk: retention call")
    idle_funds_amount: Annotated[Money, Field(gt=0)] = Field(
        default=Decimal("100000.00"), description="AUM crossing this upward: product recommendation task"
    )
    idle_funds_working_days: int = Field(default=3, ge=0, le=30)
    complaint_follow_up_working_days: int = Field(
        default=2, ge=0, le=30, description="complaint closed: follow-up call and satisfaction survey"
    )


class ContactRules(Rules):
    """避免过度营销: caps count marketing contacts only; service contacts are never capped."""

    short_window_days: Days = 7
    short_window_max: int = Field(
        default=2, ge=0, le=100, description="marketing contacts per customer in the short window"
    )
    long_window_days: Days = 30
    long_window_max: int = Field(
        default=4, ge=0, le=1000, description="marketing contacts per customer in the long window"
    )
    quiet_from: time = Field(default=time(21, 0), description="no marketing calls or SMS from this local time …")
    quiet_until: time = Field(default=time(8, 0), description="… until this local time")
    quiet_channels: list[ContactChannel] = Field(default=["call", "sms"])
    no_marketing_on_public_holidays: bool = True
    timezone: str = "Asia/Shanghai"
    marketing_needs_consent: bool = Field(
        default=True, description="marketing only on channels the customer agreed to; an opt-out always stops a channel"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r} (e.g. Asia/Shanghai)") from exc
        return v

    @model_validator(mode="after")
    def _windows(self) -> ContactRules:
        if self.long_window_days < self.short_window_days:
            raise ValueError("long_window_days must be at least short_window_days")
        return self


class SuitabilityRules(Rules):
    assessment_valid_months: int = Field(default=12, ge=1, le=60, description="a risk assessment expires after this")


class SurveyRules(Rules):
    after_complaint: bool = True
    interaction_sample_pct: int = Field(
        default=10, ge=0, le=100, description="share of outbound contacts followed by a survey"
    )
    expires_days: Days = 30


class PointsRules(Rules):
    monthly: dict[TierName, int] = Field(
        default={"key": 500, "vip": 200, "potential": 100, "ordinary": 50, "small": 10},
        description="points credited on the first of each month, by tier",
    )
    per_survey: int = Field(default=20, ge=0, le=10_000)


class EngagementPolicy(Rules):
    cadence: dict[TierName, list[CadenceRule]] = Field(
        default={
            "key": [
                CadenceRule(name="monthly_visit", channel="visit", every_days=30),
                CadenceRule(name="fortnightly_call", channel="call", every_days=14),
            ],
            "vip": [CadenceRule(name="monthly_call", channel="call", every_days=30)],
            "potential": [CadenceRule(name="quarterly_call", channel="call", every_days=91)],
            "ordinary": [CadenceRule(name="half_yearly_call", channel="call", every_days=182)],
            "small": [CadenceRule(name="yearly_care_message", channel="sms", every_days=365)],
        },
        description="定期回访 per tier; a customer without a tier has no cadence",
    )
    care: CareRules = Field(default_factory=CareRules)
    triggers: TriggerRules = Field(default_factory=TriggerRules)
    contact: ContactRules = Field(default_factory=ContactRules)
    suitability: SuitabilityRules = Field(default_factory=SuitabilityRules)
    surveys: SurveyRules = Field(default_factory=SurveyRules)
    points: PointsRules = Field(default_factory=PointsRules)
    purposes: dict[TaskKind, Purpose] = Field(
        default={
            "follow_up": "service",
            "birthday": "service",
            "anniversary": "service",
            "festival": "service",
            "welcome": "service",
            "retention": "service",
            "product_recommendation": "marketing",
            "complaint_follow_up": "service",
            "manual": "service",
        },
        description="whether a task's contact counts as marketing (capped) or service",
    )

    @model_validator(mode="after")
    def _unique_rule_names(self) -> EngagementPolicy:
        for tier, rules in self.cadence.items():
            names = [r.name for r in rules]
            if len(names) != len(set(names)):
                raise ValueError(f"cadence.{tier}: rule names must be unique")
        return self

    def purpose_of(self, kind: str) -> Purpose:
        return self.purposes.get(kind, "service") if is_task_kind(kind) else "service"


DEFAULT_POLICY = EngagementPolicy()
