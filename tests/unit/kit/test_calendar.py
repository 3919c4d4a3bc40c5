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

from calendar_support import notice_2027
from crm_kit.calendar import (
    CalendarYearUnknown,
    ScheduleInvalid,
    WorkingCalendar,
    parse_notice,
    parse_schedules,
    statute_problems,
)
from crm_kit.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "deploy" / "calendar-override.example.json"

CAL = WorkingCalendar()

NOTICE_2027 = notice_2027()


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
# years no official schedule covers: provisional, from the statutory rules


def test_a_year_beyond_the_official_data_is_provisional_not_refused() -> None:
    d = date(2027, 3, 1)  # a Monday
    assert CAL.is_workday(d)
    assert CAL.source(d) == "provisional" and CAL.is_provisional(d)
    assert CAL.source(date(2026, 3, 2)) == "official" and not CAL.is_provisional(date(2026, 3, 2))
    assert not CAL.knows(2027)
    # 国庆 2027: Fri 10-01 to Sun 10-03 by the statute, Saturday and Sunday given back on Mon 10-04 and Tue 10-05.
    for day in range(1, 6):
        assert CAL.is_public_holiday(date(2027, 10, day)) and CAL.holiday_name(date(2027, 10, day)) == "National Day"
    assert CAL.next_workday(date(2027, 10, 1)) == date(2027, 10, 6)
    # No 调休 in a provisional year: the Saturday after the break stays a day off.
    assert not CAL.is_workday(date(2027, 10, 9))


def test_add_working_days_across_a_year_end_into_a_provisional_year() -> None:
    assert CAL.add_working_days(date(2026, 12, 30), 1) == date(2026, 12, 31)
    # Thu 2026-12-31 + 1: Fri 2027-01-01 is 元旦, then the weekend: Monday 2027-01-04.
    assert CAL.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert CAL.depends_on_provisional(date(2026, 12, 31), date(2027, 1, 4))
    assert not CAL.depends_on_provisional(date(2026, 12, 30), date(2026, 12, 31))
    assert CAL.working_days_between(date(2026, 12, 1), date(2027, 1, 10)) > 0


def test_spring_festival_2027_is_four_statutory_days_and_two_given_back() -> None:
    # 除夕 Fri 02-05, 初一 Sat 02-06, 初二 Sun 02-07, 初三 Mon 02-08; the weekend days given back on Tue and Wed.
    for day in range(5, 11):
        assert CAL.holiday_name(date(2027, 2, day)) == "Spring Festival"
    assert CAL.is_workday(date(2027, 2, 11))
    assert CAL.add_working_days(date(2027, 2, 4), 1) == date(2027, 2, 11)


def test_only_days_outside_the_lunar_table_are_unknown() -> None:
    for d in (date(2100, 3, 1), date(1899, 6, 2)):
        with pytest.raises(CalendarYearUnknown) as err:
            CAL.is_workday(d)
        assert str(d.year) in str(err.value)
        assert "CALENDAR_OVERRIDE_FILE" in str(err.value)
        assert err.value.year == d.year
    assert issubclass(CalendarYearUnknown, LookupError)
    for call in (CAL.is_public_holiday, CAL.holiday_name, CAL.next_workday, CAL.source):
        with pytest.raises(CalendarYearUnknown):
            call(date(2100, 3, 1))  # type: ignore[operator]


def test_official_through_and_revision() -> None:
    cal = WorkingCalendar()
    assert cal.official_through(date(2026, 12, 2)) == 2026
    assert cal.official_through(date(2027, 1, 1)) == 2026
    before = cal.revision
    assert cal.set_official({2027: WorkingCalendar().schedule(2027)}) is True
    assert cal.official_through(date(2026, 12, 2)) == 2027
    assert cal.revision != before
    assert cal.set_official({2027: WorkingCalendar().schedule(2027)}) is False


def test_a_loaded_notice_replaces_the_provisional_year() -> None:
    cal = WorkingCalendar()
    assert cal.is_public_holiday(date(2027, 10, 5)) and not cal.is_workday(date(2027, 10, 9))
    notice = parse_notice(NOTICE_2027)
    assert notice.year == 2027 and statute_problems(notice) == []
    cal.set_official({2027: notice})
    assert cal.source(date(2027, 10, 5)) == "official" and not cal.depends_on_provisional(
        date(2026, 12, 31), date(2027, 1, 4)
    )
    assert cal.is_public_holiday(date(2027, 10, 7)) and cal.is_workday(date(2027, 10, 9))  # 调休 Saturday
    assert cal.holiday_name(date(2027, 1, 1)) == "New Year's Day"  # 元旦 read as chinesecalendar's name
    assert cal.day(date(2027, 10, 9)) == {
        "date": date(2027, 10, 9),
        "working": True,
        "kind": "make_up_workday",
        "holiday": None,
        "source": "official",
        "provisional": False,
    }


