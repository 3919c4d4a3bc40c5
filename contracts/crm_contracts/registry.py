"""Every event type the CRM publishes, by CloudEvents type, for validation and schema snapshots."""

from crm_contracts import complaints, engagement, profile, tiering
from crm_contracts.envelope import EventData

EVENTS: dict[str, type[EventData]] = {
    e.event_type: e for e in (*profile.EVENTS, *tiering.EVENTS, *engagement.EVENTS, *complaints.EVENTS)
}
