"""The complaint aggregate: intake, the standard process, extensions and appraisal pauses, the deadline checks that
warn, record a breach and escalate once, resolution with compensation approval, closing and reopening."""

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from crm_complaints.adapters.store import complaint_from_doc, complaint_state, with_calendar
from crm_complaints.domain.complaint import APPRAISAL_BACKDATING_DAYS, Complaint, RuleBroken
from crm_complaints.domain.policy import DEFAULT_POLICY, ComplaintsPolicy, Regulator
from crm_complaints.domain.workflow import IllegalTransition
from crm_contracts.complaints import (
    ComplaintClosed,
    ComplaintOpened,
    ComplaintStatusChanged,
    ComplaintTargetsChanged,
    DeadlineApproaching,
    DecisionNotified,
    SlaBreached,
)
from crm_kit.calendar import WorkingCalendar, parse_year

CAL = WorkingCalendar()
RECEIVED = date(2026, 6, 1)  # a Monday: acknowledge due 06-02, first contact 06-03, decision 06-16


def at(d: date, hour: int = 10) -> datetime:
    return datetime.combine(d, time(hour), tzinfo=UTC)


def d(day: int, month: int = 6) -> date:
    return date(2026, month, day)


def complaint(*, received_on: date = RECEIVED, policy: ComplaintsPolicy = DEFAULT_POLICY, **kw) -> Complaint:
    fields = {
        "complaint_id": "K1",
        "customer_id": "C1",
        "channel": "hotline",
        "category": "fees",
        "severity": "medium",
        "received_at": at(received_on, 9),
        "received_on": received_on,
        "branch": "B1",
    }
    c = Complaint(**{**fields, **kw})
    c.set_targets(policy, add_working_days=CAL.add_working_days, next_workday=CAL.next_workday)
    return c


def opened(**kw) -> Complaint:
    c = complaint(**kw)
    c.opened(by="intake", today=c.received_on)
    c.events.clear()
    return c


def investigating(**kw) -> Complaint:
    """Acknowledged, contacted, assigned and under investigation: only the decision target is open."""
    c = opened(**kw)
    c.move("acknowledged", by="intake", at=at(c.received_on, 11))
    c.assign("h1", by="supervisor", at=at(c.received_on, 12))
    c.contacted(by="h1", at=at(c.received_on, 13), note="called")
    c.move("investigating", by="h1", at=at(c.received_on, 14))
    c.events.clear()
    return c


def resolved(compensation: str = "0.00", *, by: str = "h1", **kw) -> Complaint:
    c = investigating(**kw)
    c.resolve(
        by=by,
        at=at(d(5)),
        explanation="fee refunded",
        apology=True,
        compensation=Decimal(compensation),
        root_cause="fees",
        policy=DEFAULT_POLICY,
    )
    c.events.clear()
    return c


def tell(c: Complaint, *, channel: str = "phone") -> None:
    """The decision is communicated to the complainant on the day it was made (before a case may close)."""
    day = c.resolved_at.date()
    c.notify(at=at(day, 16), notified_on=day, channel=channel, by="h1", recorded_at=at(day, 17))


def check(c: Complaint, today: date) -> list:
    before = len(c.events)
    c.check_deadlines(today=today, policy=DEFAULT_POLICY, at=at(today, 6))
    return c.events[before:]


def of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


# -- targets ---------------------------------------------------------------------------------------------------


def test_set_targets_with_the_working_calendar():
    c = complaint()
    assert (c.acknowledge_due, c.first_contact_due) == (d(2), d(3))
    assert c.allowed_days == 15
    assert c.decision_due(today=RECEIVED) == d(16)


def test_set_targets_across_golden_week():
    c = complaint(received_on=date(2026, 9, 30))
    assert (c.acknowledge_due, c.first_contact_due) == (date(2026, 10, 8), date(2026, 10, 9))
    assert c.decision_due(today=date(2026, 9, 30)) == date(2026, 10, 15)


def test_set_targets_for_a_priority_case_received_on_a_sunday():
    c = complaint(received_on=d(7), priority=True, channel="regulator_forwarded")
    assert (c.acknowledge_due, c.first_contact_due) == (d(8), d(8))


def test_set_targets_takes_the_decision_days_of_the_policy():
    policy = ComplaintsPolicy(regulator=Regulator(decision_days=10, extended_days=30, maximum_days=60))
    c = complaint(policy=policy)
    assert c.allowed_days == 10 and c.decision_due(today=RECEIVED) == d(11)


# -- intake ----------------------------------------------------------------------------------------------------


def test_opened_for_an_identified_customer():
    c = complaint(priority=True, repeat_of="K0", channel="branch")
    c.opened(by="intake", today=RECEIVED)
    changed, opened_ = c.events
    assert isinstance(changed, ComplaintStatusChanged)
    assert (changed.from_state, changed.to_state, changed.by, changed.at) == (None, "received", "intake", c.received_at)
    assert (changed.customer_id, changed.branch, changed.category) == ("C1", "B1", "fees")
    assert isinstance(opened_, ComplaintOpened)
    assert opened_.model_dump() == {
        "complaint_id": "K1",
        "customer_id": "C1",
        "opened_at": c.received_at,
        "category": "fees",
        "branch": "B1",
        "channel": "branch",
        "severity": "medium",
        "priority": True,
        "repeat_of": "K0",
        "decision_due": d(16),
        "acknowledge_due": d(1),
        "first_contact_due": d(2),
        "provisional_targets": None,
    }
    assert c.state == "received"
    assert c.history == [
        {"at": c.received_at, "by": "intake", "action": "state", "from": None, "to": "received", "note": "received"}
    ]


def test_opened_for_a_complainant_who_is_not_a_customer_publishes_only_the_status():
    c = complaint(customer_id=None)
    c.opened(by="intake", today=RECEIVED)
    assert [type(e) for e in c.events] == [ComplaintStatusChanged]
    assert c.events[0].customer_id is None


# -- the process -----------------------------------------------------------------------------------------------


def test_move_records_history_and_a_status_event():
    c = opened()
    c.move("acknowledged", by="u1", at=at(d(1), 11), note="letter sent")
    assert c.state == "acknowledged" and c.acknowledged_at == at(d(1), 11)
    assert c.history[-1] == {
        "at": at(d(1), 11),
        "by": "u1",
        "action": "state",
        "from": "received",
        "to": "acknowledged",
        "note": "letter sent",
    }
    (e,) = c.events
    assert isinstance(e, ComplaintStatusChanged)
    assert (e.from_state, e.to_state, e.by, e.at) == ("received", "acknowledged", "u1", at(d(1), 11))


