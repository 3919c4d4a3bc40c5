"""What complaints keeps of a customer, from the profile (branch, owner) and tiering (tier, branch, owner): the
tier gives key and vip customers priority; the owner and branch give data scope."""

from __future__ import annotations

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contracts.envelope import CloudEvent
from crm_contracts.profile import CustomerRegistered
from crm_contracts.tiering import OwnerAssigned, TierChanged
from crm_complaints.service.context import Complaints
from crm_kit.messaging import Incoming, Rejection


async def apply(*, cx: Complaints, session: AsyncClientSession, items: list[Incoming[CloudEvent | None]]) -> list[Rejection]:
    customers: list[UpdateOne] = []
    owners: list[tuple[str, str]] = []
    for item in items:
        ev = item.payload
        if ev is None:
            continue
        data = ev.data
        if isinstance(data, TierChanged):
            fields = {"tier": data.to_tier, **({"branch": data.branch} if data.branch else {})}
        elif isinstance(data, OwnerAssigned):
            fields = {"owner": data.new_owner, **({"branch": data.branch} if data.branch else {})}
            owners.append((ev.subject, data.new_owner))
        elif isinstance(data, CustomerRegistered):
            customers.append(UpdateOne({"_id": ev.subject}, {"$setOnInsert": {"owner": data.owner},
                                                             "$set": {"branch": data.branch}}, upsert=True))
            continue
        else:
            continue
        customers.append(UpdateOne({"_id": ev.subject}, {"$set": fields}, upsert=True))
    if customers:
        await cx.store.customers.bulk_write(customers, ordered=True, session=session)
    for customer_id, owner in owners:  # scope of the customer's complaints follows the owner
        await cx.store.complaints.update_many({"customer_id": customer_id}, {"$set": {"owner": owner}}, session=session)
    return []


def handler(cx: Complaints):  # type: ignore[no-untyped-def]
    async def handle(session: AsyncClientSession, items: list[Incoming[CloudEvent | None]]) -> list[Rejection]:
        return await apply(cx=cx, session=session, items=items)

    return handle
