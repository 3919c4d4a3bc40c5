"""Request and response schemas of the profile API (Create / Read / Update).

Validation lives here so every entry point — HTTP, import, seed — rejects the same things with
the same messages, each naming the field.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from crm_contracts.corebank import BalanceSnapshot
from crm_contracts.corebank import Money as CoreMoney
from crm_contracts.profile import ConsentChannel, RiskTolerance, SourceChannel
from crm_profile.domain.identity import (
    birthday_from_resident_id,
    gender_from_resident_id,
    validate_mobile,
    validate_resident_id,
    validate_uscc,
)

Money = Annotated[CoreMoney, Field(ge=0)]
Mobile = Annotated[str, AfterValidator(validate_mobile)]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def _email(v: str) -> str:
    if not _EMAIL.match(v):
        raise ValueError("not an email address")
    return v.lower()


Email = Annotated[str, AfterValidator(_email)]
Tag = Annotated[str, Field(min_length=1, max_length=40)]
Tags = Annotated[list[Tag], Field(max_length=30)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
LongName = Annotated[str, Field(max_length=100)]
ShortText = Annotated[str, Field(max_length=60)]
LongText = Annotated[str, Field(max_length=500)]
Notes = Annotated[str, Field(max_length=2000)]
Address = Annotated[str, Field(max_length=200)]
CoreNo = Annotated[str, Field(min_length=1, max_length=32)]
CreditRating = Annotated[str, Field(max_length=10)]
Phones = Annotated[list[Mobile], Field(min_length=1, max_length=5)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class IdDocument(Strict):
    type: Literal["resident_id", "passport", "hk_macau_permit", "taiwan_permit", "uscc"]
    number: str = Field(min_length=5, max_length=32)

    @field_validator("number")
    @classmethod
    def _check_number(cls, number: str, info: ValidationInfo) -> str:
        doc_type = info.data.get("type")
        if doc_type == "resident_id":
            return validate_resident_id(number)
        if doc_type == "uscc":
            return validate_uscc(number)
        if not re.fullmatch(r"[A-Za-z0-9]{5,20}", number):
            raise ValueError(f"{doc_type} number must be 5-20 letters or digits")
        return number.upper()


class Income(Strict):
    annual: Money
    currency: Literal["CNY"] = "CNY"
    source: str | None = None


class Holding(Strict):
    product_type: str = Field(min_length=1, max_length=40, description="deposit, wealth, fund, insurance, loan, card …")
    product_code: str | None = None
    amount: Money | None = None


class FamilyMember(Strict):
    relation: str = Field(min_length=1, max_length=20)
    name: str | None = None
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    customer_id: str | None = None


class Risk(Strict):
    tolerance: RiskTolerance
    assessed_on: date
    professional_investor: bool = False

    @model_validator(mode="after")
    def _not_future(self) -> Risk:
        if self.assessed_on > date.today():
            raise ValueError("assessed_on is in the future")
        return self


class _Common(Strict):
    name: Name
    phones: Phones
    email: Email | None = None
    address: Address | None = None
    branch: str = Field(min_length=1, max_length=20)
    owner: str | None = Field(
        default=None, max_length=40, description="staff id; defaults to the registering staff member"
    )
    core_customer_no: CoreNo | None = None
    tags: Tags = Field(default_factory=list)
    consents: dict[ConsentChannel, bool] = Field(default_factory=dict)
    channel: SourceChannel = "service_process"
    holdings: list[Holding] = Field(default_factory=list, max_length=100)
    credit_rating: CreditRating | None = None
    notes: Notes | None = None


class IndividualCreate(_Common):
    kind: Literal["individual"]
    gender: Literal["male", "female"]
    birthday: date
    id_document: IdDocument
    segment: Literal["mass", "vip", "private_banking"] = "mass"
    income: Income | None = None
    assets_declared: Money | None = None
    education: ShortText | None = None
    occupation: ShortText | None = None
    employer: LongName | None = None
    family: list[FamilyMember] = Field(default_factory=list, max_length=30)
    lifestyle: LongText | None = None
    interests: Tags = Field(default_factory=list)
    risk: Risk | None = None

    @model_validator(mode="after")
    def _consistent_with_id(self) -> IndividualCreate:
        if self.id_document.type == "uscc":
            raise ValueError("id_document.type uscc is for corporate customers")
        if self.id_document.type == "resident_id":
            if birthday_from_resident_id(self.id_document.number) != self.birthday:
                raise ValueError("birthday does not match the resident ID number")
            if gender_from_resident_id(self.id_document.number) != self.gender:
                raise ValueError("gender does not match the resident ID number")
        if self.birthday > date.today():
            raise ValueError("birthday is in the future")
        return self


class CorporateCreate(_Common):
    kind: Literal["corporate"]
    id_document: IdDocument
    segment: Literal["sme", "large", "multinational"] = "sme"
    industry: ShortText | None = None
    legal_representative: LongName | None = None

    @model_validator(mode="after")
    def _uscc(self) -> CorporateCreate:
        if self.id_document.type != "uscc":
            raise ValueError("id_document.type must be uscc for corporate customers")
        return self


CustomerCreate = Annotated[IndividualCreate | CorporateCreate, Field(discriminator="kind")]


class CustomerUpdate(Strict):
    """PATCH body: only the fields sent change; `null` clears an optional field. `channel` says where the
    information came from. Limits are the same as at registration."""

    channel: SourceChannel
    name: Name | None = None
    phones: Phones | None = None
    email: Email | None = None
    address: Address | None = None
    core_customer_no: CoreNo | None = None
    tags: Tags | None = None
    segment: Literal["mass", "vip", "private_banking", "sme", "large", "multinational"] | None = None
    holdings: list[Holding] | None = None
    credit_rating: CreditRating | None = None
    notes: Notes | None = None
    income: Income | None = None
    assets_declared: Money | None = None
    education: ShortText | None = None
    occupation: ShortText | None = None
    employer: LongName | None = None
    family: list[FamilyMember] | None = None
    lifestyle: LongText | None = None
    interests: Tags | None = None
    risk: Risk | None = None
    industry: ShortText | None = None
    legal_representative: LongName | None = None

    @model_validator(mode="after")
    def _required_stay_set(self) -> CustomerUpdate:
        cleared = sorted(f for f in NOT_CLEARABLE if f in self.model_fields_set and getattr(self, f) is None)
        if cleared:
            raise ValueError(f"{', '.join(cleared)}: cannot be null (send a value, or leave the field out)")
        return self

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set if k != "channel"}


NOT_CLEARABLE = ("name", "phones", "tags", "segment", "holdings", "family", "interests")


class ConsentUpdate(Strict):
    granted: bool
    source: SourceChannel


class RelationshipCreate(Strict):
    kind: Literal["family", "referred_by", "corporate_individual"]
    other_customer_id: str = Field(min_length=1, max_length=40)
    role: str | None = Field(default=None, max_length=40, description="spouse, child, legal_representative …")
    channel: SourceChannel = "service_process"


class MergeRequest(Strict):
    duplicate_id: str
    reason: str = Field(min_length=1, max_length=500)


class CustomerBatch(Strict):
    customers: list[dict[str, Any]] = Field(
        min_length=1, max_length=1000, description="each item as for POST /v1/customers; validated one by one"
    )


class BalanceBatch(Strict):
    snapshots: list[BalanceSnapshot] = Field(min_length=1, max_length=10_000)


# --- responses -------------------------------------------------------------------------------


class IdDocumentRead(BaseModel):
    type: str
    number: str


class AumRead(BaseModel):
    amount: Decimal
    as_of: date
    breakdown: dict[str, Decimal] = {}


class ConsentRead(BaseModel):
    granted: bool
    changed_at: datetime
    source: str
    changed_by: str


class CustomerRead(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    kind: str
    status: str
    name: str
    gender: str | None = None
    birthday: str | None = None
    id_document: IdDocumentRead
    phones: list[str]
    email: str | None = None
    address: str | None = None
    branch: str
    owner: str
    owner_assigned_at: datetime | None = Field(default=None, description="when tiering last assigned the owner")
    tier: str | None = None
    tier_since: date | None = Field(default=None, description="snapshot day tiering counted the current tier on")
    tier_policy_version: int | None = Field(default=None, description="tiering policy that decided the tier")
    segment: str | None = None
    tags: list[str] = []
    core_customer_no: str | None = None
    aum: AumRead | None = None
    consents: dict[str, ConsentRead] = {}
    merged_into: str | None = None
    version: int
    revealed: bool = False
    created_at: datetime
    updated_at: datetime


class CustomerPage(BaseModel):
    items: list[CustomerRead]
    next_cursor: str | None = None


class Created(BaseModel):
    id: str
    version: int


class BatchItemResult(BaseModel):
    index: int
    status: Literal["created", "exists", "rejected"]
    id: str | None = None
    errors: list[dict[str, str]] = []


class BatchResult(BaseModel):
    results: list[BatchItemResult]


class BalanceResult(BaseModel):
    accepted: int
    rejected: list[dict[str, Any]]


def problems(exc: ValidationError) -> list[dict[str, str]]:
    """Validation errors as {field, problem}, as the batch endpoint and import reports give them.
    Never the input itself: it may be an ID number or a phone."""
    return [
        {
            "field": ".".join(str(p) for p in e["loc"] if p not in ("individual", "corporate")) or "row",
            "problem": e["msg"],
        }
        for e in exc.errors()
    ]
