"""How the archive's records are written: values as stored, and history rows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from crm_kit.auth import Principal


def storable(value: Any) -> Any:
    """A value as the archive stores it: models as dicts, dates as ISO strings, Decimal kept (Decimal128)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="python")
    if isinstance(value, dict):
        return {k: storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def history_row(
    *,
    customer_id: str,
    version: int,
    action: str,
    principal: Principal,
    channel: str,
    fields: list[str],
    changes: dict[str, Any] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "version": version,
        "action": action,
        "at": datetime.now(UTC),
        "by": principal.staff_id,
        "role": principal.role.value,
        "channel": channel,
        "fields": fields,
        # Old and new values only for fields that are not sensitive.
        "changes": changes or {},
        "note": note,
    }
