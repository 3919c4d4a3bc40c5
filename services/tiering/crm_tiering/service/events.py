"""Reading CloudEvents from other services' topics: known types are validated against their
contract, other types on the topic are skipped (a newer producer may add some)."""

from __future__ import annotations


from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from crm_contracts.envelope import EventData
from crm_contracts.registry import EVENTS


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    type: str
    specversion: str
    subject: str
    time: datetime
    data: dict  # type: ignore[type-arg]


@dataclass(frozen=True)
class Received:
    type: str
    subject: str
    time: datetime
    data: EventData | None
    """None for a type this service does not know."""


def parse_event(raw: bytes) -> Received:
    envelope = _Envelope.model_validate_json(raw)
    model = EVENTS.get(envelope.type)
    data = model.model_validate(envelope.data) if model else None
    return Received(envelope.type, envelope.subject, envelope.time, data)


