"""Errors the application layer raises; the HTTP layer maps each to one status code."""

from __future__ import annotations

from typing import Any


class CrmError(Exception):
    status_code = 400

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(CrmError):
    status_code = 404


class Forbidden(CrmError):
    status_code = 403


class Conflict(CrmError):
    status_code = 409


class PreconditionFailed(CrmError):
    status_code = 412


class PreconditionRequired(CrmError):
    status_code = 428


class Invalid(CrmError):
    """A request that is well-formed but breaks a business rule; names the field."""

    status_code = 422
