"""CloudEvents 1.0 structured-mode JSON envelope used for every CRM event."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

D = TypeVar("D", bound=BaseModel)


class EventData(BaseModel):
    """Base for event payloads. `event_type` is the CloudEvents type the payload travels under."""

    # Readers ignore fields they do not know: adding a field is not a breaking change.
    model_config = ConfigDict(extra="ignore", frozen=True)
    event_type: ClassVar[str]


class CloudEvent(BaseModel, Generic[D]):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    source: str
    type: str
    specversion: str = "1.0"
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str = Field(description="customer id; also the Kafka key")
    datacontenttype: str = "application/json"
    correlationid: str | None = None
    causationid: str | None = None
    data: D

    @classmethod
    def wrap(
        cls,
        data: EventData,
        *,
        source: str,
        subject: str,
        correlationid: str | None = None,
        causationid: str | None = None,
    ) -> CloudEvent[Any]:
        generic: Any = CloudEvent  # parametrised by the data's class at run time, for its schema and parsing
        event: CloudEvent[Any] = generic[type(data)](
            source=source,
            type=data.event_type,
            subject=subject,
            correlationid=correlationid,
            causationid=causationid,
            data=data,
        )
        return event


class _Typed(BaseModel):
    type: str


def read_event(raw: bytes, known: Mapping[str, type[EventData]]) -> CloudEvent[Any] | None:
    """The CloudEvent with its payload validated against its contract when its type is in `known`; None
    for another type (a reader skips those: a producer may add types). Anything unreadable raises a
    ValidationError (a ValueError) naming the problem — the envelope's fields, or the payload's own — which
    a consumer sends to the dead letters."""
    model = known.get(_Typed.model_validate_json(raw).type)
    if model is None:
        return None
    envelope = CloudEvent[EventData].model_validate_json(raw)
    return envelope.model_copy(update={"data": model.model_validate(json.loads(raw)["data"])})
