"""Every event type the CRM publishes, by CloudEvents type, for validation and schema snapshots."""

from typing import Any

from crm_contracts import complaints, engagement, profile, tiering
from crm_contracts.envelope import CloudEvent, EventData, read_event

EVENTS: dict[str, type[EventData]] = {
    e.event_type: e for e in (*profile.EVENTS, *tiering.EVENTS, *engagement.EVENTS, *complaints.EVENTS)
}


def read_known_event(raw: bytes) -> CloudEvent[Any] | None:
    """A consumer's parser: an event of a type the CRM publishes, validated against its contract; None for a type it
    does not know (skipped); anything unreadable raises, naming the problem (a dead letter)."""
    return read_event(raw, EVENTS)
