"""Deadlines (BRIEF §5.3) with the real working-day calendar: internal targets in working days (holidays and 调休),
the regulator's clock in calendar days, and the days under external appraisal that do not count."""

from datetime import date

import pytest

from crm_complaints.domain import deadlines
from crm_complaints.domain.policy import DEFAULT_POLICY, ComplaintsPolicy, Targets
from crm_kit.calendar import CalendarYearUnknown, WorkingCalendar

CAL = WorkingCalendar()


def due(received_on: date, working_days: int) -> date:
    return deadlines.internal_due(
        received_on, working_days, add_working_days=CAL.add_working_days, next_workday=CAL.next_workday
    )


def targets(received_on: date, *, priority: bool = False) -> tuple[date, date]:
    t = deadlines.targets_for(DEFAULT_POLICY, priority=priority)
    return due(received_on, t.acknowledge), due(received_on, t.first_contact)


def test_the_calendar_knows_the_national_day_holiday_of_2026():
    assert CAL.is_workday(date(2026, 9, 30))
    assert not any(CAL.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert CAL.is_workday(date(2026, 10, 10))  # 调休: a Saturday worked
    assert date(2026, 10, 10).weekday() == 5


def test_received_on_the_last_working_day_before_golden_week():
    # 2026-09-30, Wednesday; 国庆 Oct 1-7 off.
    assert targets(date(2026, 9, 30)) == (date(2026, 10, 8), date(2026, 10, 9))


def test_received_on_a_friday_before_a_make_up_saturday():
    # Friday 2026-10-09; Saturday 2026-10-10 is a 调休 working day, Sunday 10-11 is not.
    assert targets(date(2026, 10, 9)) == (date(2026, 10, 10), date(2026, 10, 12))


def test_received_during_the_holiday_counts_from_the_first_working_day():
    assert targets(date(2026, 10, 3)) == (date(2026, 10, 8), date(2026, 10, 9))


def test_ordinary_week():
    monday = date(2026, 6, 1)
    assert targets(monday) == (date(2026, 6, 2), date(2026, 6, 3))
    friday = date(2026, 6, 5)
    assert targets(friday) == (date(2026, 6, 8), date(2026, 6, 9))


def test_priority_targets_are_the_same_working_day_and_the_next():
    monday = date(2026, 6, 1)
    assert targets(monday, priority=True) == (monday, date(2026, 6, 2))


def test_priority_received_on_a_sunday_is_acknowledged_the_next_working_day():
    sunday = date(2026, 6, 7)
    assert sunday.weekday() == 6
    ack, first = targets(sunday, priority=True)
    assert ack == date(2026, 6, 8)
    assert first == date(2026, 6, 8)  # the first working day after the day of receipt


def test_priority_received_in_golden_week():
    assert targets(date(2026, 10, 1), priority=True) == (date(2026, 10, 8), date(2026, 10, 8))
    assert targets(date(2026, 9, 30), priority=True) == (date(2026, 9, 30), date(2026, 10, 8))


def test_targets_for_picks_the_priority_targets():
    assert deadlines.targets_for(DEFAULT_POLICY, priority=False) == Targets(acknowledge=1, first_contact=2)
    assert deadlines.targets_for(DEFAULT_POLICY, priority=True) == Targets(acknowledge=0, first_contact=1)
    custom = ComplaintsPolicy(targets=Targets(acknowledge=2, first_contact=5))
    assert deadlines.targets_for(custom, priority=False).first_contact == 5


@pytest.mark.parametrize(
    "channel,tier,expected",
    [
        ("regulator_forwarded", None, True),
        ("regulator_forwarded", "small", True),
        ("hotline", "vip", True),
        ("branch", "key", True),
        ("online", "potential", False),
        ("email", None, False),
    ],
)
def test_priority_for_regulator_forwarded_cases_and_high_tiers(channel, tier, expected):
    assert deadlines.is_priority(channel=channel, tier=tier, policy=DEFAULT_POLICY) is expected


def test_a_year_without_an_official_schedule_uses_the_statutory_holidays_not_an_ordinary_week():
    # 2027 is provisional: 国庆 Fri 10-01 to Sun 10-03 with the weekend days given back on Mon and Tue.
    assert due(date(2027, 9, 30), 1) == date(2027, 10, 6)
    assert due(date(2027, 10, 2), 0) == date(2027, 10, 6)
    with pytest.raises(CalendarYearUnknown):  # only beyond the lunar table
        due(date(2100, 3, 1), 0)


def test_the_regulator_decision_is_due_15_calendar_days_after_receipt():
    assert deadlines.decision_due(received_on=date(2026, 6, 1), allowed_days=15, paused_days=0) == date(2026, 6, 16)
    # Calendar days: Golden Week counts.
    assert deadlines.decision_due(received_on=date(2026, 9, 30), allowed_days=15, paused_days=0) == date(2026, 10, 15)


def test_extended_and_paused_decision_dates():
    assert deadlines.decision_due(received_on=date(2026, 6, 1), allowed_days=30, paused_days=0) == date(2026, 7, 1)
    assert deadlines.decision_due(received_on=date(2026, 6, 1), allowed_days=15, paused_days=7) == date(2026, 6, 23)
    assert deadlines.decision_due(received_on=date(2026, 6, 1), allowed_days=60, paused_days=0) == date(2026, 7, 31)


def test_paused_days_over_closed_pauses_without_the_end_day():
    pauses = [(date(2026, 6, 5), date(2026, 6, 12)), (date(2026, 6, 20), date(2026, 6, 22))]
    assert deadlines.paused_days(pauses, today=date(2026, 7, 1)) == 7 + 2


def test_a_pause_ending_the_day_it_started_is_no_pause():
    assert deadlines.paused_days([(date(2026, 6, 5), date(2026, 6, 5))], today=date(2026, 7, 1)) == 0


def test_a_running_pause_counts_up_to_today():
    pauses = [(date(2026, 6, 1), date(2026, 6, 3)), (date(2026, 6, 5), None)]
    assert deadlines.paused_days(pauses, today=date(2026, 6, 5)) == 2
    assert deadlines.paused_days(pauses, today=date(2026, 6, 10)) == 2 + 5
    assert deadlines.paused_days(pauses, today=date(2026, 6, 11)) == 2 + 6


def test_no_pauses():
    assert deadlines.paused_days([], today=date(2026, 6, 1)) == 0
