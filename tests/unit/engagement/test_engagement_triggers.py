"""crm_engagement.domain.triggers: idle funds crossing upward; retention as a service contact."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_engagement.domain.triggers import crossed_upward, retention_is_service

AMOUNT = Decimal("100000.00")


@pytest.mark.parametrize(
    ("previous", "current", "crossed"),
    [
        (Decimal("99999.99"), Decimal("100000.00"), True),  # below -> at
        (Decimal("50000"), Decimal("150000"), True),  # below -> above
        (Decimal("100000.00"), Decimal("150000"), False),  # at -> above
        (Decimal("120000"), Decimal("150000"), False),  # above -> above
        (Decimal("150000"), Decimal("100000"), False),  # above -> at
        (Decimal("150000"), Decimal("50000"), False),  # downward
        (Decimal("10"), Decimal("99999.99"), False),  # below -> below
        (None, Decimal("100000.00"), False),  # a first balance is no crossing
        (None, Decimal("200000"), False),
        (None, Decimal("99999.99"), False),  # first balance below
        (Decimal("0"), Decimal("0"), False),
    ],
)
def test_crossed_upward(previous: Decimal | None, current: Decimal, crossed: bool) -> None:
    assert crossed_upward(previous=previous, current=current, amount=AMOUNT) is crossed


def test_crossing_again_after_falling_below() -> None:
    balances = [Decimal(x) for x in ("50000", "120000", "130000", "90000", "110000")]
    fired = [crossed_upward(previous=p, current=c, amount=AMOUNT) for p, c in pairwise(balances)]
    assert fired == [True, False, False, True]


@given(
    previous=st.decimals(min_value=0, max_value=10**7, places=2),
    current=st.decimals(min_value=0, max_value=10**7, places=2),
)
def test_crossed_upward_property(previous: Decimal, current: Decimal) -> None:
    assert crossed_upward(previous=previous, current=current, amount=AMOUNT) is (previous < AMOUNT <= current)


@pytest.mark.parametrize(
    ("reasons", "service"),
    [
        (["complaint"], True),
        (["low_satisfaction"], True),
        (["declining_aum", "complaint"], True),
        (["declining_aum"], False),
        (["inactivity", "declining_aum"], False),
        ([], False),
        (["Complaint"], False),
    ],
)
def test_retention_is_service(reasons: list[str], service: bool) -> None:
    assert retention_is_service(reasons) is service
