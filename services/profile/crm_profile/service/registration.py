"""Registering customers, one at a time or a batch at a time (imports), through one code path.

A batch costs a fixed number of database round trips, whatever its size: two look-ups for known ID
documents, one for core-banking numbers, then one transaction with three bulk inserts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pydantic import TypeAdapter, ValidationError

from crm_contracts.profile import ConsentChanged, CustomerRegistered
from crm_kit.auth import ALL_SCOPE, Principal
from crm_kit.errors import Conflict, Forbidden
from crm_kit.outbox import OutgoingMessage
from crm_profile.adapters.repositories import KeyTaken, ProfileRepositories
from crm_profile.domain.bands import age_band, bank_day, birth_month_day, income_band, risk_facts
from crm_profile.domain.customer import SENSITIVE_FIELDS
from crm_profile.schemas import CorporateCreate, Created, CustomerCreate, IndividualCreate, problems
from crm_profile.service.context import Profile
from crm_profile.service.records import history_row, storable

CUSTOMER: TypeAdapter[IndividualCreate | CorporateCreate] = TypeAdapter(CustomerCreate)
EXISTS = "id_document: a customer with this ID document is already registered"


@dataclass
class Outcome:
    status: str  # created | exists | rejected
    id: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self, index: int) -> dict[str, Any]:
        out: dict[str, Any] = {"index": index, "status": self.status}
        if self.id:
            out["id"] = self.id
        if self.errors:
            out["errors"] = self.errors
        return out


def _new_customer(
    service: Profile, principal: Principal, data: IndividualCreate | CorporateCreate, now: datetime
) -> tuple[dict[str, Any], dict[str, Any], list[OutgoingMessage]]:
    customer_id = f"C{ObjectId()}"
    raw = data.model_dump(mode="python", exclude={"consents", "channel", "owner"})
    sensitive = {k: raw.pop(k) for k in SENSITIVE_FIELDS if k in raw}
    sealed, lookup = service.sensitive.seal(sensitive)
    owner = data.owner or principal.staff_id
    doc: dict[str, Any] = {
        "_id": customer_id,
        **storable(raw),
        **sealed,
        "lookup": {k.split(".", 1)[1]: v for k, v in lookup.items()},
        "owner": owner,
        "status": "active",
        "tier": None,
        "aum": None,
        "consents": {
            channel: {"granted": granted, "changed_at": now, "source": data.channel, "changed_by": principal.staff_id}
            for channel, granted in data.consents.items()
        },
        "version": 1,
        "created_at": now,
        "created_by": principal.staff_id,
        "updated_at": now,
        "updated_by": principal.staff_id,
    }
    if doc.get("core_customer_no") is None:
        doc.pop("core_customer_no", None)
    history = history_row(
        customer_id=customer_id,
        version=1,
        action="registered",
        principal=principal,
        channel=data.channel,
        fields=sorted(k for k in data.model_fields_set if k != "channel"),
    )
    events = [
        service.event(
            CustomerRegistered(
                customer_id=customer_id,
                kind=data.kind,
                segment=data.segment,
                branch=data.branch,
                owner=owner,
                core_customer_no=data.core_customer_no,
                registered_at=now,
                registered_by=principal.staff_id,
                channel=data.channel,
                **_bands(data, now),
            ),
            customer_id=customer_id,
        ),
        *(
            service.event(
                ConsentChanged(
                    customer_id=customer_id,
                    channel=channel,
                    granted=granted,
                    changed_at=now,
                    source=data.channel,
                    changed_by=principal.staff_id,
                ),
                customer_id=customer_id,
            )
            for channel, granted in data.consents.items()
        ),
    ]
    doc["event_seq"] = len(events)
    return doc, history, service.numbered(events, event_seq_after=len(events))


def _bands(data: IndividualCreate | CorporateCreate, now: datetime) -> dict[str, Any]:
    """Bands instead of the birthday and income themselves, which never leave the archive in an event;
    of the birthday only its month and day, never the year; the risk assessment when there is one.
    A corporate customer has none of these."""
    if not isinstance(data, IndividualCreate):
        return {}
    return {
        "age_band": age_band(data.birthday, on=bank_day(now)),
        "income_band": income_band(data.income.annual if data.income else None),
        "birth_month_day": birth_month_day(data.birthday),
        **risk_facts(data.risk),
    }


def _outside_own_branch(principal: Principal, data: IndividualCreate | CorporateCreate) -> str | None:
    """Staff register customers in their own branch; head office and admins anywhere."""
    if principal.role not in ALL_SCOPE and data.branch != principal.branch:
        return f"you may register customers only in your branch {principal.branch}"
    return None


async def _known(
    repos: ProfileRepositories, id_hashes: list[str], core_nos: list[str]
) -> tuple[dict[str, str], set[str]]:
    """Customers already holding these ID documents (hash → id, a merged record answers with its
    survivor) and the core-banking numbers already taken."""
    known: dict[str, str] = {}
    if id_hashes:
        # Two equality look-ups rather than one $or, so each uses its own index.
        known.update(await repos.customers.survivors_of_merged_ids(id_hashes))
        known.update(await repos.customers.holders_of_ids(id_hashes))
    taken: set[str] = set()
    if core_nos:
        taken = await repos.customers.core_nos_taken(core_nos)
    return known, taken


async def register_many(*, service: Profile, principal: Principal, items: list[Any]) -> list[Outcome]:
    """Register validated models or raw dicts; one outcome per item, in order. Within one batch the
    first row of an ID document registers it and later rows answer `exists` with that id."""
    outcomes: list[Outcome | None] = [None] * len(items)
    valid: list[tuple[int, IndividualCreate | CorporateCreate, str]] = []
    for i, item in enumerate(items):
        try:
            data = item if isinstance(item, (IndividualCreate, CorporateCreate)) else CUSTOMER.validate_python(item)
        except ValidationError as exc:
            outcomes[i] = Outcome("rejected", errors=problems(exc))
            continue
        if problem := _outside_own_branch(principal, data):
            outcomes[i] = Outcome("rejected", errors=[{"field": "branch", "problem": problem}])
            continue
        valid.append((i, data, service.sensitive.id_lookup(data.id_document.type, data.id_document.number)))

    for _attempt in range(2):  # a second pass only when a concurrent writer took an ID first
        known, taken = await _known(
            service.uow.reading(),
            [id_hash for _, _, id_hash in valid],
            [d.core_customer_no for _, d, _ in valid if d.core_customer_no],
        )
        now = datetime.now(UTC)
        docs, histories, events = [], [], []
        fresh: dict[str, str] = {}
        cores = set(taken)
        for i, data, id_hash in valid:
            if id_hash in known or id_hash in fresh:
                outcomes[i] = Outcome("exists", id=known.get(id_hash) or fresh[id_hash])
                continue
            if data.core_customer_no and data.core_customer_no in cores:
                outcomes[i] = Outcome(
                    "rejected", errors=[{"field": "core_customer_no", "problem": "already linked to another customer"}]
                )
                continue
            doc, history, evs = _new_customer(service, principal, data, now)
            docs.append(doc)
            histories.append(history)
            events += evs
            fresh[id_hash] = doc["_id"]
            if data.core_customer_no:
                cores.add(data.core_customer_no)
            outcomes[i] = Outcome("created", id=doc["_id"])
        if not docs:
            break

        # Run within this iteration, so the loop's current chunk is the one written.
        async def work(repos: ProfileRepositories) -> None:
            await repos.customers.add_many(docs)  # noqa: B023 - this iteration's
            await repos.history.add_many(histories)  # noqa: B023 - this iteration's
            await repos.outbox.add(events)  # noqa: B023 - this iteration's

        try:
            await service.uow.run(work)
            service.published()
            break
        except KeyTaken:
            # Someone registered one of these between the look-up and the insert: look again.
            continue
    else:
        raise Conflict("customers: concurrent registrations of the same ID documents; try again")
    return [o for o in outcomes if o is not None]


async def register_customer(
    *, service: Profile, principal: Principal, data: IndividualCreate | CorporateCreate
) -> Created:
    if problem := _outside_own_branch(principal, data):
        raise Forbidden(f"branch: {problem}")
    [outcome] = await register_many(service=service, principal=principal, items=[data])
    if outcome.status == "exists":
        raise Conflict(EXISTS, existing_id=outcome.id)
    if outcome.status == "rejected":
        err = outcome.errors[0]
        raise Conflict(f"{err['field']}: {err['problem']}")
    return Created(id=outcome.id or "", version=1)


async def register_batch(*, service: Profile, principal: Principal, customers: list[dict[str, Any]]) -> dict[str, Any]:
    outcomes = await register_many(service=service, principal=principal, items=customers)
    return {"results": [o.as_dict(i) for i, o in enumerate(outcomes)]}
