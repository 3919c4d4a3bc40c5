"""Inbound contract: balance snapshots from core banking on `corebank.balances`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Money = Annotated[Decimal, Field(max_digits=18, decimal_places=2)]


class BalanceSnapshot(BaseModel):
    """One customer's assets under management at the end of `as_of`, in CNY."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    core_customer_no: str = Field(min_length=1, max_length=32)
    as_of: date
    aum: Annotated[Money, Field(ge=0)]
    breakdown: dict[str, Money] = Field(default_factory=dict)
