"""The working-day calendar's change event, the same shape in every service that counts working days (complaints,
engagement); each publishes it under its own type on its own topic (key `calendar-<year>`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from crm_contracts.envelope import EventData


class CalendarChangedData(EventData):
    """The working-day calendar of the service changed: an official schedule was loaded for a year (or replaced), or
    the override file changed a year."""

    year: int
    source: Literal["official", "override"] = Field(
        default="official", description="a notice loaded with `crm calendar load`, or the override file"
    )
    change: Literal["loaded", "replaced", "removed"]
    was: Literal["provisional", "official", "override"] = Field(description="where the year's days came from before")
    rest_days: list[date] = Field(description="public holidays of the year (weekend days inside a break included)")
    make_up_workdays: list[date]
    notice: str | None = Field(default=None, description="the State Council notice's title")
    by: str
    at: datetime
    calendar_revision: str
