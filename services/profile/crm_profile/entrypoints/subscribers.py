"""Kafka consumers of the profile service."""

from __future__ import annotations

from crm_contracts.corebank import BalanceSnapshot
from crm_contracts.topics import COREBANK_BALANCES, TIERING_CUSTOMERS
from crm_profile.service import balances, tiering_events
from crm_profile.service.context import Profile

BALANCES_GROUP = "crm-profile.balances"
TIERING_GROUP = "crm-profile.tiering"


def register(p: Profile) -> None:
    p.rt.consume(
        topic=COREBANK_BALANCES,
        group=BALANCES_GROUP,
        parse=BalanceSnapshot.model_validate_json,
        handle=balances.handler(p),
        max_records=p.rt.settings.balance_batch_size,
        description="Balance snapshots from core banking: JSON {core_customer_no, as_of, aum, breakdown} "
        "(crm_contracts.corebank.BalanceSnapshot). Unknown customers and invalid snapshots go to "
        "corebank.balances.dlt.",
    )
    p.rt.consume(
        topic=TIERING_CUSTOMERS,
        group=TIERING_GROUP,
        parse=tiering_events.parse_tiering_event,
        handle=tiering_events.handler(p),
        # Idempotent by its own rule (an older or equal decision than the one held is skipped): no inbox needed.
        dedupe="handler",
        description="Tiering's decisions (CloudEvents): owner-assigned sets the customer's owner, so data scope "
        "follows it; tier-changed sets the tier. Older decisions than the one held are skipped; other tiering "
        "events are ignored. Unknown customers and unreadable events go to crm.tiering.customers.dlt.",
    )
