"""Rules of the customer archive that a banker would ask about, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from crm_contracts.envelope import EventData
from crm_kit.errors import Conflict, RuleBroken

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


# --- the customer's record ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Raised:
    """An event a customer raised in a unit of work, with the message that caused it when another service's."""

    data: EventData
    causationid: str | None = None
    correlationid: str | None = None


@dataclass
class Customer:
    """One customer as a unit of work holds it: the archive's record as read (sensitive values stay sealed; a
    partial read holds only the fields read), its version (what If-Match compares; a staff member's change takes
    the next one), its event numbering (`event_seq`, the number of its last event) and what this unit of work
    changed on it and the events it raised, in order. The customer repository loads and saves it."""

    id: str
    record: dict[str, Any]
    version: int | None
    """None when the read did not include it (the balances feed reads only what it needs)."""
    event_seq: int
    stored_version: int | None = None
    """The version as read: a save changes the record only if it is still at this version."""
    changes: dict[str, Any] = field(default_factory=dict)
    """Fields set by this unit of work, by (dotted) path, in the order set."""
    cleared: list[str] = field(default_factory=list)
    events: list[Raised] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.stored_version is None:
            self.stored_version = self.version

    @property
    def status(self) -> str:
        return str(self.record["status"])

    def must_be_active(self) -> None:
        """A merged record is frozen: it changes no more."""
        if self.status != "active":
            raise Conflict(f"customer {self.id} is {self.status}", merged_into=self.record.get("merged_into"))

    def set(self, values: Mapping[str, Any]) -> None:
        """Set fields (dotted paths reach into sub-documents); the record shows them at once, so later decisions
        in the same unit of work compare against what this one left."""
        for path, value in values.items():
            self.changes[path] = value
            *parents, last = path.split(".")
            target = self.record
            for part in parents:
                target = target.setdefault(part, {})
            target[last] = value

    def clear(self, name: str) -> None:
        """Remove a field (a link given up)."""
        self.record.pop(name, None)
        self.cleared.append(name)

    def take_next_version(self) -> int:
        """A staff member's change: the record's next version, which the next If-Match must name."""
        if self.version is None:
            raise ValueError(f"customer {self.id} was read without its version")
        self.version += 1
        return self.version

    def raise_event(self, data: EventData, *, causationid: str | None = None, correlationid: str | None = None) -> None:
        """An event for the customer's stream: it takes the next event number."""
        self.events.append(Raised(data, causationid, correlationid))
        self.event_seq += 1

    @property
    def changed(self) -> bool:
        return bool(self.changes or self.cleared or self.events)
