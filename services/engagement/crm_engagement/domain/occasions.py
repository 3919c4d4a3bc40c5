"""Care moments: birthdays, customer anniversaries and Chinese festivals, as dates in a window.

Pure domain code (no I/O). Lunar festivals are converted with `lunardate`, which covers lunar years
1900-2099; a lunar festival always falls in the solar year of its lunar year, so
`festival_date(name, year)` is a date in `year`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from lunardate import LunarDate

__all__ = ["FESTIVALS", "Festival", "Occasion", "anniversary_in", "birthday_in", "festival_date", "occasions_between"]


@dataclass(frozen=True)
class Festival:
    name: str
    chinese_name: str
    calendar: Literal["lunar", "solar"]
    month: int
    day: int


FESTIVALS: dict[str, Festival] = {
    "spring_festival": Festival("Spring Festival", "春节", "lunar", 1, 1),
    "lantern": Festival("Lantern Festival", "元宵", "lunar", 1, 15),
    "dragon_boat": Festival("Dragon Boat Festival", "端午", "lunar", 5, 5),
    "mid_autumn": Festival("Mid-Autumn Festival", "中秋", "lunar", 8, 15),
    "double_ninth": Festival("Double Ninth Festival", "重阳", "lunar", 9, 9),
    "new_year": Festival("New Year's Day", "元旦", "solar", 1, 1),
    "national_day": Festival("National Day", "国庆", "solar", 10, 1),
}

_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")


def festival_date(name: str, year: int) -> dt.date:
    """The festival's solar date in `year`; lunar festivals in the regular (never the leap) month."""
    festival = FESTIVALS.get(name)
    if festival is None:
        raise ValueError(f"unknown festival {name!r}; known: {', '.join(FESTIVALS)}")
    if festival.calendar == "solar":
        return dt.date(year, festival.month, festival.day)
    try:
        solar: dt.date = LunarDate(year, festival.month, festival.day, False).to_solar_date()
        return solar
    except ValueError as exc:
        raise ValueError(f"cannot place {name} in {year}: {exc}") from exc


def _on_or_feb28(year: int, month: int, day: int) -> dt.date:
    if (month, day) == (2, 29) and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return dt.date(year, month, day)


def _parse_month_day(month_day: str) -> tuple[int, int]:
    match = _MONTH_DAY.match(month_day)
    if match is None:
        raise ValueError(f"birthday {month_day!r} is not in the form MM-DD")
    month, day = int(match[1]), int(match[2])
    try:
        dt.date(2000, month, day)  # a leap year: 02-29 is valid
    except ValueError as exc:
        raise ValueError(f"birthday {month_day!r} is not a day of the year") from exc
    return month, day


def birthday_in(year: int, month_day: str) -> dt.date:
    """The birthday ("MM-DD") in `year`; 02-29 falls on 02-28 in a common year."""
    return _on_or_feb28(year, *_parse_month_day(month_day))


def anniversary_in(year: int, since: dt.date) -> dt.date | None:
    """The customer anniversary in `year`, or None up to the year of joining; Feb 29 falls on Feb 28."""
    if year <= since.year:
        return None
    return _on_or_feb28(year, since.month, since.day)


@dataclass(frozen=True)
class Occasion:
    kind: Literal["birthday", "anniversary", "festival"]
    name: str  # the festival's key in FESTIVALS, or "birthday" / "anniversary"
    on: dt.date
    year: int


def occasions_between(
    start: dt.date,
    end: dt.date,
    *,
    birth_month_day: str | None,
    customer_since: dt.date | None,
    festivals: Iterable[str],
) -> list[Occasion]:
    """Every occasion on a day in [start, end] (both included), sorted by date, then kind, then name.
    The window may span years; an empty list when end < start."""
    names = list(dict.fromkeys(festivals))
    for name in names:
        if name not in FESTIVALS:
            raise ValueError(f"unknown festival {name!r}; known: {', '.join(FESTIVALS)}")
    if birth_month_day is not None:
        _parse_month_day(birth_month_day)

    found: list[Occasion] = []
    for year in range(start.year, end.year + 1):
        if birth_month_day is not None:
            found.append(Occasion("birthday", "birthday", birthday_in(year, birth_month_day), year))
        if customer_since is not None:
            on = anniversary_in(year, customer_since)
            if on is not None:
                found.append(Occasion("anniversary", "anniversary", on, year))
        for name in names:
            found.append(Occasion("festival", name, festival_date(name, year), year))
    return sorted((o for o in found if start <= o.on <= end), key=lambda o: (o.on, o.kind, o.name))