def test_an_illegal_move_changes_nothing():
    c = opened()
    history = list(c.history)
    with pytest.raises(IllegalTransition, match="is received"):
        c.move("resolved", by="u1", at=at(d(2)))
    assert c.state == "received" and c.history == history and c.events == []


def test_the_whole_standard_process():
    c = opened()
    c.move("acknowledged", by="u1", at=at(d(1), 11))
    c.assign("h1", by="sup", at=at(d(1), 12))
    c.move("investigating", by="h1", at=at(d(2)))
    c.resolve(
        by="h1",
        at=at(d(3)),
        explanation="explained",
        apology=False,
        compensation=Decimal("0"),
        root_cause="fees",
        policy=DEFAULT_POLICY,
    )
    tell(c)
    c.close(by="h1", at=at(d(5)), how="customer_confirmed")
    steps = [(e.from_state, e.to_state) for e in of(c.events, ComplaintStatusChanged)]
    assert steps == [
        ("received", "acknowledged"),
        ("acknowledged", "assigned"),
        ("assigned", "investigating"),
        ("investigating", "resolved"),
        ("resolved", "closed"),
    ]
    assert [h["to"] for h in c.history if h["action"] == "state"] == [
        "received",
        "acknowledged",
        "assigned",
        "investigating",
        "resolved",
        "closed",
    ]
    assert c.state == "closed"


def test_assign_and_reassign():
    c = opened()
    c.move("acknowledged", by="u1", at=at(d(1), 11))
    c.assign("h1", by="sup", at=at(d(1), 12))
    assert c.state == "assigned" and c.handler == "h1"
    assert c.history[-1]["note"] == "assigned to h1"
    assert c.events[-1].handler == "h1"
    events = len(c.events)
    c.assign("h2", by="sup", at=at(d(1), 13))
    assert c.handler == "h2" and c.state == "assigned"
    assert c.history[-1] == {"at": at(d(1), 13), "by": "sup", "action": "reassigned", "handler": "h2", "note": None}
    assert len(c.events) == events


def test_assign_from_received_is_illegal():
    c = opened()
    with pytest.raises(IllegalTransition):
        c.assign("h1", by="sup", at=at(d(1)))


def test_first_contact_is_recorded_once():
    c = opened()
    c.contacted(by="h1", at=at(d(2)), note="called")
    c.contacted(by="h1", at=at(d(3)), note="called again")
    assert c.first_contact_at == at(d(2))
    assert [h["action"] for h in c.history[-2:]] == ["contacted", "contacted"]


def test_a_resolved_case_is_not_contacted():
    c = resolved()
    with pytest.raises(RuleBroken, match="resolved"):
        c.contacted(by="h1", at=at(d(6)), note=None)


# -- extensions --------------------------------------------------------------------------------------------------


def test_the_handler_extends_to_30_days_with_a_reason():
    c = investigating()
    c.extend(to_days=30, reason="complex case", by="h1", role="complaint_handler", at=at(d(10)), policy=DEFAULT_POLICY)
    assert c.allowed_days == 30 and c.decision_due(today=d(10)) == date(2026, 7, 1)
    assert c.extensions == [
        {
            "from_days": 15,
            "to_days": 30,
            "reason": "complex case",
            "by": "h1",
            "role": "complaint_handler",
            "at": at(d(10)),
        }
    ]
    assert c.history[-1] == {"at": at(d(10)), "by": "h1", "action": "extended", "to_days": 30, "note": "complex case"}


@pytest.mark.parametrize("to_days", [31, 45, 60])
def test_beyond_30_days_the_handler_is_forbidden(to_days):
    c = investigating()
    with pytest.raises(RuleBroken, match="beyond 30 days") as info:
        c.extend(
            to_days=to_days, reason="complex", by="h1", role="complaint_handler", at=at(d(10)), policy=DEFAULT_POLICY
        )
    assert info.value.kind == "forbidden"
    assert c.allowed_days == 15 and c.extensions == []


def test_beyond_30_days_after_the_handler_extended_to_30_is_still_forbidden_for_the_handler():
    c = investigating()
    c.extend(to_days=30, reason="complex", by="h1", role="complaint_handler", at=at(d(10)), policy=DEFAULT_POLICY)
    with pytest.raises(RuleBroken) as info:
        c.extend(to_days=60, reason="more", by="h1", role="complaint_handler", at=at(d(20)), policy=DEFAULT_POLICY)
    assert info.value.kind == "forbidden" and c.allowed_days == 30


@pytest.mark.parametrize("role", ["branch_manager", "head_office"])
def test_a_branch_manager_or_head_office_extends_to_60(role):
    c = investigating()
    c.extend(to_days=30, reason="complex", by="h1", role="complaint_handler", at=at(d(10)), policy=DEFAULT_POLICY)
    c.extend(to_days=60, reason="appraisal abroad", by="m1", role=role, at=at(d(20)), policy=DEFAULT_POLICY)
    assert c.allowed_days == 60 and c.decision_due(today=d(20)) == date(2026, 7, 31)
    assert [(x["from_days"], x["to_days"], x["role"]) for x in c.extensions] == [
        (15, 30, "complaint_handler"),
        (30, 60, role),
    ]


@pytest.mark.parametrize("role", ["complaint_handler", "branch_manager", "head_office"])
def test_never_beyond_60_days(role):
    c = investigating()
    with pytest.raises(RuleBroken, match="at most 60 days") as info:
        c.extend(to_days=61, reason="x", by="m1", role=role, at=at(d(10)), policy=DEFAULT_POLICY)
    assert info.value.kind == "conflict" and c.allowed_days == 15


def test_never_beyond_60_days_after_60():
    c = investigating()
    c.extend(to_days=60, reason="x", by="m1", role="head_office", at=at(d(10)), policy=DEFAULT_POLICY)
    with pytest.raises(RuleBroken):
        c.extend(to_days=61, reason="x", by="m1", role="head_office", at=at(d(11)), policy=DEFAULT_POLICY)
    with pytest.raises(RuleBroken, match="already due within 60 days"):
        c.extend(to_days=60, reason="x", by="m1", role="head_office", at=at(d(11)), policy=DEFAULT_POLICY)


