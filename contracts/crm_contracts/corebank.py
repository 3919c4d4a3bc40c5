"""Inbound contract: balance snapshots from core banking on `corebank.balances`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, TypeGuard, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

CENT = Decimal("0.01")


def _no_binary_floats(value: Any) -> Any:
    # A JSON number may already have lost cents in a float; amounts travel as strings ("1234.56").
    if isinstance(value, float):
        raise ValueError('send amounts as strings, e.g. "1234.56"; a JSON number may have lost precision')
    if isinstance(value, str):
        try:
            parsed = Decimal(value)
        except InvalidOperation:
            return value  # pydantic names the problem
        if not parsed.is_finite():
            raise ValueError("amount must be a finite number")
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_no_binary_floats),
    Field(max_digits=18, decimal_places=2, allow_inf_nan=False),
    AfterValidator(lambda d: d.quantize(CENT)),
]
"""CNY with at most 2 decimals, always stored and published with exactly 2 (1E+3 becomes 1000.00)."""


ProductType = Literal["deposit", "wealth", "fund", "insurance", "bond", "precious_metal"]
"""The product types of a balance breakdown, a closed vocabulary: each has a yearly margin in tiering's value
policy (crm_tiering.domain.policy.ValueRules.margins must name exactly these).

- `deposit`: current and time deposits, certificates of deposit (活期、定期、大额存单)
- `wealth`: bank wealth-management products (理财)
- `fund`: mutual funds sold by the bank (基金)
- `insurance`: bancassurance policies at their cash value (保险)
- `bond`: government and financial bonds (国债、金融债)
- `precious_metal`: gold and other precious-metal accounts (贵金属)

A snapshot naming any other type is refused (dead-lettered with the type named), never valued at a guess.
A new product type is an additive change of this contract and of the value policy."""
PRODUCT_TYPES: tuple[str, ...] = get_args(ProductType)


def is_product_type(value: str) -> TypeGuard[ProductType]:
    """A breakdown's key as the contract's product type (breakdowns stored before the closed vocabulary may hold
    others)."""
    return value in PRODUCT_TYPES


class BalanceSnapshot(BaseModel):
    """One customer's assets under management at the end of `as_of`, in CNY. The breakdown, when given,
    splits the AUM by product type (ProductType: deposit, wealth, fund, insurance, bond, precious_metal)
    and adds up to it exactly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    core_customer_no: str = Field(min_length=1, max_length=32)
    as_of: date
    aum: Annotated[Money, Field(ge=0)]
    breakdown: dict[ProductType, Money] = Field(
        default_factory=dict,
        description="AUM by product type, one of: " + ", ".join(PRODUCT_TYPES) + "; the parts add up to aum",
    )

    @field_validator("breakdown", mode="before")
    @classmethod
    def _known_product_types(cls, value: Any) -> Any:
        # Named here rather than left to the Literal's message, so the dead letter says which type it was.
        if isinstance(value, dict):
            unknown = sorted(str(k) for k in value if k not in PRODUCT_TYPES)
            if unknown:
                raise ValueError(
                    f"unknown product type {', '.join(repr(u) for u in unknown)}; "
                    f"known types: {', '.join(PRODUCT_TYPES)}"
                )
        return value
