"""Chinese working days: public holidays and make-up working days (调休), for SLAs and due dates.

Every day has a source, in this order of precedence:

- `official`: a State Council notice loaded at run time (`crm calendar load FILE`, stored in the service's
  database so that every replica applies it), else the installed `chinesecalendar` package (each release knows
  a fixed range of years, published by the State Council one year at a time);
- `override`: the JSON override file (setting CALENDAR_OVERRIDE_FILE), for a year the package does not ship or
  to correct one; re-read when it changes on disk. A year in the file is described entirely by the file:

      {"2099": {"holidays": {"2099-01-01": "New Year's Day"}, "workdays": ["2099-01-03"]}}

- `provisional`: any other year, from the statutory rules (crm_kit.statutory_holidays): the holidays the law
  fixes, weekend days given back, no 调休. The bank never stops for want of a calendar; a date computed on a
  provisional day is flagged (`depends_on_provisional`) and recomputed when the official schedule arrives.

Listed holidays are days off, listed workdays are make-up working days, every other day is a working day Monday
to Friday and a day off on Saturday and Sunday.

Only a day outside the years the lunar table covers (1901-2099) raises `CalendarYearUnknown`.

The notice's shape (`parse_notice`), as the State Council publishes it — per holiday its rest days and the
make-up working days:

    {"year": 2027, "notice": "国务院办公厅关于2027年部分节假日安排的通知", "published_on": "2026-11-12",
     "holidays": [{"name": "元旦", "rest": {"from": "2027-01-01", "to": "2027-01-03"}, "make_up_workdays": []},
                  {"name": "春节", "rest": {"from": "2027-02-05", "to": "2027-02-13"},
                   "make_up_workdays": ["2027-01-31", "2027-02-20"]}, …]}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import chinese_calendar

from crm_kit import statutory_holidays as statute

__all__ = [
    "CalendarYearUnknown",
    "ScheduleInvalid",
    "Source",
    "WorkingCalendar",
    "YearSchedule",
    "parse_notice",
    "parse_schedules",
    "parse_year",
    "statute_problems",
]

Source = Literal["official", "override", "provisional"]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YEAR_KEY = re.compile(r"^\d{4}$")
_LONGEST_HOLIDAY_DAYS = 14  # the longest break ever announced is 9 days (春节 2026); a longer range is a typo
_ENGLISH = {chinese: english for english, chinese in statute.HOLIDAY_NAMES.items()} | {
    "清明": statute.TOMB_SWEEPING,
    "端午": statute.DRAGON_BOAT,
    "中秋": statute.MID_AUTUMN,
    "国庆": statute.NATIONAL,
}


class CalendarYearUnknown(LookupError):
    """A day outside the years the calendar can compute at all (the lunar table's 1901-2099)."""

    def __init__(self, year: int, *, builtin: tuple[int, int] | None = None, override_file: Path | None = None) -> None:
        self.year = year
        covered = f"the installed chinesecalendar covers {builtin[0]}-{builtin[1]}" if builtin else "no built-in data"
        where = f" (current override file: {override_file})" if override_file else ""
        super().__init__(
            f"no working-day calendar for year {year}: {covered}, the statutory rules {statute.FIRST_YEAR}-"
            f"{statute.LAST_YEAR}; provide the override file (setting CALENDAR_OVERRIDE_FILE) with the year "
            f"{year}{where}"
        )


class ScheduleInvalid(ValueError):
    """A schedule (notice or override entry) that cannot be used; `field` names where the problem is."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name
        self.problem = problem


@dataclass(frozen=True)
class YearSchedule:
    """One year's days off and make-up working days."""

    year: int
    holidays: Mapping[dt.date, str]  # statutory days off, with their name (weekend days inside a break included)
    workdays: frozenset[dt.date]  # make-up working days (调休), usually a Saturday or Sunday
    source: Source = "official"
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)  # the notice's title, date …

    def to_json(self) -> dict[str, Any]:
        """The override file's shape of this year (what is stored and hashed)."""
        return {
            "holidays": {day.isoformat(): name for day, name in sorted(self.holidays.items())},
            "workdays": sorted(day.isoformat() for day in self.workdays),
        }