@pytest.mark.parametrize("to_days", [10, 15])
def test_an_extension_is_never_shorter(to_days):
    c = investigating()
    with pytest.raises(RuleBroken, match="already due within 15 days") as info:
        c.extend(to_days=to_days, reason="x", by="m1", role="branch_manager", at=at(d(10)), policy=DEFAULT_POLICY)
    assert info.value.kind == "conflict" and c.allowed_days == 15


def test_shorter_than_an_earlier_extension_is_refused():
    c = investigating()
    c.extend(to_days=45, reason="x", by="m1", role="branch_manager", at=at(d(10)), policy=DEFAULT_POLICY)
    with pytest.raises(RuleBroken):
        c.extend(to_days=30, reason="x", by="h1", role="complaint_handler", at=at(d(11)), policy=DEFAULT_POLICY)
    assert c.allowed_days == 45


def test_a_resolved_case_has_no_deadline_to_extend():
    c = resolved()
    with pytest.raises(RuleBroken, match="resolved"):
        c.extend(to_days=30, reason="x", by="h1", role="complaint_handler", at=at(d(10)), policy=DEFAULT_POLICY)


# -- external appraisal ----------------------------------------------------------------------------------------


def test_an_appraisal_moves_the_decision_by_the_paused_days():
    c = investigating()
    assert c.decision_due(today=d(1)) == d(16)
    c.start_appraisal(on=d(5), by="h1", reason="signature expert", at=at(d(5)))
    assert c.in_appraisal
    assert c.decision_due(today=d(8)) == d(19)  # the running pause counts up to today
    c.end_appraisal(on=d(12), by="h1", at=at(d(12)))
    assert not c.in_appraisal
    assert c.paused_days(today=d(30)) == 7
    assert c.decision_due(today=d(30)) == d(23)
    assert [h["action"] for h in c.history[-2:]] == ["appraisal_started", "appraisal_ended"]
    assert c.pauses == [{"start": "2026-06-05", "end": "2026-06-12", "by": "h1", "reason": "signature expert"}]


def test_two_appraisals_add_up():
    c = investigating()
    c.start_appraisal(on=d(2), by="h1", reason="a", at=at(d(2)))
    c.end_appraisal(on=d(4), by="h1", at=at(d(4)))
    c.start_appraisal(on=d(6), by="h1", reason="b", at=at(d(6)))
    c.end_appraisal(on=d(9), by="h1", at=at(d(9)))
    assert c.decision_due(today=d(30)) == d(21)


def test_the_decision_target_is_not_checked_while_the_appraisal_runs():
    c = investigating()
    c.start_appraisal(on=d(5), by="h1", reason="expert", at=at(d(5)))
    assert "decision" not in c.open_targets(today=d(20))
    assert check(c, d(14)) == [] and check(c, d(20)) == [] and check(c, date(2026, 7, 20)) == []
    assert c.state == "investigating" and c.breached == []


def test_only_one_appraisal_at_a_time():
    c = investigating()
    c.start_appraisal(on=d(5), by="h1", reason="expert", at=at(d(5)))
    with pytest.raises(RuleBroken, match="already running"):
        c.start_appraisal(on=d(6), by="h1", reason="another", at=at(d(6)))


def test_ending_an_appraisal_that_is_not_running():
    c = investigating()
    with pytest.raises(RuleBroken, match="no external appraisal"):
        c.end_appraisal(on=d(6), by="h1", at=at(d(6)))


def test_an_appraisal_cannot_end_before_it_started():
    c = investigating()
    c.start_appraisal(on=d(5), by="h1", reason="expert", at=at(d(5)))
    with pytest.raises(RuleBroken, match="before it started"):
        c.end_appraisal(on=d(4), by="h1", at=at(d(5)))
    assert c.in_appraisal


def test_a_resolved_case_has_no_appraisal():
    c = resolved()
    with pytest.raises(RuleBroken):
        c.start_appraisal(on=d(6), by="h1", reason="expert", at=at(d(6)))


def test_end_appraisal_records_its_note_in_history():
    c = investigating()
    c.start_appraisal(on=d(5), by="h1", reason="expert", at=at(d(5)))
    c.end_appraisal(on=d(8), by="h1", at=at(d(8)), note="report received")
    assert c.history[-1] == {"at": at(d(8)), "by": "h1", "action": "appraisal_ended", "note": "report received"}
    c.start_appraisal(on=d(9), by="h1", reason="second expert", at=at(d(9)))
    c.end_appraisal(on=d(10), by="h1", at=at(d(10)))
    assert c.history[-1]["note"] is None


def test_resolve_during_an_appraisal_ends_it_on_the_resolution_day():
    c = investigating()
    c.start_appraisal(on=d(5), by="h1", reason="expert", at=at(d(5)))
    c.resolve(
        by="h1",
        at=at(d(9)),
        explanation="x",
        apology=False,
        compensation=Decimal("0"),
        root_cause="fees",
        policy=DEFAULT_POLICY,
    )
    assert not c.in_appraisal
    assert c.pauses == [{"start": "2026-06-05", "end": "2026-06-09", "by": "h1", "reason": "expert"}]
    assert c.paused_days(today=d(30)) == 4  # the clock of the appraisal does not run on after the decision


def test_resolve_on_the_day_an_appraisal_started_ends_it_that_day():
    c = investigating()
    c.start_appraisal(on=d(5), by="h1", reason="expert", at=at(d(5)))
    c.resolve(
        by="h1",
        at=at(d(5), 16),
        explanation="x",
        apology=False,
        compensation=Decimal("0"),
        root_cause="fees",
        policy=DEFAULT_POLICY,
    )
    assert c.pauses[-1]["end"] == "2026-06-05" and c.paused_days(today=d(30)) == 0


def test_an_appraisal_is_recorded_within_three_days_of_its_start():
    assert APPRAISAL_BACKDATING_DAYS == 3
    c = investigating()
    with pytest.raises(RuleBroken, match="within 3 days of its start"):
        c.start_appraisal(on=d(6), by="h1", reason="expert", at=at(d(10)), today=d(10))
    assert c.pauses == [] and not c.in_appraisal
    c.start_appraisal(on=d(7), by="h1", reason="expert", at=at(d(10)), today=d(10))  # exactly 3 days back
    assert c.pauses[-1]["start"] == "2026-06-07"


