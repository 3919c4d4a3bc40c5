"""Loyalty points (积分, BRIEF §4.8): an earning is one ledger entry whose id is its reason, so it is earned once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Earning:
    customer_id: str
    entry_id: str
    points: int
    reason: str
    note: str | None = None
