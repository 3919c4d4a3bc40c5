"""What complaints keeps of a customer, from the profile (branch, owner) and tiering (tier, branch, owner): the
tier gives key and vip customers priority; the owner and branch give data scope. Cases taken in before the customer
(or its tier) was known catch up in the same transaction (service.routing)."""

from __future__ import annotations

from typing import Any

from crm_complaints.adapters.repositories import ComplaintsRepositories, CustomerChange
from crm_complaints.service import routing
from crm_complaints.service.context import Complaints
from crm_contracts.envelope import CloudEvent
from crm_contracts.profile import CustomerMerged, CustomerRegistered
from crm_contracts.tiering import OwnerAssigned, TierChanged
from crm_kit.messaging import BatchHandler, Incoming, Rejection

_DECISIONS = (TierChanged, OwnerAssigned)


async def apply(
    *, service: Complaints, repos: ComplaintsRepositories, items: list[Incoming[CloudEvent[Any] | None]]
) -> list[Rejection]:
    changes: list[CustomerChange] = []
    owners: list[tuple[str, str, bool]] = []
    heard_of: set[str] = set()
    # Tiering's decisions in the order tiering made them (its per-customer sequence): a redelivery or an older
    # decision (a dead letter replayed late) changes nothing, as in profile and engagement.
    decided = {i.payload.subject for i in items if i.payload is not None and isinstance(i.payload.data, _DECISIONS)}
    seen = await repos.customers.tiering_seqs(decided)
    for item in items:
        event = item.payload
        if event is None:
            continue
        data = event.data
        if isinstance(data, _DECISIONS) and item.sequence is not None:
            if item.sequence <= seen.get(event.subject, 0):
                continue
            seen[event.subject] = item.sequence
        if isinstance(data, (TierChanged, OwnerAssigned, CustomerRegistered)):
            heard_of.add(event.subject)
        numbered = {"tiering_seq": item.sequence} if item.sequence is not None else {}
        if isinstance(data, TierChanged):
            fields = {"tier": data.to_tier, **({"branch": data.branch} if data.branch else {}), **numbered}
        elif isinstance(data, OwnerAssigned):
            fields = {"owner": data.new_owner, **({"branch": data.branch} if data.branch else {}), **numbered}
            owners.append((event.subject, data.new_owner, True))
        elif isinstance(data, CustomerMerged):
            # The merged-away record's cases follow the survivor (branch, owner, tier); intake resolves it to the
            # survivor. One level is kept per record; service.routing follows the chain.
            heard_of |= {data.merged_id, data.survivor_id}
            changes.append(CustomerChange(data.merged_id, merged_into=data.survivor_id))
            changes.append(CustomerChange(data.survivor_id, merged_id=data.merged_id))
            continue
        elif isinstance(data, CustomerRegistered):
            # Fills what tiering has not said yet (topics are not ordered with each other): tiering's word wins.
            changes.append(CustomerChange(event.subject, registered=(data.owner, data.branch)))
            owners.append((event.subject, data.owner, False))
            continue
        else:
            continue
        changes.append(CustomerChange(event.subject, fields=fields))
    await repos.customers.apply(changes)
    await repos.complaints.follow_owners(owners)  # scope of the customer's complaints follows the owner
    # Cases taken in before these customers were known, or before their tier was: routed and prioritised now.
    await routing.catch_up(service, repos, heard_of)
    return []


def handler(service: Complaints) -> BatchHandler[CloudEvent[Any] | None]:
    async def handle(repos: ComplaintsRepositories, items: list[Incoming[CloudEvent[Any] | None]]) -> list[Rejection]:
        return await apply(service=service, repos=repos, items=items)

    return service.uow.consumer(handle)