def test_an_appraisal_cannot_start_after_the_decision_is_due():
    c = investigating()  # decision due 06-16
    with pytest.raises(RuleBroken, match="was due on 2026-06-16: an appraisal pauses a clock that is still running"):
        c.start_appraisal(on=d(17), by="h1", reason="expert", at=at(d(17)), today=d(17))
    assert c.pauses == []
    c.start_appraisal(on=d(16), by="h1", reason="expert", at=at(d(16)), today=d(16))  # on the due day itself
    assert c.in_appraisal


# -- the deadline check ----------------------------------------------------------------------------------------


def test_open_targets_of_a_new_case():
    c = opened()
    assert c.open_targets(today=d(1)) == {"acknowledge": d(2), "first_contact": d(3), "decision": d(16)}
    c.move("acknowledged", by="u1", at=at(d(1)))
    assert set(c.open_targets(today=d(1))) == {"first_contact", "decision"}
    c.contacted(by="h1", at=at(d(1)), note=None)
    assert set(c.open_targets(today=d(1))) == {"decision"}


def test_a_decided_and_communicated_case_has_no_open_targets():
    c = resolved()
    tell(c)
    assert c.open_targets(today=d(30)) == {}
    assert check(c, d(30)) == []


def test_a_decision_not_communicated_keeps_the_decision_target_open():
    c = resolved()  # decided 06-05, due 06-16, nobody told the complainant
    assert c.open_targets(today=d(14)) == {"decision": d(16)}
    (warning,) = check(c, d(14))
    assert isinstance(warning, DeadlineApproaching) and warning.target == "decision"
    (breach,) = check(c, d(17))
    assert isinstance(breach, SlaBreached) and breach.escalated_to == "branch_manager"
    assert c.state == "resolved" and c.breached == ["decision"]  # flagged up; the decision itself stands
    tell(c)
    assert c.open_targets(today=d(18)) == {}


def test_internal_targets_are_warned_once_each_on_the_day_they_fall_due():
    c = opened()  # acknowledge due 06-02, first contact 06-03, decision 06-16
    assert check(c, d(1)) == []  # 1 and 2 days left: inside warn_days_before, but internal targets wait for the day
    (e,) = check(c, d(2))
    assert isinstance(e, DeadlineApproaching) and e.customer_id == "C1" and e.branch == "B1"
    assert (e.target, e.due, e.days_left) == ("acknowledge", d(2), 0)
    assert check(c, d(2)) == []  # already warned
    c.move("acknowledged", by="u1", at=at(d(2), 15))
    c.events.clear()
    (e,) = check(c, d(3))
    assert (e.target, e.due, e.days_left) == ("first_contact", d(3), 0)
    assert check(c, d(3)) == []
    assert c.warned == ["acknowledge", "first_contact"]


def test_internal_targets_are_not_warned_inside_the_decisions_window():
    policy = ComplaintsPolicy(targets={"acknowledge": 3, "first_contact": 5})
    c = opened(policy=policy)  # acknowledge due 06-04, first contact 06-08
    assert (c.acknowledge_due, c.first_contact_due) == (d(4), d(8))
    for today in (d(1), d(2), d(3)):
        assert check(c, today) == []
    (e,) = check(c, d(4))
    assert (e.target, e.days_left) == ("acknowledge", 0)
    assert "first_contact" not in c.warned


def test_only_the_decision_gets_the_warning_window():
    c = opened()
    c.move("acknowledged", by="u1", at=at(d(1), 11))
    c.contacted(by="h1", at=at(d(1), 12), note=None)
    c.events.clear()
    (e,) = check(c, d(13))
    assert (e.target, e.days_left) == ("decision", 3)


def test_the_decision_is_warned_three_days_before_and_once():
    c = investigating()
    assert check(c, d(12)) == []  # 4 days left
    (e,) = check(c, d(13))
    assert isinstance(e, DeadlineApproaching)
    assert (e.target, e.due, e.days_left, e.handler) == ("decision", d(16), 3, "h1")
    assert check(c, d(14)) == [] and check(c, d(16)) == []
    assert c.warned == ["decision"]


def test_a_warning_on_the_due_day_itself():
    c = investigating()
    (e,) = check(c, d(16))
    assert isinstance(e, DeadlineApproaching) and e.days_left == 0


def test_the_first_breach_escalates_to_the_branch_manager():
    c = investigating()
    check(c, d(13))
    events = check(c, d(17))
    changed, breached = events
    assert isinstance(changed, ComplaintStatusChanged)
    assert (changed.from_state, changed.to_state, changed.by) == ("investigating", "escalated", "complaints")
    assert isinstance(breached, SlaBreached)
    assert (breached.target, breached.due, breached.detected_on, breached.escalated_to) == (
        "decision",
        d(16),
        d(17),
        "branch_manager",
    )
    assert c.state == "escalated" and c.escalated_for_breach and c.breached == ["decision"]
    assert "branch_manager" in c.history[-1]["note"]
    assert check(c, d(18)) == [] and check(c, d(30)) == []
    assert c.state == "escalated"


def test_a_breach_without_an_earlier_warning():
    c = investigating()
    events = check(c, d(20))
    assert [type(e) for e in events] == [ComplaintStatusChanged, SlaBreached]
    assert of(events, DeadlineApproaching) == []


def test_a_regulator_forwarded_case_is_escalated_to_head_office():
    c = investigating(channel="regulator_forwarded", priority=True)
    (breach,) = of(check(c, d(17)), SlaBreached)
    assert breach.escalated_to == "head_office" and c.state == "escalated"


def test_a_second_breach_does_not_escalate_again():
    c = opened()
    assert check(c, d(1)) == []  # internal targets are not warned ahead of their day
    events = check(c, d(3))  # acknowledge missed (due 06-02), first contact due today
    (warning,) = of(events, DeadlineApproaching)
    assert (warning.target, warning.days_left) == ("first_contact", 0)
    (changed,) = of(events, ComplaintStatusChanged)
    assert (changed.from_state, changed.to_state) == ("received", "escalated")
    (breach,) = of(events, SlaBreached)
    assert (breach.target, breach.escalated_to) == ("acknowledge", "branch_manager")
    events = check(c, d(4))  # first contact missed
    assert [type(e) for e in events] == [SlaBreached]
    assert (events[0].target, events[0].escalated_to) == ("first_contact", None)
    c.assign("h1", by="m1", at=at(d(4)))
    c.move("investigating", by="h1", at=at(d(4)))
    events = check(c, d(17))  # the decision missed too: recorded, not escalated again
    assert [type(e) for e in events] == [SlaBreached]
    assert (events[0].target, events[0].escalated_to) == ("decision", None)
    assert c.state == "investigating" and c.breached == ["acknowledge", "first_contact", "decision"]
    escalations = [h for h in c.history if h["action"] == "state" and h["to"] == "escalated"]
    assert len(escalations) == 1


