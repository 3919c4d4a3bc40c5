"""Errors the domain and the application layer raise; the kit's HTTP layer maps each to one status code, in one
place (crm_kit.http), so no call site translates one error into another."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

Record = TypeVar("Record")
Kind = Literal["invalid", "conflict", "forbidden", "not_found"]
STATUS_OF_KIND: dict[str, int] = {"invalid": 422, "conflict": 409, "forbidden": 403, "not_found": 404}


class CrmError(Exception):
    status_code = 400

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class PreconditionFailed(CrmError):
    status_code = 412


class PreconditionRequired(CrmError):
    status_code = 428


class RuleBroken(CrmError):
    """A business rule refused the request. `kind` says how the bank answers: invalid (422: fix the field named),
    conflict (409: not now, or not in this state), forbidden (403: not by this role), not_found (404). `field`,
    when given, names what to fix and starts the detail."""

    def __init__(self, detail: str, *, kind: Kind = "conflict", field: str | None = None, **extra: Any) -> None:
        if field is not None and not detail.startswith(field):
            detail = f"{field}: {detail}"
        super().__init__(detail, **({"field": field} if field is not None else {}), **extra)
        self.kind: Kind = kind
        self.field = field
        self.status_code = STATUS_OF_KIND[kind]


class Invalid(RuleBroken):
    """Well-formed but refused by a rule: fix the field named (422)."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail, kind="invalid", **extra)


class Conflict(RuleBroken):
    """Not in the record's current state, or not now (409)."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail, kind="conflict", **extra)


class Forbidden(RuleBroken):
    """Not by this role, or outside the caller's data scope where that may be said (403)."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail, kind="forbidden", **extra)


class NotFound(RuleBroken):
    """No such record, or one the caller may not know of (404)."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail, kind="not_found", **extra)


def must_exist(record: Record | None, what: str) -> Record:
    """A record read back in the transaction that wrote it, or 404 naming it (it was removed meanwhile)."""
    if record is None:
        raise NotFound(f"{what} not found")
    return record
