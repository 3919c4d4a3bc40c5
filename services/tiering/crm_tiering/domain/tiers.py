"""Which tier an amount belongs to, and when a customer's tier changes.

A tier holds AUM from its lower bound, inclusive, up to the next tier's lower bound, exclusive:
with the default policy 49,999.99 is small, 50,000.00 ordinary, 3,000,000.00 key, and below 1,000.00
a customer has no tier. The first tier and upgrades apply with the snapshot that crosses the bound; a
downgrade waits until the customer has stayed below the current tier's lower bound for
`downgrade_grace_days`, counted on snapshot dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from crm_tiering.domain.policy import TIER_ORDER, Policy


def tier_for(amount: Decimal, policy: Policy) -> str | None:
    found = None
    for rule in policy.tiers:
        if amount >= rule.lower_bound:
            found = rule.name
    return found


def rank(tier: str | None) -> int:
    return -1 if tier is None else TIER_ORDER.index(tier)


@dataclass(frozen=True)
class TierDecision:
    tier: str | None
    reason: str | None
    """None: no change. first_tier, upgrade, downgrade, below_minimum, policy_change."""
    below_since: date | None
    """First snapshot date of the current stretch below the tier's lower bound."""
    downgrade_due: date | None
    """When the pending downgrade takes effect if nothing changes."""


def decide(
    *,
    current: str | None,
    below_since: date | None,
    basis: Decimal,
    as_of: date,
    policy: Policy,
    policy_changed: bool = False,
) -> TierDecision:
    target = tier_for(basis, policy)
    if policy_changed and target != current:
        # A new policy is the bank's decision: it applies at once, both ways.
        return TierDecision(target, "policy_change", None, None)
    if rank(target) > rank(current):
        return TierDecision(target, "first_tier" if current is None else "upgrade", None, None)
    if target == current:
        return TierDecision(current, None, None, None)
    # Below the current tier's bound: hold the tier through the grace period.
    since = below_since or as_of
    due = since + timedelta(days=policy.downgrade_grace_days)
    if as_of >= due:
        return TierDecision(target, "downgrade" if target is not None else "below_minimum", None, None)
    return TierDecision(current, None, since, due)
