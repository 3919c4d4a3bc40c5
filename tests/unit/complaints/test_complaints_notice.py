"""The decision notice (告知): recorded after the decision, once; on time when on or before the decision's due day;
a case closes only after it; a reopened case is told its new decision again."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from test_complaints_complaint import at, d, investigating, resolved

from crm_complaints.domain.complaint import RuleBroken
from crm_complaints.domain.policy import DEFAULT_POLICY
from crm_contracts.complaints import ComplaintClosed, DecisionNotified


def notify(c, day: date, channel: str = "letter"):
    c.notify(at=at(day, 15), notified_on=day, channel=channel, by="h1", recorded_at=at(day, 16))


def test_the_notice_is_recorded_with_when_how_and_by_whom():
    c = resolved()  # decided 06-05, due 06-16
    notify(c, d(6))
    assert c.decision_notice == {
        "at": at(d(6), 15),
        "channel": "letter",
        "by": "h1",
        "recorded_at": at(d(6), 16),
        "due": "2026-06-16",
        "on_time": True,
    }
    (event,) = c.events
    assert isinstance(event, DecisionNotified)
    assert (event.channel, event.by, event.on_time, event.decision_due, event.customer_id) == (
        "letter",
        "h1",
        True,
        d(16),
        "C1",
    )
    assert c.history[-1]["action"] == "decision_notified" and c.history[-1]["channel"] == "letter"


def test_a_notice_after_the_due_day_is_late():
    c = resolved()
    notify(c, d(17))
    assert c.decision_notice["on_time"] is False and c.events[-1].on_time is False


def test_the_due_day_itself_is_on_time_and_counts_extensions():
    c = investigating()
    c.extend(to_days=30, reason="complex", by="h1", role="complaint_handler", at=at(d(3)), policy=DEFAULT_POLICY)
    c.resolve(
        by="h1",
        at=at(d(20)),
        explanation="x",
        apology=True,
        compensation=Decimal("0"),
        root_cause="fees",
        policy=DEFAULT_POLICY,
    )
    notify(c, date(2026, 7, 1))  # 06-01 + 30 days
    assert c.decision_notice["due"] == "2026-07-01" and c.decision_notice["on_time"] is True


def test_a_case_cannot_close_without_the_notice():
    c = resolved()
    with pytest.raises(RuleBroken, match="告知") as info:
        c.close(by="h1", at=at(d(8)), how="customer_confirmed")
    assert info.value.kind == "conflict" and c.state == "resolved" and c.events == []
    notify(c, d(7))
    c.close(by="h1", at=at(d(8)), how="customer_confirmed")
    closed = [e for e in c.events if isinstance(e, ComplaintClosed)]
    assert c.state == "closed" and closed[0].notified_at == at(d(7), 15)


def test_there_is_nothing_to_notify_before_the_decision_and_only_one_notice():
    c = investigating()
    with pytest.raises(RuleBroken, match="investigating has no decision"):
        notify(c, d(3))
    c = resolved()
    notify(c, d(6))
    with pytest.raises(RuleBroken, match="communicated already"):
        notify(c, d(7), channel="phone")
    assert c.decision_notice["channel"] == "letter"


def test_compensation_waiting_for_approval_is_not_communicated():
    c = resolved("5000.00")
    with pytest.raises(RuleBroken, match="approved before the decision is communicated"):
        notify(c, d(6))
    c.approve_compensation(by="m1", role="branch_manager", at=at(d(6)))
    notify(c, d(6))
    assert c.decision_notice is not None


def test_a_notice_is_not_dated_before_the_complaint():
    c = resolved()
    with pytest.raises(RuleBroken, match="notified_at"):
        notify(c, c.received_on - timedelta(days=1))


def test_a_reopened_case_is_told_its_new_decision_again():
    c = resolved()
    notify(c, d(6))
    c.close(by="h1", at=at(d(8)), how="customer_confirmed")
    c.reopen(by="h1", at=at(d(10)), reason="refund missing", today=d(10), policy=DEFAULT_POLICY)
    assert c.decision_notice is None
    assert any(h["action"] == "decision_notified" for h in c.history)  # the first notice stays on record
    c.move("investigating", by="h1", at=at(d(10)))
    c.resolve(
        by="h1",
        at=at(d(11)),
        explanation="refunded",
        apology=True,
        compensation=Decimal("0"),
        root_cause="fees",
        policy=DEFAULT_POLICY,
    )
    with pytest.raises(RuleBroken, match="告知"):
        c.close(by="h1", at=at(d(12)), how="customer_confirmed")
    with pytest.raises(RuleBroken, match="before the complaint was received or reopened"):
        notify(c, d(9))
    notify(c, d(11))
    assert c.decision_notice["due"] == "2026-06-25"