def test_two_breaches_found_by_one_check_escalate_once():
    c = opened()
    events = check(c, d(10))
    assert [(e.target, e.escalated_to) for e in of(events, SlaBreached)] == [
        ("acknowledge", "branch_manager"),
        ("first_contact", None),
    ]
    assert len(of(events, ComplaintStatusChanged)) == 1 and c.state == "escalated"


def test_a_breach_of_a_case_already_escalated_by_hand_names_the_supervisor_without_a_step():
    c = investigating()
    c.move("escalated", by="h1", at=at(d(10)))
    c.events.clear()
    events = check(c, d(17))
    assert [type(e) for e in events] == [SlaBreached]
    assert events[0].escalated_to == "branch_manager" and c.state == "escalated"


def test_an_extension_after_a_warning_allows_a_new_warning():
    c = investigating()
    (w,) = check(c, d(13))
    assert w.due == d(16)
    c.extend(to_days=30, reason="complex", by="h1", role="complaint_handler", at=at(d(14)), policy=DEFAULT_POLICY)
    assert check(c, d(17)) == []  # no breach of the old date
    assert check(c, d(27)) == []
    (w,) = check(c, d(28))
    assert isinstance(w, DeadlineApproaching) and (w.due, w.days_left) == (date(2026, 7, 1), 3)
    assert check(c, d(29)) == []
    (b,) = of(check(c, date(2026, 7, 2)), SlaBreached)
    assert b.due == date(2026, 7, 1)


def test_an_appraisal_after_a_warning_allows_a_new_warning_for_the_moved_date():
    c = investigating()
    check(c, d(13))
    c.start_appraisal(on=d(13), by="h1", reason="expert", at=at(d(13)))
    assert check(c, d(17)) == []
    c.end_appraisal(on=d(20), by="h1", at=at(d(20)))
    (w,) = check(c, d(20))
    assert (w.target, w.due, w.days_left) == ("decision", d(23), 3)
    assert check(c, d(23)) == []
    (b,) = of(check(c, d(24)), SlaBreached)
    assert b.due == d(23)


def test_deadline_events_of_a_complainant_who_is_not_a_customer():
    c = opened(customer_id=None)
    events = check(c, d(10))
    assert events and all(e.customer_id is None for e in events)


# -- resolution, compensation, closing -------------------------------------------------------------------------


def test_resolve_records_the_explanation_apology_compensation_and_root_cause():
    c = investigating()
    c.resolve(
        by="h1",
        at=at(d(5)),
        explanation="fee refunded",
        apology=True,
        compensation=Decimal("200.00"),
        root_cause="fees",
        policy=DEFAULT_POLICY,
    )
    assert c.state == "resolved" and c.resolved_at == at(d(5))
    assert c.resolution == {
        "explanation": "fee refunded",
        "apology": True,
        "compensation": Decimal("200.00"),
        "root_cause": "fees",
        "needs_approval": False,
        "approved_by": None,
        "approved_at": None,
        "resolved_by": "h1",
    }
    (e,) = c.events
    assert (e.from_state, e.to_state) == ("investigating", "resolved")


def test_the_root_cause_must_be_in_the_taxonomy():
    c = investigating()
    with pytest.raises(RuleBroken, match="root_cause: weather is not in the taxonomy"):
        c.resolve(
            by="h1",
            at=at(d(5)),
            explanation="x",
            apology=False,
            compensation=Decimal("0"),
            root_cause="weather",
            policy=DEFAULT_POLICY,
        )
    assert c.state == "investigating" and c.resolution is None and c.events == []


def test_resolve_follows_the_process():
    c = opened()
    with pytest.raises(IllegalTransition, match="is received"):
        c.resolve(
            by="h1",
            at=at(d(5)),
            explanation="x",
            apology=False,
            compensation=Decimal("0"),
            root_cause="fees",
            policy=DEFAULT_POLICY,
        )
    assert c.resolution is None


def test_compensation_at_the_approval_amount_needs_no_approval():
    c = resolved("1000.00")
    assert c.resolution["needs_approval"] is False
    tell(c)
    c.close(by="h1", at=at(d(8)), how="customer_confirmed")
    assert c.state == "closed"


def test_compensation_above_the_approval_amount_must_be_approved_before_closing():
    c = resolved("1000.01")
    assert c.resolution["needs_approval"] is True
    with pytest.raises(RuleBroken, match=r"1000\.01 is above the approval amount") as info:
        c.close(by="h1", at=at(d(8)), how="customer_confirmed")
    assert info.value.kind == "conflict"
    assert c.state == "resolved" and c.events == []


@pytest.mark.parametrize("role", ["relationship_manager", "complaint_handler", "rm_supervisor"])
def test_only_a_branch_manager_or_head_office_approves_compensation(role):
    c = resolved("5000.00")
    with pytest.raises(RuleBroken, match="branch manager or head office") as info:
        c.approve_compensation(by="rm1", role=role, at=at(d(6)))
    assert info.value.kind == "forbidden"
    assert c.resolution["approved_by"] is None
    with pytest.raises(RuleBroken):
        c.close(by="h1", at=at(d(8)), how="customer_confirmed")


@pytest.mark.parametrize("role", ["branch_manager", "head_office"])
def test_approved_compensation_lets_the_case_close(role):
    c = resolved("5000.00")
    c.approve_compensation(by="m1", role=role, at=at(d(6)))
    assert (c.resolution["approved_by"], c.resolution["approved_at"]) == ("m1", at(d(6)))
    assert c.resolution["resolved_by"] == "h1"
    assert c.history[-1] == {"at": at(d(6)), "by": "m1", "action": "compensation_approved", "note": None}
    tell(c)
    c.close(by="h1", at=at(d(8)), how="customer_confirmed")
    (closed,) = of(c.events, ComplaintClosed)
    assert closed.compensation == Decimal("5000.00")


