"""Kafka consumers of the profile service."""

from __future__ import annotations

from crm_contracts.corebank import BalanceSnapshot
from crm_contracts.topics import COREBANK_BALANCES
from crm_profile.service.balances import consumer_handler
from crm_profile.service.context import Profile

BALANCES_GROUP = "crm-profile.balances"


def register(p: Profile) -> None:
    p.rt.consume(
        topic=COREBANK_BALANCES,
        group=BALANCES_GROUP,
        parse=BalanceSnapshot.model_validate_json,
        handle=consumer_handler(p),
        max_records=p.rt.settings.balance_batch_size,
        description="Balance snapshots from core banking: JSON {core_customer_no, as_of, aum, breakdown} "
        "(crm_contracts.corebank.BalanceSnapshot). Unknown customers and invalid snapshots go to corebank.balances.dlt.",
    )
