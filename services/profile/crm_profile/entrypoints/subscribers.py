"""Kafka consumers of the profile service. The kit's consumer applies each batch in its own transaction (with the
inbox and the dead letters); the unit of work's `consumer` binds the repositories to it."""

from __future__ import annotations

from crm_contracts.corebank import BalanceSnapshot
from crm_contracts.topics import COREBANK_BALANCES, TIERING_CUSTOMERS
from crm_kit.context import consumer
from crm_kit.messaging import BatchHandler, Incoming, Rejection
from crm_profile.adapters.repositories import ProfileRepositories
from crm_profile.service import balances, tiering_events
from crm_profile.service.context import Profile

BALANCES_GROUP = "crm-profile.balances"
TIERING_GROUP = "crm-profile.tiering"


def balances_handler(service: Profile) -> BatchHandler[BalanceSnapshot]:
    async def apply(repos: ProfileRepositories, items: list[Incoming[BalanceSnapshot]]) -> list[Rejection]:
        return await balances.apply_incoming(service=service, repos=repos, items=items)

    return service.uow.consumer(apply)


def register(service: Profile) -> None:
    service.rt.consume(
        topic=COREBANK_BALANCES,
        group=BALANCES_GROUP,
        parse=BalanceSnapshot.model_validate_json,
        handle=balances_handler(service),
        max_records=service.rt.settings.balance_batch_size,
        description="Balance snapshots from core banking: JSON {core_customer_no, as_of, aum, breakdown} "
        "(crm_contracts.corebank.BalanceSnapshot). Unknown customers and invalid snapshots go to "
        "corebank.balances.dlt.",
    )
    service.rt.consume(
        topic=TIERING_CUSTOMERS,
        group=TIERING_GROUP,
        parse=tiering_events.parse_tiering_event,
        handle=consumer(service, tiering_events.apply_tiering_events),
        max_records=service.rt.settings.event_batch_size,
        # Idempotent by its own rule (tiering's per-customer sequence, the last applied kept as the customer's
        # tiering_seq: an event not above it is skipped): no inbox needed.
        dedupe="handler",
        description="Tiering's decisions (CloudEvents): owner-assigned sets the customer's owner, so data scope "
        "follows it; tier-changed sets the tier. Applied in tiering's per-customer order (ce_sequence): older "
        "or repeated ones are skipped; other tiering events are ignored. Unknown customers and unreadable events "
        "go to crm.tiering.customers.dlt.",
    )