@pytest.mark.parametrize("role", ["branch_manager", "head_office"])
def test_who_resolved_the_case_may_not_approve_its_compensation(role):
    c = resolved("5000.00", by="m1")
    assert c.resolution["resolved_by"] == "m1"
    with pytest.raises(RuleBroken, match="four eyes") as info:
        c.approve_compensation(by="m1", role=role, at=at(d(6)))
    assert info.value.kind == "forbidden"
    assert (c.resolution["approved_by"], c.resolution["approved_at"]) == (None, None)
    assert all(h["action"] != "compensation_approved" for h in c.history)
    with pytest.raises(RuleBroken, match="not approved yet"):
        c.close(by="m1", at=at(d(8)), how="customer_confirmed")
    c.approve_compensation(by="m2", role=role, at=at(d(7)))  # a second person may
    assert c.resolution["approved_by"] == "m2"
    tell(c)
    c.close(by="m1", at=at(d(8)), how="customer_confirmed")
    assert c.state == "closed"


def test_approval_and_closing_notes_land_in_history():
    c = resolved("5000.00")
    c.approve_compensation(by="m1", role="branch_manager", at=at(d(6)), note="receipts checked")
    assert c.history[-1] == {"at": at(d(6)), "by": "m1", "action": "compensation_approved", "note": "receipts checked"}
    tell(c)
    c.close(by="h1", at=at(d(8)), how="customer_confirmed", note="customer thanked us")
    assert c.history[-1] == {
        "at": at(d(8)),
        "by": "h1",
        "action": "state",
        "from": "resolved",
        "to": "closed",
        "note": "customer thanked us",
    }


def test_closing_without_a_note_says_how():
    c = resolved()
    tell(c)
    c.close(by="h1", at=at(d(8)), how="no_answer")
    assert c.history[-1]["note"] == "closed (no_answer)"


def test_there_is_nothing_to_approve_below_the_amount():
    c = resolved("100.00")
    with pytest.raises(RuleBroken, match="no compensation waiting") as info:
        c.approve_compensation(by="m1", role="branch_manager", at=at(d(6)))
    assert info.value.kind == "conflict"


def test_close_publishes_complaint_closed_for_an_identified_customer():
    c = resolved("300.00")
    tell(c)
    c.close(by="h1", at=at(d(12)), how="no_answer")
    _, changed, closed = c.events
    assert (changed.from_state, changed.to_state) == ("resolved", "closed")
    assert isinstance(closed, ComplaintClosed)
    assert closed.model_dump() == {
        "complaint_id": "K1",
        "customer_id": "C1",
        "closed_at": at(d(12)),
        "outcome": "resolved",
        "category": "fees",
        "root_cause": "fees",
        "compensation": Decimal("300.00"),
        "closed_by": "no_answer",
        "notified_at": at(d(5), 16),
    }
    assert (c.state, c.closed_at, c.closed_by) == ("closed", at(d(12)), "no_answer")


def test_close_of_a_complainant_who_is_not_a_customer_publishes_only_the_status():
    c = resolved(customer_id=None)
    tell(c)
    c.close(by="h1", at=at(d(8)), how="customer_confirmed")
    assert [type(e) for e in c.events] == [DecisionNotified, ComplaintStatusChanged]


def test_close_follows_the_process():
    c = investigating()
    with pytest.raises(IllegalTransition, match="is investigating"):
        c.close(by="h1", at=at(d(8)), how="customer_confirmed")


# -- reopen ----------------------------------------------------------------------------------------------------


def test_reopen_a_closed_case_publishes_complaint_opened_again():
    c = resolved()
    tell(c)
    c.close(by="h1", at=at(d(8)), how="customer_confirmed")
    c.events.clear()
    c.reopen(by="h1", at=at(d(20)), reason="customer not satisfied", today=d(20), policy=DEFAULT_POLICY)
    assert c.state == "reopened"
    assert (c.closed_at, c.closed_by, c.resolved_at) == (None, None, None)
    changed, opened_ = c.events
    assert (changed.from_state, changed.to_state) == ("closed", "reopened")
    assert isinstance(opened_, ComplaintOpened)
    assert (opened_.complaint_id, opened_.customer_id, opened_.opened_at, opened_.category) == (
        "K1",
        "C1",
        at(d(20)),
        "fees",
    )
    assert opened_.decision_due == date(2026, 7, 5)  # today + 15
    assert c.history[-1]["note"] == "customer not satisfied"


def test_reopen_a_resolved_case_and_handle_it_again():
    c = resolved()
    c.reopen(by="h1", at=at(d(6)), reason="new facts", today=d(6), policy=DEFAULT_POLICY)
    assert c.state == "reopened" and c.resolved_at is None
    c.move("investigating", by="h1", at=at(d(6)))
    c.resolve(
        by="h1",
        at=at(d(7)),
        explanation="again",
        apology=True,
        compensation=Decimal("10.00"),
        root_cause="cards",
        policy=DEFAULT_POLICY,
    )
    tell(c)
    c.close(by="h1", at=at(d(9)), how="customer_confirmed")
    (closed,) = of(c.events, ComplaintClosed)
    assert closed.root_cause == "cards" and c.state == "closed"


def test_reopen_of_a_complainant_who_is_not_a_customer_publishes_only_the_status():
    c = resolved(customer_id=None)
    c.reopen(by="h1", at=at(d(6)), reason="x", today=d(6), policy=DEFAULT_POLICY)
    assert [type(e) for e in c.events] == [ComplaintStatusChanged]


def test_an_open_case_cannot_be_reopened():
    c = investigating()
    with pytest.raises(IllegalTransition, match="is investigating"):
        c.reopen(by="h1", at=at(d(6)), reason="x", today=d(6), policy=DEFAULT_POLICY)
    assert c.events == []


