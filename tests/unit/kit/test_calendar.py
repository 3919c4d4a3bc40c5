"""crm_kit.calendar: Chinese working days from chinesecalendar, an override file, unknown years refused."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_kit.calendar import CalendarYearUnknown, WorkingCalendar
from crm_kit.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "deploy" / "calendar-override.example.json"

CAL = WorkingCalendar()


def write(tmp_path: Path, data: Any, name: str = "override.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# built-in data (chinesecalendar 1.11: 2004-2026)


def test_installed_data_covers_2004_to_2026() -> None:
    assert CAL.builtin_years == (2004, 2026)
    assert CAL.knows(2004) and CAL.knows(2026)
    assert not CAL.knows(2003) and not CAL.knows(2027)


def test_day_before_national_day_plus_one_working_day_is_after_the_holiday() -> None:
    # 国庆 2026: 10-01 .. 10-07 off; 2026-09-30 is a Wednesday and a working day.
    assert CAL.is_workday(date(2026, 9, 30))
    assert CAL.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert CAL.working_days_between(date(2026, 9, 30), date(2026, 10, 8)) == 1


def test_make_up_saturday_is_a_working_day() -> None:
    # 2026-10-10 is a Saturday worked in exchange for the National Day break (chinesecalendar data).
    saturday = date(2026, 10, 10)
    assert saturday.weekday() == 5
    assert saturday in chinese_calendar.workdays
    assert CAL.is_workday(saturday)
    assert not CAL.is_public_holiday(saturday)
    assert CAL.holiday_name(saturday) is None
    assert CAL.next_workday(saturday) == saturday
    # And 2025-10-11, the Saturday after 国庆 2025.
    assert CAL.is_workday(date(2025, 10, 11))


def test_weekends_are_not_public_holidays_but_national_day_is() -> None:
    ordinary_saturday, ordinary_sunday = date(2026, 3, 7), date(2026, 3, 8)
    for d in (ordinary_saturday, ordinary_sunday):
        assert not CAL.is_workday(d)
        assert not CAL.is_public_holiday(d)
        assert CAL.holiday_name(d) is None
    for day in range(1, 8):
        d = date(2026, 10, day)
        assert CAL.is_public_holiday(d)
        assert not CAL.is_workday(d)
        assert CAL.holiday_name(d) == "National Day"
    assert CAL.is_public_holiday(date(2026, 2, 17))  # 春节
    assert CAL.holiday_name(date(2026, 2, 17)) == "Spring Festival"
    assert not CAL.is_public_holiday(date(2026, 10, 8))


def test_next_workday_and_add_zero() -> None:
    assert CAL.next_workday(date(2026, 10, 1)) == date(2026, 10, 8)
    assert CAL.add_working_days(date(2026, 10, 1), 0) == date(2026, 10, 8)
    assert CAL.add_working_days(date(2026, 9, 30), 0) == date(2026, 9, 30)
    with pytest.raises(ValueError):
        CAL.add_working_days(date(2026, 9, 30), -1)


def test_working_days_between_is_half_open() -> None:
    monday, friday = date(2026, 3, 9), date(2026, 3, 13)
    assert CAL.working_days_between(monday, friday) == 4  # Tue..Fri
    assert CAL.working_days_between(monday, monday) == 0
    assert CAL.working_days_between(friday, monday) == 0


def test_add_working_days_across_a_year_end_into_a_known_year() -> None:
    # 2026-01-01..03 off, Sunday 2026-01-04 is a make-up working day.
    assert CAL.add_working_days(date(2025, 12, 31), 1) == date(2026, 1, 4)
    assert CAL.working_days_between(date(2025, 12, 31), date(2026, 1, 4)) == 1


# ---------------------------------------------------------------------------------------------
# unknown years


def test_unknown_year_raises_and_says_what_to_do() -> None:
    for d in (date(2027, 3, 1), date(2003, 6, 2)):
        with pytest.raises(CalendarYearUnknown) as err:
            CAL.is_workday(d)
        assert str(d.year) in str(err.value)
        assert "CALENDAR_OVERRIDE_FILE" in str(err.value) and "override file" in str(err.value)
        assert err.value.year == d.year
    assert issubclass(CalendarYearUnknown, LookupError)
    for call in (CAL.is_public_holiday, CAL.holiday_name, CAL.next_workday):
        with pytest.raises(CalendarYearUnknown):
            call(date(2027, 3, 1))  # type: ignore[operator]
    with pytest.raises(CalendarYearUnknown):
        CAL.working_days_between(date(2026, 12, 1), date(2027, 1, 10))
    with pytest.raises(CalendarYearUnknown):
        CAL.add_working_days(date(2027, 1, 4), 0)


def test_add_working_days_across_a_year_end_into_an_unknown_year_raises() -> None:
    assert CAL.add_working_days(date(2026, 12, 30), 1) == date(2026, 12, 31)
    with pytest.raises(CalendarYearUnknown, match="2027"):
        CAL.add_working_days(date(2026, 12, 31), 1)


def test_override_file_describes_2027(tmp_path: Path) -> None:
    path = write(tmp_path, {"2027": {"holidays": {"2027-01-01": "New Year's Day"}, "workdays": ["2027-02-07"]}})
    cal = WorkingCalendar(path)
    assert cal.knows(2027) and cal.knows(2026)
    assert cal.is_public_holiday(date(2027, 1, 1)) and cal.holiday_name(date(2027, 1, 1)) == "New Year's Day"
    assert not cal.is_workday(date(2027, 1, 1))
    assert cal.is_workday(date(2027, 2, 7))  # a listed Sunday
    assert not cal.is_workday(date(2027, 1, 2))  # ordinary Saturday
    assert cal.is_workday(date(2027, 3, 1))  # ordinary Monday
    # Thu 2026-12-31 + 1: Fri 2027-01-01 is off, so Monday 2027-01-04.
    assert cal.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert cal.working_days_between(date(2026, 12, 31), date(2027, 1, 4)) == 1
    with pytest.raises(CalendarYearUnknown, match="2028"):
        cal.is_workday(date(2028, 1, 3))


def test_override_takes_precedence_over_chinesecalendar(tmp_path: Path) -> None:
    cal = WorkingCalendar(write(tmp_path, {"2026": {"holidays": {"2026-03-02": "Bank Day"}}}))
    # The whole year comes from the file: 国庆 and the make-up Saturday are gone.
    assert cal.is_workday(date(2026, 10, 1)) and not cal.is_public_holiday(date(2026, 10, 1))
    assert not cal.is_workday(date(2026, 10, 10))
    assert cal.is_public_holiday(date(2026, 3, 2)) and cal.holiday_name(date(2026, 3, 2)) == "Bank Day"
    # Other years still come from chinesecalendar.
    assert cal.is_public_holiday(date(2025, 10, 1))


def test_example_file_loads(tmp_path: Path) -> None:
    cal = WorkingCalendar(EXAMPLE)
    assert cal.knows(2099)
    assert cal.is_public_holiday(date(2099, 10, 1))
    assert cal.is_workday(date(2099, 10, 10))  # a make-up Saturday
    assert cal.add_working_days(date(2099, 9, 30), 1) == date(2099, 10, 8)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "invalid JSON"),
        ('["2027"]', "expected an object keyed by year"),
        ({"27": {}}, "'27'"),
        ({"2027": []}, "2027"),
        ({"2027": {"holiday": {}}}, "unknown key"),
        ({"2027": {"holidays": {"2028-01-01": "New Year's Day"}}}, "2027.holidays.2028-01-01: 2028-01-01 is outside the year 2027"),
        ({"2027": {"workdays": ["2026-12-27"]}}, r"2027.workdays[0]: 2026-12-27 is outside the year 2027"),
        ({"2027": {"holidays": {"2027-02-30": "x"}}}, "2027.holidays.2027-02-30: '2027-02-30' is not a valid date"),
        ({"2027": {"holidays": {"27-1-1": "x"}}}, "not a date in the form YYYY-MM-DD"),
        ({"2027": {"holidays": {"2027-01-01": ""}}}, "2027.holidays.2027-01-01: the holiday name"),
        ({"2027": {"holidays": {}, "workdays": "2027-02-07"}}, "2027.workdays: expected a list"),
        (
            {"2027": {"holidays": {"2027-02-07": "Spring Festival"}, "workdays": ["2027-02-07"]}},
            "2027.workdays[0]: 2027-02-07 is listed both as a holiday and as a workday",
        ),
    ],
)
def test_invalid_override_files_are_refused(tmp_path: Path, content: Any, expected: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ValueError) as err:
        WorkingCalendar(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_missing_override_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        WorkingCalendar(tmp_path / "absent.json")


def test_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = base64.b64encode(bytes(32)).decode()
    common: dict[str, Any] = dict(service_name="t", port=1, mongodb_database="t", crm_data_key=key, crm_lookup_key=key)
    monkeypatch.delenv("CALENDAR_OVERRIDE_FILE", raising=False)
    assert ServiceSettings(**common).calendar_override_file is None
    monkeypatch.setenv("CALENDAR_OVERRIDE_FILE", str(tmp_path / "cal.json"))
    assert ServiceSettings(**common).calendar_override_file == tmp_path / "cal.json"


# ---------------------------------------------------------------------------------------------
# properties over the known years

known_days = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 10, 31))


@settings(max_examples=200, deadline=None)
@given(d=known_days, n=st.integers(min_value=1, max_value=30))
def test_add_working_days_property(d: date, n: int) -> None:
    result = CAL.add_working_days(d, n)
    assert result > d
    assert CAL.is_workday(result)
    assert CAL.working_days_between(d, result) == n
    assert CAL.working_days_between(d, result - timedelta(days=1)) == n - 1  # the first such day


@settings(max_examples=200, deadline=None)
@given(d=known_days)
def test_next_workday_property(d: date) -> None:
    result = CAL.add_working_days(d, 0)
    assert result == CAL.next_workday(d) >= d
    assert CAL.is_workday(result)
    assert CAL.working_days_between(d, result) == (0 if result == d else 1)


@settings(max_examples=300, deadline=None)
@given(d=known_days)
def test_matches_chinesecalendar(d: date) -> None:
    assert CAL.is_workday(d) == chinese_calendar.is_workday(d)
    assert CAL.is_public_holiday(d) == (d in chinese_calendar.holidays)
