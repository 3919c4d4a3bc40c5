"""What complaints' application functions work with: the runtime, the store, the business date, and saving a
complaint with the events it caused (outbox) in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_complaints.adapters.store import ComplaintsStore, complaint_state
from crm_complaints.domain.complaint import Complaint
from crm_complaints.domain.policy import ComplaintsPolicy
from crm_complaints.settings import ComplaintsSettings
from crm_contracts.topics import COMPLAINTS_CASES
from crm_kit import audit as audit_trail
from crm_kit.jobs import LeasedJob
from crm_kit.policies import PolicyVersions
from crm_kit.outbox import outgoing_event
from crm_kit.runtime import Runtime

SOURCE = "crm/complaints"
BANK_TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class Complaints:
    rt: Runtime[ComplaintsSettings]
    store: ComplaintsStore
    policies: PolicyVersions[ComplaintsPolicy]
    scheduler_job: LeasedJob | None = None

    def today(self) -> date:
        return self.rt.settings.clock_date or datetime.now(BANK_TZ).date()

    def now(self) -> datetime:
        real = datetime.now(BANK_TZ)
        pinned = self.rt.settings.clock_date
        if pinned is None:
            return real.astimezone(UTC)
        return datetime.combine(pinned, real.time(), tzinfo=BANK_TZ).astimezone(UTC)


def local_day(at: datetime) -> date:
    return at.astimezone(BANK_TZ).date()


async def save(cx: Complaints, session: AsyncClientSession, c: Complaint, *, new: bool = False) -> None:
    state = complaint_state(c)
    if new:
        await cx.store.complaints.insert_one({"_id": c.complaint_id, **state}, session=session)
    else:
        await cx.store.complaints.update_one({"_id": c.complaint_id}, {"$set": state}, session=session)
    subject = c.customer_id or c.complaint_id
    await cx.rt.outbox.add(session, [outgoing_event(cx.rt.topic(COMPLAINTS_CASES), e, source=SOURCE, customer_id=subject)
                                     for e in c.events])
    c.events.clear()


async def audit(cx: Complaints, session: AsyncClientSession | None, *, staff_id: str, role: str, action: str,
                target: str, detail: dict[str, Any] | None = None) -> None:
    await audit_trail.write(cx.store.audit, session, staff_id=staff_id, role=role, action=action, target=target,
                            detail=detail)
