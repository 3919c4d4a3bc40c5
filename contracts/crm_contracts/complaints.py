"""Events published by the complaints service on `crm.complaints.cases` (key: customer id).

Only what other services react to today (tiering's churn warning); the complaints service (#5)
may add fields — readers ignore fields they do not know.
"""

from __future__ import annotations

from datetime import datetime

from crm_contracts.envelope import EventData


class ComplaintOpened(EventData):
    event_type = "crm.complaints.complaint.opened.v1"
    complaint_id: str
    customer_id: str
    opened_at: datetime
    category: str | None = None
    branch: str | None = None


class ComplaintClosed(EventData):
    event_type = "crm.complaints.complaint.closed.v1"
    complaint_id: str
    customer_id: str
    closed_at: datetime
    outcome: str | None = None


EVENTS: tuple[type[EventData], ...] = (ComplaintOpened, ComplaintClosed)
