"""Kafka consumers of the profile service: each batch is applied with the repositories bound to the consumer's
transaction (the one that also records the batch in the inbox and sends its dead letters)."""

from __future__ import annotations

from collections.abc import Callable

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.corebank import BalanceSnapshot
from crm_contracts.topics import COREBANK_BALANCES, TIERING_CUSTOMERS
from crm_kit.messaging import BatchHandler, Incoming, Rejection
from crm_profile.adapters.repositories import ProfileRepositories
from crm_profile.service import balances, tiering_events
from crm_profile.service.context import Profile
from crm_profile.service.tiering_events import TieringEvent

BALANCES_GROUP = "crm-profile.balances"
TIERING_GROUP = "crm-profile.tiering"

Bind = Callable[[AsyncClientSession | None], ProfileRepositories]


def balances_handler(service: Profile, bind: Bind) -> BatchHandler[BalanceSnapshot]:
    async def handle(session: AsyncClientSession, items: list[Incoming[BalanceSnapshot]]) -> list[Rejection]:
        rejected = await balances.apply_balance_batch(
            service=service, repos=bind(session), snapshots=[(item, item.payload) for item in items]
        )
        return [Rejection(item=item, reason=reason) for item, reason in rejected]

    return handle


def tiering_handler(bind: Bind) -> BatchHandler[TieringEvent | None]:
    async def handle(session: AsyncClientSession, items: list[Incoming[TieringEvent | None]]) -> list[Rejection]:
        applied = [(item, item.payload) for item in items if item.payload is not None]
        rejected = await tiering_events.apply_tiering_batch(repos=bind(session), events=applied) if applied else []
        return [Rejection(item=item, reason=reason) for item, reason in rejected]

    return handle


def register(service: Profile, bind: Bind) -> None:
    service.rt.consume(
        topic=COREBANK_BALANCES,
        group=BALANCES_GROUP,
        parse=BalanceSnapshot.model_validate_json,
        handle=balances_handler(service, bind),
        max_records=service.rt.settings.balance_batch_size,
        description="Balance snapshots from core banking: JSON {core_customer_no, as_of, aum, breakdown} "
        "(crm_contracts.corebank.BalanceSnapshot). Unknown customers and invalid snapshots go to "
        "corebank.balances.dlt.",
    )
    service.rt.consume(
        topic=TIERING_CUSTOMERS,
        group=TIERING_GROUP,
        parse=tiering_events.parse_tiering_event,
        handle=tiering_handler(bind),
        # Idempotent by its own rule (an older or equal decision than the one held is skipped): no inbox needed.
        dedupe="handler",
        description="Tiering's decisions (CloudEvents): owner-assigned sets the customer's owner, so data scope "
        "follows it; tier-changed sets the tier. Older decisions than the one held are skipped; other tiering "
        "events are ignored. Unknown customers and unreadable events go to crm.tiering.customers.dlt.",
    )
