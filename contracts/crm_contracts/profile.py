"""Events published by the profile service on `crm.profile.customers`.

No payload carries a sensitive value (ID number, phone, email, address, birthday): consumers
that need one call the profile API, which masks, scopes and audits. Of the birthday, events carry
only its month and day (`birth_month_day`, "MM-DD"), never the year nor the full date: month and day
are all that birthday care moments need, while the full date (or the year) would help identify the
customer and give away the exact age, which travels only as a band (`age_band`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from crm_contracts.envelope import EventData

CustomerKind = Literal["individual", "corporate"]
# Bands, not values: enough for tiering's potential score without sending a birthday or an income.
AgeBand = Literal["under_30", "30_44", "45_59", "60_plus"]
IncomeBand = Literal["under_100k", "100k_300k", "300k_1m", "1m_plus"]
# Of a birthday, only "MM-DD": never the year, never the full date.
BIRTH_MONTH_DAY_PATTERN = r"^\d{2}-\d{2}$"
# Risk tolerance grades (客户风险承受能力), C1 the most cautious to C5 the boldest, for suitability checks.
RiskTolerance = Literal["C1", "C2", "C3", "C4", "C5"]
ConsentChannel = Literal["phone", "sms", "email", "wechat", "app"]
SourceChannel = Literal[
    "activity_survey",  # 活动调查
    "marketing_campaign",  # 营销活动
    "service_process",  # 服务过程
    "terminal",  # 终端
    "community_event",  # 交流会/社区
    "website_call_centre",  # 网站/客服中心
    "complaint",  # 客户投诉
    "core_banking",  # balances and imports from core systems
    "bulk_import",
]


class CustomerRegistered(EventData):
    event_type = "crm.profile.customer.registered.v1"
    customer_id: str
    kind: CustomerKind
    segment: str | None = None
    branch: str
    owner: str
    core_customer_no: str | None = None
    registered_at: datetime
    registered_by: str
    channel: SourceChannel
    age_band: AgeBand | None = Field(default=None, description="individuals only")
    income_band: IncomeBand | None = Field(default=None, description="annual income band, when known")
    birth_month_day: str | None = Field(
        default=None,
        pattern=BIRTH_MONTH_DAY_PATTERN,
        description='month and day of the birthday as "MM-DD" (e.g. "09-17"), never the year; individuals only, '
        "null for corporate customers",
    )
    risk_tolerance: RiskTolerance | None = Field(
        default=None, description="risk tolerance grade C1-C5; null when no risk assessment is on record"
    )
    risk_assessed_on: date | None = Field(
        default=None, description="day of the risk assessment behind risk_tolerance; null when none is on record"
    )
    professional_investor: bool | None = Field(
        default=None,
        description="whether the customer is a professional investor (may take any product risk "
        "level); null when no risk assessment is on record",
    )


class CustomerUpdated(EventData):
    event_type = "crm.profile.customer.updated.v1"
    customer_id: str
    version: int
    changed_fields: list[str] = Field(description="names only, never values")
    channel: SourceChannel
    changed_by: str
    changed_at: datetime
    age_band: AgeBand | None = Field(default=None, description="set when birthday changed")
    income_band: IncomeBand | None = Field(default=None, description="set when income changed")
    birth_month_day: str | None = Field(
        default=None,
        pattern=BIRTH_MONTH_DAY_PATTERN,
        description='month and day of the new birthday as "MM-DD" (e.g. "09-17"), never the year. Set only when '
        '"birthday" is in changed_fields; null otherwise. Look at changed_fields to tell the two nulls '
        'apart: "birthday" listed and null means the birthday was cleared, "birthday" not listed means '
        "it did not change (null then says nothing about its value)",
    )
    risk_tolerance: RiskTolerance | None = Field(
        default=None,
        description='new risk tolerance grade C1-C5. Set only when "risk" is in changed_fields; null otherwise. '
        'Look at changed_fields to tell the two nulls apart: "risk" listed and null means the risk '
        'assessment was cleared, "risk" not listed means it did not change (null then says nothing '
        "about its value)",
    )
    risk_assessed_on: date | None = Field(
        default=None,
        description='day of the new risk assessment. Set only when "risk" is in changed_fields; null otherwise. '
        'Look at changed_fields to tell the two nulls apart: "risk" listed and null means the risk '
        'assessment was cleared, "risk" not listed means it did not change',
    )
    professional_investor: bool | None = Field(
        default=None,
        description='whether the customer is now a professional investor. Set only when "risk" is in '
        'changed_fields; null otherwise. Look at changed_fields to tell the two nulls apart: "risk" '
        'listed and null means the risk assessment was cleared, "risk" not listed means it did not '
        "change",
    )


class AssetsChanged(EventData):
    event_type = "crm.profile.customer.assets-changed.v1"
    customer_id: str
    core_customer_no: str
    as_of: date
    aum: Decimal = Field(description="CNY, 2 decimals, serialised as a string")
    previous_aum: Decimal | None = None
    previous_as_of: date | None = None
    breakdown: dict[str, Decimal] = Field(
        default_factory=dict,
        description="AUM by product type; keys are crm_contracts.corebank.ProductType values "
        "(deposit, wealth, fund, insurance, bond, precious_metal)",
    )


class ConsentChanged(EventData):
    event_type = "crm.profile.customer.consent-changed.v1"
    customer_id: str
    channel: ConsentChannel
    granted: bool
    changed_at: datetime
    source: SourceChannel
    changed_by: str


class CustomerMerged(EventData):
    event_type = "crm.profile.customer.merged.v1"
    survivor_id: str
    merged_id: str
    merged_by: str
    merged_at: datetime


EVENTS: tuple[type[EventData], ...] = (
    CustomerRegistered,
    CustomerUpdated,
    AssetsChanged,
    ConsentChanged,
    CustomerMerged,
)
