"""Rules of the customer archive that a banker would ask about, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, TypeVar

from crm_kit.errors import RuleBroken

CustomerKind = Literal["individual", "corporate"]

# Encrypted at rest, masked in responses, never logged, never in events (of the birthday, events carry
# only its month and day, never the year or the date: see crm_contracts.profile).
SENSITIVE_FIELDS: tuple[str, ...] = ("id_document", "phones", "email", "address", "birthday")

# Fields every customer must have (BRIEF §2.2 "basic"); VIP records carry the rest.
BASIC_FIELDS: dict[CustomerKind, tuple[str, ...]] = {
    "individual": ("name", "gender", "birthday", "id_document", "phones", "branch"),
    "corporate": ("name", "id_document", "phones", "branch"),
}

# Fields staff may change with PATCH. Identity (id_document, kind) changes only by merge;
# owner changes come from tiering's assignment events; balances only from core banking.
EDITABLE_FIELDS: frozenset[str] = frozenset(
    {
        "name",
        "phones",
        "email",
        "address",
        "segment",
        "tags",
        "holdings",
        "credit_rating",
        "notes",
        "core_customer_no",
        "income",
        "assets_declared",
        "education",
        "occupation",
        "employer",
        "family",
        "lifestyle",
        "interests",
        "risk",
        "industry",
        "legal_representative",
    }
)
# Linking a record to a core-banking customer decides whose balances it shows: head office's call.
CORE_LINK_FIELDS: frozenset[str] = frozenset({"core_customer_no"})

SEGMENTS: dict[str, frozenset[str]] = {
    "individual": frozenset({"mass", "vip", "private_banking"}),
    "corporate": frozenset({"sme", "large", "multinational"}),
}

# Fields that belong to one kind of customer only.
KIND_ONLY_FIELDS: dict[str, frozenset[str]] = {
    "individual": frozenset(
        {
            "gender",
            "birthday",
            "income",
            "education",
            "occupation",
            "employer",
            "family",
            "lifestyle",
            "interests",
            "risk",
            "assets_declared",
        }
    ),
    "corporate": frozenset({"industry", "legal_representative"}),
}


def fields_not_patchable(kind: str, fields: set[str] | list[str]) -> list[str]:
    """Requested fields that PATCH may not change on a customer of this kind."""
    other = {"individual": "corporate", "corporate": "individual"}[kind]
    return sorted(f for f in fields if f not in EDITABLE_FIELDS or f in KIND_ONLY_FIELDS[other])


def check_segment(kind: str, segment: str | None) -> None:
    if segment is not None and segment not in SEGMENTS[kind]:
        raise RuleBroken(
            f"a {kind} customer's segment is one of {', '.join(sorted(SEGMENTS[kind]))}",
            kind="invalid",
            field="segment",
        )


RelationshipKind = Literal["family", "referred_by", "corporate_individual"]


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in after if before.get(k) != after.get(k))


def check_relationship(kind: RelationshipKind, *, from_id: str, to_id: str, from_kind: str, to_kind: str) -> None:
    if from_id == to_id:
        raise RuleBroken("a customer cannot be related to itself", kind="invalid", field="other_customer_id")
    if kind == "family" and "corporate" in (from_kind, to_kind):
        raise RuleBroken("family links join two individual customers", kind="invalid", field="other_customer_id")
    if kind == "corporate_individual" and {from_kind, to_kind} != {"corporate", "individual"}:
        raise RuleBroken(
            "corporate_individual links one corporate and one individual customer", kind="invalid", field="kind"
        )


@dataclass(frozen=True)
class MergeParty:
    id: str
    kind: str
    status: str
    core_customer_no: str | None


def check_merge(survivor: MergeParty, duplicate: MergeParty) -> None:
    """A duplicate can be folded into a survivor of the same kind when both are active and at most
    one is linked to a core-banking customer (two core customers must be merged in core banking first)."""
    if survivor.id == duplicate.id:
        raise RuleBroken("a customer cannot be merged into itself", kind="conflict", field="duplicate_id")
    for party, name in ((survivor, "survivor"), (duplicate, "duplicate_id")):
        if party.status != "active":
            raise RuleBroken(f"{name} {party.id} is {party.status}, not active", kind="conflict", field=name)
    if survivor.kind != duplicate.kind:
        raise RuleBroken(
            f"cannot merge a {duplicate.kind} customer into a {survivor.kind} one",
            kind="conflict",
            field="duplicate_id",
        )
    if (
        survivor.core_customer_no
        and duplicate.core_customer_no
        and survivor.core_customer_no != duplicate.core_customer_no
    ):
        raise RuleBroken(
            "both records are linked to different core-banking customers; merge them in core banking first",
            kind="conflict",
            field="duplicate_id",
        )


def merged_consents(survivor: Mapping[str, Any], duplicate: Mapping[str, Any]) -> dict[str, Any]:
    """Per channel, the most recent decision of the customer wins, whichever record holds it; on a tie
    the refusal wins — an opt-out must never be lost in a merge."""
    out = dict(survivor)
    for channel, entry in duplicate.items():
        mine = out.get(channel)
        if mine is None or (entry["changed_at"], not entry["granted"]) > (mine["changed_at"], not mine["granted"]):
            out[channel] = entry
    return out


# --- decisions taken by tiering ----------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class TierStamp:
    """Which of two tier decisions for a customer is the newer: a newer policy outranks an older one
    (a policy change re-tiers everyone, and results of the old policy still in flight are stale), then
    a later snapshot day, then the later decision on the same day."""

    policy_version: int
    as_of: date
    decided_at: datetime


Stamp = TypeVar("Stamp", datetime, TierStamp)


def supersedes(incoming: Stamp, current: Stamp | None) -> bool:
    """Whether a decision from tiering (an owner assignment by its `assigned_at`, a tier by its
    TierStamp) replaces the one the archive holds. Events can arrive late or twice: an older or equal
    one changes nothing, so the last decision taken wins, not the last one delivered."""
    return current is None or incoming > current
