"""The business date and time of a service: today in the bank's time zone, or a pinned date (demos, replays,
tests); and the check every "when did it happen" field of a request gets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from crm_kit.errors import Invalid

BANK_TZ = ZoneInfo("Asia/Shanghai")


class PinnedDate(Protocol):
    """Where the clock reads a pinned business date (the service's settings: CLOCK_DATE)."""

    @property
    def clock_date(self) -> date | None: ...


class BusinessClock:
    def __init__(self, settings: PinnedDate) -> None:
        self._settings = settings  # read on every call: tests move a pinned date forward

    @property
    def pinned(self) -> date | None:
        return self._settings.clock_date

    def today(self) -> date:
        return self.pinned or datetime.now(BANK_TZ).date()

    def now(self) -> datetime:
        """Now, in UTC; with a pinned date, that date at the current local time."""
        real = datetime.now(BANK_TZ)
        if self.pinned is None:
            return real.astimezone(UTC)
        return datetime.combine(self.pinned, real.time(), tzinfo=BANK_TZ).astimezone(UTC)


def local_day(at: datetime) -> date:
    """The bank's calendar day of an instant."""
    return at.astimezone(BANK_TZ).date()


def past_instant(value: datetime | None, *, now: datetime, max_age: timedelta, field: str, what: str) -> datetime:
    """When something happened, as a request says: default now; with a time zone; not in the future (5 minutes of
    clock skew allowed); not older than `max_age`."""
    if value is None:
        return now
    if value.tzinfo is None:
        raise Invalid(f"{field}: give a time zone (e.g. +08:00)", field=field)
    if value > now + timedelta(minutes=5):
        raise Invalid(f"{field}: is in the future", field=field)
    if value < now - max_age:
        raise Invalid(f"{field}: more than {max_age.days} days ago; {what}", field=field)
    return value
