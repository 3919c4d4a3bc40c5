"""Events published by the profile service on `crm.profile.customers`.

No payload carries a sensitive value (ID number, phone, email, address, birthday): consumers
that need one call the profile API, which masks, scopes and audits.
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


class AssetsChanged(EventData):
    event_type = "crm.profile.customer.assets-changed.v1"
    customer_id: str
    core_customer_no: str
    as_of: date
    aum: Decimal = Field(description="CNY, 2 decimals, serialised as a string")
    previous_aum: Decimal | None = None
    previous_as_of: date | None = None
    breakdown: dict[str, Decimal] = Field(default_factory=dict)


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
