"""When an event about a customer calls for a contact (BRIEF §4.3)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal


def crossed_upward(*, previous: Decimal | None, current: Decimal, amount: Decimal) -> bool:
    """Idle funds (账户余额达到一定数额时主动推荐理财产品): AUM reached `amount` from below. A customer's first
    balance is no crossing (the bank does not know where the money came from: on the day the feed starts every existing
    customer would get one); staying above does not trigger again."""
    return previous is not None and previous < amount <= current


def retention_is_service(reasons: Sequence[str]) -> bool:
    """A retention call about a problem the customer has (a complaint, low satisfaction) is a service contact, not
    marketing: it is never capped."""
    return any(r in ("complaint", "low_satisfaction") for r in reasons)