def test_reopen_starts_a_fresh_regulators_clock():
    c = investigating()  # decision due 06-16
    c.start_appraisal(on=d(2), by="h1", reason="expert", at=at(d(2)))
    c.end_appraisal(on=d(4), by="h1", at=at(d(4)))  # due 06-18
    (w,) = check(c, d(15))
    assert (w.target, w.due) == ("decision", d(18))
    (b,) = of(check(c, d(19)), SlaBreached)
    assert b.escalated_to == "branch_manager" and c.state == "escalated"
    c.resolve(
        by="h1",
        at=at(d(20)),
        explanation="x",
        apology=True,
        compensation=Decimal("0"),
        root_cause="fees",
        policy=DEFAULT_POLICY,
    )
    tell(c)
    c.close(by="h1", at=at(d(22)), how="customer_confirmed")
    c.events.clear()

    c.reopen(by="h1", at=at(d(25)), reason="customer not satisfied", today=d(25), policy=DEFAULT_POLICY)
    assert c.clock_start == d(25) and c.allowed_days == 15 and c.pauses == []
    assert "decision" not in c.warned and "decision" not in c.breached
    assert c.escalated_for_breach is False
    assert c.decision_due(today=d(25)) == date(2026, 7, 10)
    (opened_,) = of(c.events, ComplaintOpened)
    assert opened_.decision_due == date(2026, 7, 10)
    assert c.open_targets(today=d(25)) == {"decision": date(2026, 7, 10)}

    # the new deadline is warned of, breached and escalated on its own
    assert check(c, date(2026, 7, 6)) == []
    (w,) = check(c, date(2026, 7, 7))
    assert (w.target, w.due, w.days_left) == ("decision", date(2026, 7, 10), 3)
    events = check(c, date(2026, 7, 11))
    (b,) = of(events, SlaBreached)
    assert (b.due, b.escalated_to) == (date(2026, 7, 10), "branch_manager")
    assert c.state == "escalated" and c.breached == ["decision"] and c.escalated_for_breach


def test_reopen_resets_an_extended_clock_to_the_policys_decision_days():
    policy = ComplaintsPolicy(regulator=Regulator(decision_days=10, extended_days=20, maximum_days=60))
    c = investigating()
    c.extend(to_days=30, reason="complex", by="h1", role="complaint_handler", at=at(d(4)), policy=DEFAULT_POLICY)
    c.resolve(
        by="h1",
        at=at(d(5)),
        explanation="x",
        apology=False,
        compensation=Decimal("0"),
        root_cause="fees",
        policy=DEFAULT_POLICY,
    )
    assert c.allowed_days == 30
    c.reopen(by="h1", at=at(d(6)), reason="new facts", today=d(6), policy=policy)
    assert c.allowed_days == 10 and c.clock_start == d(6)
    assert c.decision_due(today=d(6)) == d(16)


def test_reopen_keeps_the_internal_targets_breaches_on_record():
    c = opened()
    events = check(c, d(17))  # acknowledge, first contact and the decision all missed
    assert [b.target for b in of(events, SlaBreached)] == ["acknowledge", "first_contact", "decision"]
    c.assign("h1", by="m1", at=at(d(17)))
    c.move("investigating", by="h1", at=at(d(17)))
    c.resolve(
        by="h1",
        at=at(d(18)),
        explanation="x",
        apology=False,
        compensation=Decimal("0"),
        root_cause="fees",
        policy=DEFAULT_POLICY,
    )
    c.reopen(by="h1", at=at(d(20)), reason="x", today=d(20), policy=DEFAULT_POLICY)
    assert c.breached == ["acknowledge", "first_contact"]
    assert c.escalated_for_breach is False


# -- extensions and appraisals: when they may be recorded ----------------------------------------------------------


def test_a_deadline_is_extended_before_it_passes_not_after() -> None:
    c = opened()  # received 2026-06-01: decision due 06-16
    c.extend(
        to_days=30,
        reason="complex",
        by="H1",
        role="complaint_handler",
        at=at(d(16)),
        policy=DEFAULT_POLICY,
        today=d(16),
    )
    late = opened()
    with pytest.raises(RuleBroken, match="was due on 2026-06-16"):
        late.extend(
            to_days=30,
            reason="complex",
            by="H1",
            role="complaint_handler",
            at=at(d(17)),
            policy=DEFAULT_POLICY,
            today=d(17),
        )


def test_an_appraisal_cannot_start_before_receipt_ahead_of_today_or_inside_the_previous_one() -> None:
    c = opened()
    with pytest.raises(RuleBroken, match="after the complaint was received"):
        c.start_appraisal(on=d(31, 5), by="H1", reason="x", at=at(d(2)), today=d(2))
    with pytest.raises(RuleBroken, match="not ahead"):
        c.start_appraisal(on=d(9), by="H1", reason="x", at=at(d(2)), today=d(2))
    c.start_appraisal(on=d(3), by="H1", reason="x", at=at(d(3)), today=d(3))
    with pytest.raises(RuleBroken, match="when it ends"):
        c.end_appraisal(on=d(9), by="H1", at=at(d(5)), today=d(5))
    c.end_appraisal(on=d(6), by="H1", at=at(d(6)), today=d(6))
    with pytest.raises(RuleBroken, match="after the previous one ended"):
        c.start_appraisal(on=d(5), by="H1", reason="again", at=at(d(8)), today=d(8))
    assert c.paused_days(today=d(20)) == 3 and c.decision_due(today=d(20)) == d(19)


def test_a_case_escalated_before_acknowledgement_can_still_be_acknowledged() -> None:
    c = opened()
    c.move("escalated", by="S1", at=at(d(1)), note="VIP complaint")
    c.move("acknowledged", by="H1", at=at(d(2)))
    assert "acknowledge" not in c.open_targets(today=d(3))


@pytest.mark.parametrize("to", ["assigned", "investigating"])
def test_a_case_taken_out_of_escalation_counts_as_acknowledged(to) -> None:
    c = opened()
    c.move("escalated", by="S1", at=at(d(1)), note="VIP complaint")
    assert c.acknowledged_at is None
    c.move(to, by="M1", at=at(d(2), 15))
    assert c.acknowledged_at == at(d(2), 15)
    assert "acknowledge" not in c.open_targets(today=d(3))


def test_an_earlier_acknowledgement_is_kept_when_a_case_leaves_escalation() -> None:
    c = opened()
    c.move("acknowledged", by="H1", at=at(d(1), 11))
    c.move("escalated", by="S1", at=at(d(1), 12))
    c.move("assigned", by="M1", at=at(d(2)))
    assert c.acknowledged_at == at(d(1), 11)


def test_a_case_resolved_straight_from_escalation_is_not_marked_acknowledged() -> None:
    c = opened()
    c.move("escalated", by="S1", at=at(d(1)))
    c.resolve(
        by="M1",
        at=at(d(2)),
        explanation="x",
        apology=False,
        compensation=Decimal("0"),
        root_cause="fees",
        policy=DEFAULT_POLICY,
    )
    assert c.acknowledged_at is None


# -- provisional calendar days ----------------------------------------------------------------------------------


