"""Application functions of the customer archive: one per use case, keyword-only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from bson import ObjectId

from crm_contracts.profile import AssetsChanged, ConsentChanged, CustomerMerged, CustomerUpdated
from crm_kit.auth import Principal, Role
from crm_kit.errors import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed, PreconditionRequired
from crm_kit.outbox import OutgoingMessage
from crm_kit.scope import CUSTOMERS
from crm_profile.adapters.repositories import KeyTaken, ProfileRepositories
from crm_profile.domain.bands import age_band, bank_day, birth_month_day, income_band, risk_facts
from crm_profile.domain.customer import (
    CORE_LINK_FIELDS,
    SENSITIVE_FIELDS,
    Customer,
    MergeParty,
    changed_fields,
    check_merge,
    check_relationship,
    check_segment,
    fields_not_patchable,
    merged_consents,
)
from crm_profile.domain.identity import validate_mobile
from crm_profile.schemas import (
    ConsentUpdate,
    CustomerUpdate,
    MergeRequest,
    RelationshipCreate,
)
from crm_profile.service.context import Profile
from crm_profile.service.records import history_row, storable

PUBLIC_EXCLUDE = {"lookup", "event_seq"}
Written = TypeVar("Written", Customer, dict[str, Any])


def _now() -> datetime:
    return datetime.now(UTC)


def etag(version: int) -> str:
    return f'"v{version}"'


def _updated(written: Written | None) -> Written:
    """What an update in this transaction wrote: None only when a concurrent change won the race."""
    if written is None:
        raise Conflict("the customer was changed meanwhile; read it again and retry")
    return written


async def _load(repos: ProfileRepositories, principal: Principal, customer_id: str) -> Customer:
    customer = await repos.customers.load(customer_id)
    # Out of scope is answered exactly like missing, so scope cannot be probed.
    if customer is None or not CUSTOMERS.allows(principal, customer.record):
        raise NotFound(f"customer {customer_id} not found")
    return customer


# --- read -----------------------------------------------------------------------------------------


def view(service: Profile, doc: dict[str, Any], *, reveal: bool = False) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in PUBLIC_EXCLUDE and k not in SENSITIVE_FIELDS and k != "_id"}
    out["id"] = doc["_id"]
    out.update(service.sensitive.open_sensitive(doc, reveal=reveal))
    if doc.get("aum"):
        out["aum"] = {
            "amount": doc["aum"]["amount"],
            "as_of": doc["aum"]["as_of"],
            "breakdown": doc["aum"].get("breakdown", {}),
        }
    out["revealed"] = reveal
    return out


async def get_customer(
    *, service: Profile, principal: Principal, customer_id: str, reveal: bool = False, purpose: str | None = None
) -> dict[str, Any]:
    repos = service.uow.reading()
    doc = (await _load(repos, principal, customer_id)).record
    if reveal:
        if not principal.may_reveal:
            raise Forbidden(f"reveal: role {principal.role.value} may not see full sensitive values")
        if not purpose or not purpose.strip():
            raise Invalid("purpose: say why the full values are needed when reveal=true")
        # Audited before the values leave the service: no audit row, no reveal. Written on its own, as
        # reading needs no transaction.
        await repos.audit.record(
            staff_id=principal.staff_id,
            role=principal.role.value,
            action="reveal",
            target=customer_id,
            detail={"branch": principal.branch, "fields": list(SENSITIVE_FIELDS), "purpose": purpose.strip()},
        )
    return view(service, doc, reveal=reveal)


async def list_customers(
    *,
    service: Profile,
    principal: Principal,
    branch: str | None = None,
    owner: str | None = None,
    tier: str | None = None,
    tag: str | None = None,
    phone: str | None = None,
    include_merged: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    phone_hash = None
    if phone is not None:
        try:
            phone_hash = service.sensitive.phone_lookup(validate_mobile(phone))
        except ValueError as exc:
            raise Invalid(f"phone: {exc}") from exc
    docs = await service.uow.reading().customers.page(
        principal,
        branch=branch,
        owner=owner,
        tier=tier,
        tag=tag,
        phone_hash=phone_hash,
        include_merged=include_merged,
        after=cursor,
        limit=limit + 1,
    )
    more = len(docs) > limit
    docs = docs[:limit]
    return [view(service, doc) for doc in docs], (docs[-1]["_id"] if more else None)


async def customer_history(*, service: Profile, principal: Principal, customer_id: str) -> list[dict[str, Any]]:
    repos = service.uow.reading()
    await _load(repos, principal, customer_id)
    return await repos.history.of_customer(customer_id)


async def balance_history(
    *, service: Profile, principal: Principal, customer_id: str, limit: int = 400
) -> list[dict[str, Any]]:
    repos = service.uow.reading()
    await _load(repos, principal, customer_id)
    return await repos.balances.latest_of(customer_id, limit=limit)


# --- update ---------------------------------------------------------------------------------------


async def update_customer(
    *, service: Profile, principal: Principal, customer_id: str, patch: CustomerUpdate, if_match: str | None
) -> dict[str, Any]:
    if not if_match:
        raise PreconditionRequired("If-Match: send the ETag of the version you read")
    requested = patch.changes()
    current = (await _load(service.uow.reading(), principal, customer_id)).record
    wrong = fields_not_patchable(current["kind"], list(requested))
    if wrong:
        raise Invalid(f"{', '.join(wrong)}: cannot be changed on a {current['kind']} customer with PATCH")
    if CORE_LINK_FIELDS & requested.keys() and principal.role not in (Role.HEAD_OFFICE, Role.ADMIN):
        raise Forbidden("core_customer_no: only head office may link a record to a core-banking customer")
    check_segment(current["kind"], requested.get("segment"))

    async def work(repos: ProfileRepositories) -> dict[str, Any]:
        customer = await _load(repos, principal, customer_id)
        customer.must_be_active()
        doc = customer.record
        if if_match.strip() not in (etag(doc["version"]), "*"):
            raise PreconditionFailed(
                f"If-Match: the customer changed since you read it; current ETag is {etag(doc['version'])}",
                current_etag=etag(doc["version"]),
            )
        plain_new = {k: storable(v) for k, v in requested.items()}
        before = {
            k: (service.sensitive.plain_sensitive(doc, k) if k in SENSITIVE_FIELDS else doc.get(k)) for k in plain_new
        }
        after = {k: (requested[k] if k in SENSITIVE_FIELDS else plain_new[k]) for k in plain_new}
        fields = changed_fields(before, after)
        if not fields:
            return doc
        sens = {k: requested[k] for k in fields if k in SENSITIVE_FIELDS}
        sealed, lookup = service.sensitive.seal(sens)
        update = {
            **{k: plain_new[k] for k in fields if k not in SENSITIVE_FIELDS},
            **sealed,
            **lookup,
            "updated_at": _now(),
            "updated_by": principal.staff_id,
        }
        unlinked = "core_customer_no" in update and update["core_customer_no"] is None
        if unlinked:
            update.pop("core_customer_no")
        customer.set(update)
        if unlinked:
            customer.clear("core_customer_no")
        version = customer.take_next_version()
        customer.raise_event(
            CustomerUpdated(
                customer_id=customer_id,
                version=version,
                changed_fields=fields,
                channel=patch.channel,
                changed_by=principal.staff_id,
                changed_at=_now(),
                **_changed_bands(requested, fields),
            )
        )
        saved = _updated(await repos.customers.save(customer))
        changes = {k: {"from": before[k], "to": plain_new[k]} for k in fields if k not in SENSITIVE_FIELDS}
        await repos.history.add(
            history_row(
                customer_id=customer_id,
                version=version,
                action="updated",
                principal=principal,
                channel=patch.channel,
                fields=fields,
                changes=storable(changes),
            )
        )
        await repos.outbox.add(service.messages(customer, event_seq_after=saved.event_seq))
        return saved.record

    try:
        doc = await service.uow.run(work)
    except KeyTaken as exc:
        # The only unique key PATCH can touch is the core-banking link.
        other = await service.uow.reading().customers.holder_of_core_no(requested.get("core_customer_no"))
        raise Conflict("core_customer_no: already linked to another customer", existing_id=other) from exc
    service.published()
    return view(service, doc)


def _changed_bands(requested: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """The new band of a changed birthday or income, never the value; the new month and day of a changed
    birthday, never the year; the new risk assessment of a changed risk. Only for fields in `fields`
    (the event's changed_fields), null when the field was cleared: a reader tells "cleared" from
    "not changed" by changed_fields."""
    bands: dict[str, Any] = {}
    if "birthday" in fields:
        bands["age_band"] = age_band(requested["birthday"], on=bank_day(_now()))
        bands["birth_month_day"] = birth_month_day(requested["birthday"])
    if "income" in fields:
        income = requested["income"]
        bands["income_band"] = income_band(income.annual if income else None)
    if "risk" in fields:
        bands.update(risk_facts(requested["risk"]))
    return bands


# --- consent --------------------------------------------------------------------------------------


async def set_consent(
    *, service: Profile, principal: Principal, customer_id: str, channel: str, body: ConsentUpdate
) -> dict[str, Any]:
    async def work(repos: ProfileRepositories) -> dict[str, Any]:
        customer = await _load(repos, principal, customer_id)
        customer.must_be_active()
        doc = customer.record
        current = (doc.get("consents") or {}).get(channel)
        if current and current["granted"] == body.granted:
            return doc
        now = _now()
        entry = {"granted": body.granted, "changed_at": now, "source": body.source, "changed_by": principal.staff_id}
        version = doc["version"] + 1
        new_doc = _updated(
            await repos.customers.save_consent(
                customer_id, channel=channel, entry=entry, version=version, at=now, by=principal.staff_id
            )
        )
        await repos.history.add(
            history_row(
                customer_id=customer_id,
                version=version,
                action="consent",
                principal=principal,
                channel=body.source,
                fields=[f"consents.{channel}"],
                changes={f"consents.{channel}": {"from": current and current["granted"], "to": body.granted}},
            )
        )
        await repos.outbox.add(
            service.numbered(
                [
                    service.event(
                        ConsentChanged(
                            customer_id=customer_id,
                            channel=channel,
                            granted=body.granted,
                            changed_at=now,
                            source=body.source,
                            changed_by=principal.staff_id,
                        ),
                        customer_id=customer_id,
                    )
                ],
                event_seq_after=new_doc["event_seq"],
            ),
        )
        return new_doc

    doc = await service.uow.run(work)
    service.published()
    consents: dict[str, Any] = doc.get("consents", {})
    return consents


# --- relationships ---------------------------------------------------------------------------------


async def add_relationship(
    *, service: Profile, principal: Principal, customer_id: str, body: RelationshipCreate
) -> dict[str, Any]:
    async def work(repos: ProfileRepositories) -> dict[str, Any]:
        customer = await _load(repos, principal, customer_id)
        customer.must_be_active()
        doc = customer.record
        # The other customer must be one the staff member may see; anything else reads as not found,
        # so links cannot be used to probe which customer ids exist.
        try:
            other_customer = await _load(repos, principal, body.other_customer_id)
            other_customer.must_be_active()
            other = other_customer.record
        except (NotFound, Conflict):
            raise Invalid(f"other_customer_id: customer {body.other_customer_id} not found") from None
        check_relationship(
            body.kind, from_id=customer_id, to_id=other["_id"], from_kind=doc["kind"], to_kind=other["kind"]
        )
        # Family is one link whichever side records it; a referral has a direction.
        dup = await repos.relationships.find_link(
            customer_id, other["_id"], body.kind, either_way=body.kind == "family"
        )
        if dup:
            raise Conflict("relationship already recorded", existing_id=dup["_id"])
        rel = {
            "_id": f"R{ObjectId()}",
            "from_id": customer_id,
            "to_id": other["_id"],
            "kind": body.kind,
            "role": body.role,
            "created_at": _now(),
            "created_by": principal.staff_id,
        }
        await repos.relationships.add(rel)
        await repos.history.add(
            history_row(
                customer_id=customer_id,
                version=doc["version"],
                action="relationship_added",
                principal=principal,
                channel=body.channel,
                fields=["relationships"],
                changes={
                    "relationship": {
                        "id": rel["_id"],
                        "kind": body.kind,
                        "other_customer_id": other["_id"],
                        "role": body.role,
                    }
                },
            )
        )
        return rel

    return _rel_view(await service.uow.run(work), customer_id)


def _rel_view(rel: dict[str, Any], perspective: str) -> dict[str, Any]:
    outgoing = rel["from_id"] == perspective
    return {
        "id": rel["_id"],
        "kind": rel["kind"],
        "role": rel.get("role"),
        "direction": "outgoing" if outgoing else "incoming",
        "other_customer_id": rel["to_id"] if outgoing else rel["from_id"],
        "created_at": rel["created_at"],
        "created_by": rel["created_by"],
    }


async def list_relationships(*, service: Profile, principal: Principal, customer_id: str) -> list[dict[str, Any]]:
    repos = service.uow.reading()
    await _load(repos, principal, customer_id)
    rels = await repos.relationships.of_customer(customer_id)
    return [_rel_view(rel, customer_id) for rel in rels]


async def remove_relationship(
    *, service: Profile, principal: Principal, customer_id: str, relationship_id: str, channel: str = "service_process"
) -> None:
    async def work(repos: ProfileRepositories) -> None:
        doc = (await _load(repos, principal, customer_id)).record
        rel = await repos.relationships.remove(relationship_id, customer_id=customer_id)
        if rel is None:
            raise NotFound(f"relationship {relationship_id} not found")
        await repos.history.add(
            history_row(
                customer_id=customer_id,
                version=doc["version"],
                action="relationship_removed",
                principal=principal,
                channel=channel,
                fields=["relationships"],
                changes={
                    "relationship": {
                        "id": rel["_id"],
                        "kind": rel["kind"],
                        "other_customer_id": _rel_view(rel, customer_id)["other_customer_id"],
                    }
                },
            )
        )

    await service.uow.run(work)


# --- merge ------------------------------------------------------------------------------------------


async def merge_customers(
    *, service: Profile, principal: Principal, survivor_id: str, body: MergeRequest
) -> dict[str, Any]:
    async def work(repos: ProfileRepositories) -> dict[str, Any]:
        survivor = (await _load(repos, principal, survivor_id)).record
        duplicate = (await _load(repos, principal, body.duplicate_id)).record
        check_merge(
            MergeParty(survivor["_id"], survivor["kind"], survivor["status"], survivor.get("core_customer_no")),
            MergeParty(duplicate["_id"], duplicate["kind"], duplicate["status"], duplicate.get("core_customer_no")),
        )
        now = _now()
        # The duplicate gives up its unique keys first, so the survivor can take them over.
        await repos.customers.mark_merged(duplicate, survivor_id=survivor["_id"], at=now, by=principal.staff_id)
        taken: dict[str, Any] = {}
        events: list[OutgoingMessage] = []
        if duplicate.get("core_customer_no") and not survivor.get("core_customer_no"):
            taken["core_customer_no"] = duplicate["core_customer_no"]
            if duplicate.get("aum"):
                taken["aum"] = duplicate["aum"]
                events.append(
                    service.event(
                        AssetsChanged(
                            customer_id=survivor["_id"],
                            core_customer_no=duplicate["core_customer_no"],
                            as_of=duplicate["aum"]["as_of"],
                            aum=duplicate["aum"]["amount"],
                            previous_aum=(survivor.get("aum") or {}).get("amount"),
                            previous_as_of=(survivor.get("aum") or {}).get("as_of"),
                            breakdown=duplicate["aum"].get("breakdown") or {},
                        ),
                        customer_id=survivor["_id"],
                    )
                )
            # The daily history moves with the core-banking link, re-keyed to the survivor.
            await repos.balances.move(duplicate["_id"], survivor["_id"])
        consents = merged_consents(survivor.get("consents") or {}, duplicate.get("consents") or {})
        for channel, entry in consents.items():
            before = (survivor.get("consents") or {}).get(channel)
            if before is None or before["granted"] != entry["granted"]:
                events.append(
                    service.event(
                        ConsentChanged(
                            customer_id=survivor["_id"],
                            channel=channel,
                            granted=entry["granted"],
                            changed_at=now,
                            source=entry["source"],
                            changed_by=principal.staff_id,
                        ),
                        customer_id=survivor["_id"],
                    )
                )
        tags = sorted(set(survivor.get("tags") or []) | set(duplicate.get("tags") or []))
        version = survivor["version"] + 1
        events.insert(
            0,
            service.event(
                CustomerMerged(
                    survivor_id=survivor["_id"], merged_id=duplicate["_id"], merged_by=principal.staff_id, merged_at=now
                ),
                customer_id=survivor["_id"],
            ),
        )
        new_doc = _updated(
            await repos.customers.absorb(
                survivor["_id"],
                duplicate_id=duplicate["_id"],
                changes={
                    **taken,
                    "consents": consents,
                    "tags": tags,
                    "version": version,
                    "updated_at": now,
                    "updated_by": principal.staff_id,
                },
                events=len(events),
            )
        )
        await repos.relationships.repoint(duplicate["_id"], survivor["_id"])
        for party_id, party_version, action in (
            (survivor["_id"], version, "merged_in"),
            (duplicate["_id"], duplicate["version"] + 1, "merged_away"),
        ):
            await repos.history.add(
                history_row(
                    customer_id=party_id,
                    version=party_version,
                    action=action,
                    principal=principal,
                    channel="service_process",
                    fields=[*sorted(taken), "status"] if action == "merged_away" else sorted(taken),
                    changes={"survivor_id": survivor["_id"], "merged_id": duplicate["_id"]},
                    note=body.reason,
                )
            )
        await repos.outbox.add(service.numbered(events, event_seq_after=new_doc["event_seq"]))
        return new_doc

    doc = await service.uow.run(work)
    service.published()
    return view(service, doc)


async def audit_log(
    *, service: Profile, customer_id: str | None, staff_id: str | None, limit: int = 200
) -> list[dict[str, Any]]:
    return await service.uow.reading().audit.read(target=customer_id, staff_id=staff_id, limit=limit)
