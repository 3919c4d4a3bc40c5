"""The calendar's routes, the same in every service that counts working days: `GET /v1/calendar` and
`PUT /v1/calendar/years/{year}`. (No postponed annotations here: FastAPI reads the dependencies' types.)"""

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query

from crm_kit import statutory_holidays as statute
from crm_kit.auth import Principal, Role, current_principal, require_roles
from crm_kit.calendar_sync import ServiceCalendar


def calendar_router(service_calendar: Callable[..., ServiceCalendar], *, recomputed: str) -> APIRouter:
    """`GET /v1/calendar` and `PUT /v1/calendar/years/{year}` for a service; `service_calendar` is a FastAPI
    dependency giving its ServiceCalendar, `recomputed` says what a change recomputes (for the OpenAPI text)."""
    router = APIRouter(prefix="/v1", tags=["calendar"])
    Calendar = Annotated[ServiceCalendar, Depends(service_calendar)]

    @router.get("/calendar")
    async def get_calendar(
        calendar: Calendar,
        principal: Annotated[Principal, Depends(current_principal)],  # noqa: ARG001 - authorisation only
        from_: Annotated[date, Query(alias="from")],
        to: date,
    ) -> dict[str, Any]:
        """Each day from `from` to `to` (inclusive, at most 400 days): working or rest, why (workday, weekend,
        public_holiday, make_up_workday) and its source — `official` (the State Council's schedule), `override` (the
        bank's override file) or `provisional` (a year no official schedule covers yet: the statutory holidays, no
        调休). `working_days` counts the working days of the range, for "due in N working days"."""
        return calendar.days(start=from_, end=to)

    @router.put(
        "/calendar/years/{year}",
        description=(
            "Load the official schedule of a year (`crm calendar load FILE`): checked against the notice's shape and "
            "the statute, stored, audited and published (`calendar.changed`); every replica applies it within "
            f"CALENDAR_REFRESH_SECONDS, and {recomputed} that rested on provisional days are recomputed."
        ),
    )
    async def put_calendar_year(
        calendar: Calendar,
        principal: Annotated[Principal, Depends(require_roles(Role.HEAD_OFFICE, Role.ADMIN))],
        year: Annotated[int, Path(ge=statute.FIRST_YEAR, le=statute.LAST_YEAR)],
        body: Annotated[
            Any,
            Body(
                description="the State Council notice's shape (see "
                "deploy/README.md) or the override file's shape "
                "for this year"
            ),
        ],
    ) -> dict[str, Any]:
        return await calendar.load_year(principal=principal, year=year, body=body)

    return router
