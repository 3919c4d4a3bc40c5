"""Inbound contract: balance snapshots from core banking on `corebank.balances`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from decimal import InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

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


class BalanceSnapshot(BaseModel):
    """One customer's assets under management at the end of `as_of`, in CNY."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    core_customer_no: str = Field(min_length=1, max_length=32)
    as_of: date
    aum: Annotated[Money, Field(ge=0)]
    breakdown: dict[str, Money] = Field(default_factory=dict)