def test_day_says_working_or_rest_and_the_source() -> None:
    assert CAL.day(date(2026, 10, 1)) == {
        "date": date(2026, 10, 1),
        "working": False,
        "kind": "public_holiday",
        "holiday": "National Day",
        "source": "official",
        "provisional": False,
    }
    assert CAL.day(date(2027, 1, 2))["kind"] == "weekend"
    assert CAL.day(date(2027, 1, 4)) == {
        "date": date(2027, 1, 4),
        "working": True,
        "kind": "workday",
        "holiday": None,
        "source": "provisional",
        "provisional": True,
    }


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
    assert cal.source(date(2027, 3, 1)) == "override" and cal.source(date(2028, 1, 3)) == "provisional"


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
        (
            {"2027": {"holidays": {"2028-01-01": "New Year's Day"}}},
            "2027.holidays.2028-01-01: 2028-01-01 is outside the year 2027",
        ),
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


def test_override_file_changed_on_disk_is_read_again(tmp_path: Path) -> None:
    path = write(tmp_path, {"2027": {"holidays": {"2027-03-01": "Bank Day"}}})
    cal = WorkingCalendar(path)
    assert not cal.is_workday(date(2027, 3, 1))
    assert cal.reload_override_if_changed() is False
    before = cal.revision
    path.write_text(json.dumps({"2027": {"holidays": {"2027-03-02": "Bank Day"}}}), encoding="utf-8")
    import os

    os.utime(path, (1, 1))  # a new modification time, whatever the file system's resolution
    assert cal.reload_override_if_changed() is True
    assert cal.is_workday(date(2027, 3, 1)) and not cal.is_workday(date(2027, 3, 2))
    assert cal.revision != before
    path.write_text("{broken", encoding="utf-8")
    os.utime(path, (2, 2))
    with pytest.raises(ValueError, match="invalid JSON"):
        cal.reload_override_if_changed()
    assert not cal.is_workday(date(2027, 3, 2))  # what was read before stays in force


# ---------------------------------------------------------------------------------------------
# the notice's shape


def _notice(**changes: Any) -> dict[str, Any]:
    notice = json.loads(json.dumps(NOTICE_2027))
    notice.update(changes)
    return notice


def _holiday(index: int, **changes: Any) -> dict[str, Any]:
    notice = _notice()
    notice["holidays"][index].update(changes)
    return notice


@pytest.mark.parametrize(
    ("notice", "field", "problem"),
    [
        (_notice(year="2027"), "year", "is not a year"),
        (_notice(holidays=[]), "holidays", "non-empty list"),
        (_notice(extra=1), "notice", "unknown key"),
        (_holiday(0, name=""), "holidays[0].name", "non-empty"),
        (_holiday(1, rest={"from": "2027-02-13", "to": "2027-02-05"}), "holidays[1].rest", "before it starts"),
        (_holiday(1, rest={"from": "2027-02-05"}), "holidays[1].rest", "expected"),
        (_holiday(6, rest={"from": "2027-10-01", "to": "2027-10-30"}), "holidays[6].rest", "longer than any break"),
        (
            _holiday(0, rest={"from": "2026-12-31", "to": "2027-01-01"}),
            "holidays[0].rest.from",
            "outside the year 2027",
        ),
        (_holiday(2, rest={"from": "2027-02-13", "to": "2027-02-14"}), "holidays[2].rest", "already a rest day"),
        (_holiday(3, make_up_workdays=["2027-04-26"]), "holidays[3].make_up_workdays[0]", "is a Monday"),
        (_holiday(3, make_up_workdays=["2027-02-06"]), "holidays", "both a rest day"),
    ],
)
def test_invalid_notices_are_refused_naming_the_field(notice: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(ScheduleInvalid) as err:
        parse_notice(notice)
    assert err.value.field == field
    assert problem in err.value.problem


def test_a_notice_for_the_wrong_year_breaks_the_statute() -> None:
    # The 2027 dates presented as 2028's notice: 2028's Spring Festival and Mid-autumn are working days in it.
    wrong = _notice(year=2028)
    for holiday in wrong["holidays"]:
        holiday["rest"] = {k: v.replace("2027-", "2028-") for k, v in holiday["rest"].items()}
        holiday["make_up_workdays"] = []
    problems = statute_problems(parse_notice(wrong))
    assert any("2028-01-25 (春节" in p for p in problems)
    assert all("statutory holiday but a working day" in p for p in problems)


def test_parse_schedules_takes_a_notice_a_list_or_the_override_shape() -> None:
    assert set(parse_schedules(NOTICE_2027)) == {2027}
    assert set(parse_schedules([NOTICE_2027])) == {2027}
    override = parse_schedules({"2027": {"holidays": {"2027-01-01": "New Year's Day"}, "workdays": []}})
    assert override[2027].source == "official" and override[2027].holidays == {date(2027, 1, 1): "New Year's Day"}
    with pytest.raises(ScheduleInvalid, match=r"\[1\].year"):
        parse_schedules([NOTICE_2027, NOTICE_2027])
    with pytest.raises(ScheduleInvalid):
        parse_schedules("2027")
    with pytest.raises(ScheduleInvalid, match="four-digit year"):
        parse_schedules({"__main__": [], "2027": {}})  # found by the API fuzzer: the key is checked before use


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


def test_the_recompute_gate_looks_after_a_change_and_now_and_then() -> None:
    from crm_kit.calendar_sync import RecomputeGate

    gate = RecomputeGate(every=3600)
    assert gate.due("r1")
    gate.done("r1")
    assert not gate.due("r1") and gate.due("r2")
    now_and_then = RecomputeGate(every=0)
    now_and_then.done("r1")
    assert now_and_then.due("r1")
