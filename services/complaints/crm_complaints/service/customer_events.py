"""What complaints keeps of a customer, from the profile (branch, owner) and tiering (tier, branch, owner): the
tier gives key and vip customers priority; the owner and branch give data scope. Cases taken in before the customer
(or its tier) was known catch up in the same transaction (service.routing)."""

from __future__ import annotations

from typing import Any

from pymongo import UpdateMany, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_complaints.service import routing
from crm_complaints.service.context import Complaints
from crm_contracts.envelope import CloudEvent
from crm_contracts.profile import CustomerMerged, CustomerRegistered
from crm_contracts.tiering import OwnerAssigned, TierChanged
from crm_kit.messaging import BatchHandler, Incoming, Rejection

_DECISIONS = (TierChanged, OwnerAssigned)


async def apply(
    *, cx: Complaints, session: AsyncClientSession, items: list[Incoming[CloudEvent[Any] | None]]
) -> list[Rejection]:
    customers: list[UpdateOne] = []
    owners: list[tuple[str, str, bool]] = []
    heard_of: set[str] = set()
    # Tiering's decisions in the order tiering made them (its per-customer sequence): a redelivery or an older
    # decision (a dead letter replayed late) changes nothing, as in profile and engagement.
    decided = {i.payload.subject for i in items if i.payload is not None and isinstance(i.payload.data, _DECISIONS)}
    seen = (
        {
            d["_id"]: d.get("tiering_seq", 0)
            for d in await cx.store.customers.find(
                {"_id": {"$in": sorted(decided)}}, {"tiering_seq": 1}, session=session
            ).to_list()
        }
        if decided
        else {}
    )
    for item in items:
        ev = item.payload
        if ev is None:
            continue
        data = ev.data
        if isinstance(data, _DECISIONS) and item.sequence is not None:
            if item.sequence <= seen.get(ev.subject, 0):
                continue
            seen[ev.subject] = item.sequence
        if isinstance(data, (TierChanged, OwnerAssigned, CustomerRegistered)):
            heard_of.add(ev.subject)
        numbered = {"tiering_seq": item.sequence} if item.sequence is not None else {}
        if isinstance(data, TierChanged):
            fields = {"tier": data.to_tier, **({"branch": data.branch} if data.branch else {}), **numbered}
        elif isinstance(data, OwnerAssigned):
            fields = {"owner": data.new_owner, **({"branch": data.branch} if data.branch else {}), **numbered}
            owners.append((ev.subject, data.new_owner, True))
        elif isinstance(data, CustomerMerged):
            # The merged-away record's cases follow the survivor (branch, owner, tier); intake resolves it to the
            # survivor. One level is kept per record; service.routing follows the chain.
            heard_of |= {data.merged_id, data.survivor_id}
            customers.append(
                UpdateOne({"_id": data.merged_id}, {"$set": {"merged_into": data.survivor_id}}, upsert=True)
            )
            customers.append(
                UpdateOne({"_id": data.survivor_id}, {"$addToSet": {"merged_ids": data.merged_id}}, upsert=True)
            )
            continue
        elif isinstance(data, CustomerRegistered):
            # Fills what tiering has not said yet (topics are not ordered with each other): tiering's word wins.
            customers.append(
                UpdateOne(
                    {"_id": ev.subject},
                    [
                        {
                            "$set": {
                                "owner": {"$ifNull": ["$owner", data.owner]},
                                "branch": {"$ifNull": ["$branch", data.branch]},
                            }
                        }
                    ],
                    upsert=True,
                )
            )
            owners.append((ev.subject, data.owner, False))
            continue
        else:
            continue
        customers.append(UpdateOne({"_id": ev.subject}, {"$set": fields}, upsert=True))
    if customers:
        await cx.store.customers.bulk_write(customers, ordered=True, session=session)
    if owners:  # scope of the customer's complaints follows the owner
        await cx.store.complaints.bulk_write(
            [
                UpdateMany({"customer_id": cid, **({} if replaces else {"owner": None})}, {"$set": {"owner": owner}})
                for cid, owner, replaces in owners
            ],
            ordered=True,
            session=session,
        )
    # Cases taken in before these customers were known, or before their tier was: routed and prioritised now.
    await routing.catch_up(cx, session, heard_of)
    return []


def handler(cx: Complaints) -> BatchHandler[CloudEvent[Any] | None]:
    async def handle(session: AsyncClientSession, items: list[Incoming[CloudEvent[Any] | None]]) -> list[Rejection]:
        return await apply(cx=cx, session=session, items=items)

    return handle