def _builtin_years() -> dict[int, YearSchedule]:
    holidays: dict[int, dict[dt.date, str]] = {}
    workdays: dict[int, set[dt.date]] = {}
    for day, name in chinese_calendar.holidays.items():
        holidays.setdefault(day.year, {})[day] = str(name)
    for day in chinese_calendar.workdays:
        workdays.setdefault(day.year, set()).add(day)
    return {
        year: YearSchedule(year, holidays=holidays.get(year, {}), workdays=frozenset(workdays.get(year, set())))
        for year in set(holidays) | set(workdays)
    }


def _as_date(d: dt.date) -> dt.date:
    return d.date() if isinstance(d, dt.datetime) else d


def _parse_day(where: str, value: Any, year: int) -> dt.date:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ScheduleInvalid(where, f"{value!r} is not a date in the form YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ScheduleInvalid(where, f"{value!r} is not a valid date ({exc})") from exc
    if day.year != year:
        raise ScheduleInvalid(where, f"{value} is outside the year {year}")
    return day


def parse_year(year_key: str, spec: Any, *, source: Source = "override") -> YearSchedule:
    """One year in the override file's shape: {"holidays": {"YYYY-MM-DD": name}, "workdays": ["YYYY-MM-DD"]}."""
    if not _YEAR_KEY.match(year_key):
        raise ScheduleInvalid(repr(year_key), 'a key must be a four-digit year such as "2027"')
    year = int(year_key)
    if not isinstance(spec, dict):
        raise ScheduleInvalid(year_key, 'expected an object with "holidays" and "workdays"')
    unknown = set(spec) - {"holidays", "workdays"}
    if unknown:
        raise ScheduleInvalid(year_key, f'unknown key(s) {sorted(unknown)}; only "holidays" and "workdays" are allowed')
    holidays_raw = spec.get("holidays", {})
    if not isinstance(holidays_raw, dict):
        raise ScheduleInvalid(f"{year_key}.holidays", 'expected an object of "YYYY-MM-DD": "holiday name"')
    holidays: dict[dt.date, str] = {}
    for day_key, name in holidays_raw.items():
        where = f"{year_key}.holidays.{day_key}"
        day = _parse_day(where, day_key, year)
        if not isinstance(name, str) or not name.strip():
            raise ScheduleInvalid(where, "the holiday name must be a non-empty string")
        holidays[day] = name.strip()
    workdays_raw = spec.get("workdays", [])
    if not isinstance(workdays_raw, list):
        raise ScheduleInvalid(f"{year_key}.workdays", 'expected a list of "YYYY-MM-DD"')
    workdays: set[dt.date] = set()
    for i, value in enumerate(workdays_raw):
        day = _parse_day(f"{year_key}.workdays[{i}]", value, year)
        if day in holidays:
            raise ScheduleInvalid(f"{year_key}.workdays[{i}]", f"{day} is listed both as a holiday and as a workday")
        workdays.add(day)
    return YearSchedule(year, holidays=holidays, workdays=frozenset(workdays), source=source)


def parse_notice(raw: Any) -> YearSchedule:
    """A State Council notice (the module docstring's shape): per holiday its name, the range of rest days (weekend
    days inside it included) and the make-up working days. Ranges may not overlap, a make-up working day is a
    Saturday or Sunday outside every range, and every date is in the notice's year."""
    if not isinstance(raw, dict):
        raise ScheduleInvalid("notice", f"expected an object, got {type(raw).__name__}")
    unknown = set(raw) - {"year", "notice", "document_no", "published_on", "holidays"}
    if unknown:
        raise ScheduleInvalid(
            "notice", f"unknown key(s) {sorted(unknown)}; allowed: year, notice, document_no, published_on, holidays"
        )
    year = raw.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not statute.FIRST_YEAR <= year <= statute.LAST_YEAR:
        raise ScheduleInvalid("year", f"{year!r} is not a year between {statute.FIRST_YEAR} and {statute.LAST_YEAR}")
    meta: dict[str, Any] = {}
    for key in ("notice", "document_no"):
        if raw.get(key) is not None:
            if not isinstance(raw[key], str) or not raw[key].strip():
                raise ScheduleInvalid(key, "expected a non-empty string")
            meta[key] = raw[key].strip()
    if raw.get("published_on") is not None:
        published = raw["published_on"]
        if not isinstance(published, str) or not _ISO_DATE.match(published):
            raise ScheduleInvalid("published_on", f"{published!r} is not a date in the form YYYY-MM-DD")
        meta["published_on"] = published
    entries = raw.get("holidays")
    if not isinstance(entries, list) or not entries:
        raise ScheduleInvalid("holidays", "expected a non-empty list of {name, rest: {from, to}, make_up_workdays}")
    holidays: dict[dt.date, str] = {}
    workdays: dict[dt.date, str] = {}
    for i, entry in enumerate(entries):
        where = f"holidays[{i}]"
        if not isinstance(entry, dict):
            raise ScheduleInvalid(where, "expected an object {name, rest: {from, to}, make_up_workdays}")
        unknown = set(entry) - {"name", "rest", "make_up_workdays"}
        if unknown:
            raise ScheduleInvalid(where, f"unknown key(s) {sorted(unknown)}; allowed: name, rest, make_up_workdays")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ScheduleInvalid(f"{where}.name", "the holiday name must be a non-empty string")
        name = _ENGLISH.get(name.strip(), name.strip())
        rest = entry.get("rest")
        if not isinstance(rest, dict) or set(rest) != {"from", "to"}:
            raise ScheduleInvalid(f"{where}.rest", 'expected {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}')
        first = _parse_day(f"{where}.rest.from", rest["from"], year)
        last = _parse_day(f"{where}.rest.to", rest["to"], year)
        if last < first:
            raise ScheduleInvalid(f"{where}.rest", f"ends ({last}) before it starts ({first})")
        if (last - first).days + 1 > _LONGEST_HOLIDAY_DAYS:
            raise ScheduleInvalid(
                f"{where}.rest",
                f"{(last - first).days + 1} days is longer than any break ({_LONGEST_HOLIDAY_DAYS} at most)",
            )
        day = first
        while day <= last:
            if day in holidays:
                raise ScheduleInvalid(f"{where}.rest", f"{day} is already a rest day of {holidays[day]}")
            holidays[day] = name
            day += dt.timedelta(days=1)
        make_up = entry.get("make_up_workdays", [])
        if not isinstance(make_up, list):
            raise ScheduleInvalid(f"{where}.make_up_workdays", 'expected a list of "YYYY-MM-DD"')
        for j, value in enumerate(make_up):
            day = _parse_day(f"{where}.make_up_workdays[{j}]", value, year)
            if day.weekday() < 5:
                raise ScheduleInvalid(
                    f"{where}.make_up_workdays[{j}]",
                    f"{day} is a {day:%A}: a make-up working day is a Saturday or Sunday",
                )
            workdays[day] = name
    for day in workdays:
        if day in holidays:
            raise ScheduleInvalid("holidays", f"{day} is both a rest day ({holidays[day]}) and a make-up working day")
    return YearSchedule(year, holidays=holidays, workdays=frozenset(workdays), source="official", meta=meta)


def parse_schedules(raw: Any) -> dict[int, YearSchedule]:
    """A notice (an object with "year" and "holidays"), a list of notices, or the override file's shape (an object
    keyed by year): the years it describes, as official schedules."""
    if isinstance(raw, list):
        years: dict[int, YearSchedule] = {}
        for i, item in enumerate(raw):
            try:
                schedule = parse_notice(item)
            except ScheduleInvalid as exc:
                raise ScheduleInvalid(f"[{i}].{exc.field}", exc.problem) from exc
            if schedule.year in years:
                raise ScheduleInvalid(f"[{i}].year", f"{schedule.year} is given twice")
            years[schedule.year] = schedule
        return years
    if isinstance(raw, dict) and "year" in raw and "holidays" in raw:
        schedule = parse_notice(raw)
        return {schedule.year: schedule}
    if isinstance(raw, dict):
        if not raw:
            raise ScheduleInvalid("schedule", "no year in it")
        parsed = [parse_year(key, spec, source="official") for key, spec in raw.items()]  # validates the key first
        return {schedule.year: schedule for schedule in parsed}
    raise ScheduleInvalid(
        "schedule", f"expected a notice, a list of notices or an object keyed by year, got {type(raw).__name__}"
    )


def statute_problems(schedule: YearSchedule) -> list[str]:
    """What an official schedule gets wrong against the law (years from 2025, the 2024 amendment): every day the
    statute gives off must be a rest day. Catches a notice typed for the wrong year or with a holiday left out."""
    if schedule.year < statute.STATUTE_FROM:
        return []
    problems = []
    for name, days in statute.statutory_holidays(schedule.year):
        for day in days:
            if day in schedule.workdays or (day not in schedule.holidays and day.weekday() < 5):
                problems.append(
                    f"{day} ({statute.HOLIDAY_NAMES[name]}, {name}) is a statutory holiday but a "
                    "working day in the schedule"
                )
    return problems


def _load_override(path: Path) -> dict[int, YearSchedule]:
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
    try:
        return {schedule.year: schedule for schedule in (parse_year(key, spec) for key, spec in raw.items())}
    except ScheduleInvalid as exc:
        raise ValueError(f"calendar override file {path}: {exc}") from exc


def _provisional(year: int) -> YearSchedule:
    return YearSchedule(year, holidays=statute.statutory_rest_days(year), workdays=frozenset(), source="provisional")


class WorkingCalendar:
    """Working days in mainland China (see the module docstring for where each year comes from). Ranges are walked
    day by day, so keep them to years."""

    def __init__(self, override_file: Path | None = None) -> None:
        self.override_file = Path(override_file) if override_file is not None else None
        self._builtin = _builtin_years()
        self._loaded: dict[int, YearSchedule] = {}
        self._override_mtime: float | None = None
        self._override = self._read_override() if self.override_file is not None else {}
        self._provisional: dict[int, YearSchedule] = {}

    # -- where the years come from ------------------------------------------------------------------------

    @property
    def builtin_years(self) -> tuple[int, int]:
        """First and last year the installed chinesecalendar knows."""
        return min(self._builtin), max(self._builtin)

    def _read_override(self) -> dict[int, YearSchedule]:
        assert self.override_file is not None
        years = _load_override(self.override_file)
        self._override_mtime = self.override_file.stat().st_mtime
        return years

    def reload_override_if_changed(self) -> bool:
        """Read the override file again when it changed on disk. A file that became unreadable or invalid is
        refused (ValueError) and the years read before stay in force."""
        if self.override_file is None:
            return False
        try:
            mtime = self.override_file.stat().st_mtime
        except OSError as exc:
            raise ValueError(f"calendar override file {self.override_file}: cannot read it: {exc}") from exc
        if mtime == self._override_mtime:
            return False
        years = _load_override(self.override_file)
        self._override_mtime = mtime
        changed = years != self._override
        self._override = years
        return changed

    @property
    def override_years(self) -> Mapping[int, YearSchedule]:
        """The years the override file describes, as last read."""
        return dict(self._override)

    def set_official(self, years: Mapping[int, YearSchedule]) -> bool:
        """The official schedules loaded at run time (the whole set, from the database). True when it changed."""
        years = {year: schedule for year, schedule in years.items()}
        if years == self._loaded:
            return False
        self._loaded = years
        return True

    def official(self, year: int) -> bool:
        """A loaded notice or the installed package covers the year (whatever the override file says)."""
        return year in self._loaded or year in self._builtin

    def knows(self, year: int) -> bool:
        """An official or override schedule covers the year (it is not provisional)."""
        return year in self._loaded or year in self._override or year in self._builtin

    def schedule(self, year: int) -> YearSchedule:
        data = self._loaded.get(year) or self._override.get(year) or self._builtin.get(year)
        if data is not None:
            return data
        if not statute.FIRST_YEAR <= year <= statute.LAST_YEAR:
            raise CalendarYearUnknown(
                year, builtin=self.builtin_years if self._builtin else None, override_file=self.override_file
            )
        if year not in self._provisional:
            self._provisional[year] = _provisional(year)
        return self._provisional[year]

    def source(self, d: dt.date) -> Source:
        return self.schedule(_as_date(d).year).source

    def is_provisional(self, d: dt.date) -> bool:
        return self.source(d) == "provisional"

    def depends_on_provisional(self, start: dt.date, end: dt.date) -> bool:
        """Whether a date found by walking from `start` to `end` (either order) crossed a provisional day."""
        first, last = sorted((_as_date(start), _as_date(end)))
        return any(not self.knows(year) for year in range(first.year, last.year + 1))

    def official_through(self, today: dt.date) -> int:
        """The last year of the unbroken run of official (or override) years from today's year; today's year - 1
        when even today's year is provisional."""
        year = _as_date(today).year
        while self.knows(year):
            year += 1
        return year - 1

    @property
    def revision(self) -> str:
        """A digest of what the run-time sources say (loaded notices and the override file): replicas with the same
        data have the same revision, and a date computed under another revision may be out of date."""
        return self._revision(self._loaded)

    def revision_with(self, schedule: YearSchedule) -> str:
        """The revision once `schedule` is loaded too (for the event that announces it)."""
        return self._revision({**self._loaded, schedule.year: schedule})

    def _revision(self, loaded: Mapping[int, YearSchedule]) -> str:
        data = {
            source: {str(year): schedule.to_json() for year, schedule in sorted(years.items())}
            for source, years in (("official", loaded), ("override", self._override))
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    # -- days -------------------------------------------------------------------------------------------------

    def is_workday(self, d: dt.date) -> bool:
        d = _as_date(d)
        data = self.schedule(d.year)
        return d in data.workdays or (d.weekday() < 5 and d not in data.holidays)

    def is_public_holiday(self, d: dt.date) -> bool:
        """A statutory day off (国庆, 春节 …, weekend days inside the holiday included); not an ordinary weekend."""
        d = _as_date(d)
        return d in self.schedule(d.year).holidays

    def holiday_name(self, d: dt.date) -> str | None:
        """The public holiday's name (chinesecalendar's English names, e.g. "National Day"), else None."""
        d = _as_date(d)
        return self.schedule(d.year).holidays.get(d)

    def day(self, d: dt.date) -> dict[str, Any]:
        """One day as channels show it: working or rest, why, and where that comes from."""
        d = _as_date(d)
        data = self.schedule(d.year)
        working = d in data.workdays or (d.weekday() < 5 and d not in data.holidays)
        kind = (
            "make_up_workday"
            if d in data.workdays
            else "workday"
            if working
            else "public_holiday"
            if d in data.holidays
            else "weekend"
        )
        return {
            "date": d,
            "working": working,
            "kind": kind,
            "holiday": data.holidays.get(d),
            "source": data.source,
            "provisional": data.source == "provisional",
        }

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
        self.schedule(start.year)  # a start outside the computable years is an error even if the walk leaves it
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
        self.schedule(a.year)
        self.schedule(b.year)
        count = 0
        d = a + dt.timedelta(days=1)
        while d <= b:
            count += self.is_workday(d)
            d += dt.timedelta(days=1)
        return count
