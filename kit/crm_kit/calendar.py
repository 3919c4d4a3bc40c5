"""Chinese working days: public holidays and make-up working days (调休), for SLAs and due dates.

Data comes from the installed `chinesecalendar` package (each release knows a fixed range of years,
published by the State Council one year at a time) and from an optional JSON override file
(setting CALENDAR_OVERRIDE_FILE). A year in the override file is described entirely by the file and
takes precedence over chinesecalendar, so a bank can add a year before the package ships it, or
correct one:

    {"2099": {"holidays": {"2099-01-01": "New Year's Day"}, "workdays": ["2099-01-03"]}}

Listed holidays are days off, listed workdays are make-up working days, every other day is a working
day Monday to Friday and a day off on Saturday and Sunday.

A day whose year neither source knows raises `CalendarYearUnknown`: it is never silently treated as
an ordinary Monday-to-Friday year, since that would move every SLA deadline over a Golden Week.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chinese_calendar

__all__ = ["CalendarYearUnknown", "WorkingCalendar"]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YEAR_KEY = re.compile(r"^\d{4}$")


class CalendarYearUnknown(LookupError):
    """No holiday data for a year: neither the override file nor the installed chinesecalendar has it."""

    def __init__(self, year: int, *, builtin: tuple[int, int] | None = None, override_file: Path | None = None) -> None:
        self.year = year
        covered = f"the installed chinesecalendar covers {builtin[0]}-{builtin[1]}" if builtin else "no built-in data"
        where = f" (current override file: {override_file})" if override_file else ""
        super().__init__(
            f"no working-day calendar for year {year}: {covered}; provide the override file "
            f"(setting CALENDAR_OVERRIDE_FILE) with the year {year}{where}"
        )


@dataclass(frozen=True)
class _Year:
    holidays: dict[dt.date, str]  # statutory days off, with their name
    workdays: frozenset[dt.date]  # make-up working days (调休), usually a Saturday or Sunday


def _builtin_years() -> dict[int, _Year]:
    holidays: dict[int, dict[dt.date, str]] = {}
    workdays: dict[int, set[dt.date]] = {}
    for day, name in chinese_calendar.holidays.items():
        holidays.setdefault(day.year, {})[day] = str(name)
    for day in chinese_calendar.workdays:
        workdays.setdefault(day.year, set()).add(day)
    return {
        year: _Year(holidays=holidays.get(year, {}), workdays=frozenset(workdays.get(year, set())))
        for year in set(holidays) | set(workdays)
    }


def _as_date(d: dt.date) -> dt.date:
    return d.date() if isinstance(d, dt.datetime) else d


def _load_override(path: Path) -> dict[int, _Year]:
    def bad(key: str, problem: str) -> ValueError:
        return ValueError(f"calendar override file {path}: {key}: {problem}")

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"calendar override file {path}: cannot read it: {exc}") from exc
    try:
        raw: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"calendar override file {path}: invalid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"calendar override file {path}: expected an object keyed by year, got {type(raw).__name__}")

    years: dict[int, _Year] = {}
    for year_key, spec in raw.items():
        if not _YEAR_KEY.match(year_key):
            raise bad(repr(year_key), "a key must be a four-digit year such as \"2027\"")
        year = int(year_key)
        if not isinstance(spec, dict):
            raise bad(year_key, "expected an object with \"holidays\" and \"workdays\"")
        unknown = set(spec) - {"holidays", "workdays"}
        if unknown:
            raise bad(year_key, f"unknown key(s) {sorted(unknown)}; only \"holidays\" and \"workdays\" are allowed")

        def parse(key: str, value: Any) -> dt.date:
            if not isinstance(value, str) or not _ISO_DATE.match(value):
                raise bad(key, f"{value!r} is not a date in the form YYYY-MM-DD")
            try:
                day = dt.date.fromisoformat(value)
            except ValueError as exc:
                raise bad(key, f"{value!r} is not a valid date ({exc})") from exc
            if day.year != year:
                raise bad(key, f"{value} is outside the year {year}")
            return day

        holidays_raw = spec.get("holidays", {})
        if not isinstance(holidays_raw, dict):
            raise bad(f"{year_key}.holidays", "expected an object of \"YYYY-MM-DD\": \"holiday name\"")
        holidays: dict[dt.date, str] = {}
        for day_key, name in holidays_raw.items():
            key = f"{year_key}.holidays.{day_key}"
            day = parse(key, day_key)
            if not isinstance(name, str) or not name.strip():
                raise bad(key, "the holiday name must be a non-empty string")
            holidays[day] = name.strip()

        workdays_raw = spec.get("workdays", [])
        if not isinstance(workdays_raw, list):
            raise bad(f"{year_key}.workdays", "expected a list of \"YYYY-MM-DD\"")
        workdays: set[dt.date] = set()
        for i, value in enumerate(workdays_raw):
            day = parse(f"{year_key}.workdays[{i}]", value)
            if day in holidays:
                raise bad(f"{year_key}.workdays[{i}]", f"{day} is listed both as a holiday and as a workday")
            workdays.add(day)
        years[year] = _Year(holidays=holidays, workdays=frozenset(workdays))
    return years


class WorkingCalendar:
    """Working days in mainland China. Every method raises CalendarYearUnknown for a day whose year
    is unknown (see the module docstring); ranges are walked day by day, so keep them to years."""

    def __init__(self, override_file: Path | None = None) -> None:
        self.override_file = Path(override_file) if override_file is not None else None
        self._builtin = _builtin_years()
        self._override = _load_override(self.override_file) if self.override_file is not None else {}

    @property
    def builtin_years(self) -> tuple[int, int]:
        """First and last year the installed chinesecalendar knows."""
        return min(self._builtin), max(self._builtin)

    def knows(self, year: int) -> bool:
        return year in self._override or year in self._builtin

    def _year(self, year: int) -> _Year:
        data = self._override[year] if year in self._override else self._builtin.get(year)
        if data is None:
            raise CalendarYearUnknown(year, builtin=self.builtin_years if self._builtin else None,
                                      override_file=self.override_file)
        return data

    def is_workday(self, d: dt.date) -> bool:
        d = _as_date(d)
        data = self._year(d.year)
        return d in data.workdays or (d.weekday() < 5 and d not in data.holidays)

    def is_public_holiday(self, d: dt.date) -> bool:
        """A statutory day off (国庆, 春节 …, weekend days inside the holiday included); not an ordinary weekend."""
        d = _as_date(d)
        return d in self._year(d.year).holidays

    def holiday_name(self, d: dt.date) -> str | None:
        """The public holiday's name (chinesecalendar's English names, e.g. "National Day"), else None."""
        d = _as_date(d)
        return self._year(d.year).holidays.get(d)

    def next_workday(self, d: dt.date) -> dt.date:
        """d if it is a working day, else the first working day after it."""
        d = _as_date(d)
        while not self.is_workday(d):
            d += dt.timedelta(days=1)
        return d

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The n-th working day after start (start itself not counted); n == 0: next_workday(start)."""
        start = _as_date(start)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self._year(start.year)  # a start in an unknown year is an error even if the walk leaves it
        if n == 0:
            return self.next_workday(start)
        d = start
        while n:
            d += dt.timedelta(days=1)
            if self.is_workday(d):
                n -= 1
        return d

    def working_days_between(self, a: dt.date, b: dt.date) -> int:
        """Working days in (a, b]: a excluded, b included; 0 when b <= a."""
        a, b = _as_date(a), _as_date(b)
        self._year(a.year)
        self._year(b.year)
        count = 0
        d = a + dt.timedelta(days=1)
        while d <= b:
            count += self.is_workday(d)
            d += dt.timedelta(days=1)
        return count