def _year_end_case(cal: WorkingCalendar) -> Complaint:
    c = Complaint(
        complaint_id="K9",
        customer_id="C1",
        channel="hotline",
        category="fees",
        severity="medium",
        received_at=at(date(2026, 12, 31)),
        received_on=date(2026, 12, 31),
        branch="B1",
    )
    c.set_targets(
        DEFAULT_POLICY,
        add_working_days=cal.add_working_days,
        next_workday=cal.next_workday,
        depends_on_provisional=cal.depends_on_provisional,
        calendar_revision=cal.revision,
    )
    return c


def _official_2027(cal: WorkingCalendar) -> None:
    # An official 2027 where 01-04 is still off (元旦 01-01 … 01-04) and Sunday 01-10 is worked.
    cal.set_official(
        {
            2027: parse_year(
                "2027",
                {"holidays": {f"2027-01-0{day}": "New Year's Day" for day in (1, 2, 3, 4)}, "workdays": ["2027-01-10"]},
                source="official",
            )
        }
    )


def test_targets_in_a_provisional_year_are_flagged():
    c = _year_end_case(WorkingCalendar())
    assert (c.acknowledge_due, c.first_contact_due) == (date(2027, 1, 4), date(2027, 1, 5))
    assert c.provisional_targets == ["acknowledge", "first_contact"]
    assert c.calendar_revision == WorkingCalendar().revision
    c.opened(by="intake", today=date(2026, 12, 31))
    assert c.events[-1].provisional_targets == ["acknowledge", "first_contact"]


def test_recompute_on_the_official_schedule_moves_the_targets_and_says_so():
    cal = WorkingCalendar()
    c = _year_end_case(cal)
    _official_2027(cal)
    moved = c.recompute_targets(
        DEFAULT_POLICY,
        add_working_days=cal.add_working_days,
        next_workday=cal.next_workday,
        depends_on_provisional=cal.depends_on_provisional,
        calendar_revision=cal.revision,
        at=at(date(2027, 1, 1)),
        today=date(2027, 1, 1),
    )
    assert moved == {"acknowledge": date(2027, 1, 4), "first_contact": date(2027, 1, 5)}
    assert (c.acknowledge_due, c.first_contact_due) == (date(2027, 1, 5), date(2027, 1, 6))
    assert c.provisional_targets == [] and c.calendar_revision == cal.revision
    [changed] = c.events
    assert isinstance(changed, ComplaintTargetsChanged)
    assert (changed.acknowledge_due, changed.first_contact_due, changed.provisional_targets) == (
        date(2027, 1, 5),
        date(2027, 1, 6),
        [],
    )
    assert changed.previous == {"acknowledge": date(2027, 1, 4), "first_contact": date(2027, 1, 5)}
    assert c.history[-1]["action"] == "targets_recomputed"


def test_recompute_keeps_a_target_already_met_and_is_silent_when_nothing_changes():
    cal = WorkingCalendar()
    c = _year_end_case(cal)
    c.acknowledged_at = at(date(2026, 12, 31))
    _official_2027(cal)
    kwargs = dict(
        add_working_days=cal.add_working_days,
        next_workday=cal.next_workday,
        depends_on_provisional=cal.depends_on_provisional,
        calendar_revision=cal.revision,
        at=at(date(2027, 1, 1)),
        today=date(2027, 1, 1),
    )
    assert c.recompute_targets(DEFAULT_POLICY, **kwargs) == {"first_contact": date(2027, 1, 5)}
    assert c.acknowledge_due == date(2027, 1, 4)  # met on the day, judged on the day
    c.events.clear()
    assert c.recompute_targets(DEFAULT_POLICY, **kwargs) == {} and c.events == []


# -- a decision due on a public holiday (policy option) ---------------------------------------------------------


def _received(on: date, *, rolls: bool, cal: WorkingCalendar = CAL) -> Complaint:
    policy = ComplaintsPolicy(regulator=Regulator(holiday_rolls_to_next_workday=rolls))
    c = Complaint(
        complaint_id="K7",
        customer_id="C1",
        channel="hotline",
        category="fees",
        severity="medium",
        received_at=at(on),
        received_on=on,
        branch="B1",
    )
    with_calendar(c, cal)
    c.set_targets(
        policy,
        add_working_days=cal.add_working_days,
        next_workday=cal.next_workday,
        depends_on_provisional=cal.depends_on_provisional,
        calendar_revision=cal.revision,
    )
    return c


def test_by_default_a_decision_due_on_national_day_is_due_that_day():
    c = _received(date(2026, 9, 16), rolls=False)
    assert c.decision_due(today=date(2026, 9, 16)) == date(2026, 10, 1)


def test_with_the_option_a_decision_due_on_national_day_is_due_on_the_next_working_day():
    c = _received(date(2026, 9, 16), rolls=True)
    assert c.decision_rolls is True
    assert c.decision_due(today=date(2026, 9, 16)) == date(2026, 10, 8)  # after 10-01 … 10-07
    # An ordinary weekend does not move it: received 2026-11-13, due Saturday 11-28, which stays.
    assert _received(date(2026, 11, 13), rolls=True).decision_due(today=date(2026, 11, 13)) == date(2026, 11, 28)
    # The paused days move the raw date first; the holiday rule applies to where it lands.
    c.pauses = [{"start": "2026-09-20", "end": "2026-09-27", "by": "h1", "reason": "appraisal"}]
    assert c.decision_due(today=date(2026, 9, 28)) == date(2026, 10, 8)  # 10-08 itself is a working day


def test_a_decision_rolled_over_a_provisional_holiday_is_provisional():
    c = _received(date(2026, 12, 17), rolls=True)  # 15 days: 2027-01-01, 元旦 on the provisional calendar
    assert c.decision_due(today=date(2026, 12, 17)) == date(2027, 1, 4)
    assert "decision" in c.provisional_targets
    assert "decision" not in _received(date(2026, 12, 17), rolls=False).provisional_targets


def test_the_store_keeps_the_flag_not_the_calendar():
    c = _received(date(2026, 9, 16), rolls=True)
    state = complaint_state(c)
    assert state["decision_rolls"] is True and "holiday_roll" not in state
    again = complaint_from_doc({"_id": "K7", **state}, calendar=CAL)
    assert again.decision_due(today=date(2026, 9, 16)) == date(2026, 10, 8)
    assert complaint_from_doc({"_id": "K7", **state}).decision_due(today=date(2026, 9, 16)) == date(2026, 10, 1)
