"""Routing a case whose customer complaints learnt of late: the customer's branch unless the intake named one or
someone took the case on; priority from a tier that arrives later, with targets that only get tighter and never
fall before today; the unverified flag once."""

from test_complaints_complaint import CAL, at, complaint, d

from crm_complaints.domain.policy import DEFAULT_POLICY
from crm_contracts.complaints import ComplaintRouted, CustomerUnverified


def waiting(**kw):
    c = complaint(**{"routing": "pending_customer", "branch_source": "receiver", "pending_since": at(d(1), 9), **kw})
    c.opened(by="teller", today=c.received_on)
    c.events.clear()
    return c


def raise_to(c, tier, today):
    return c.raise_priority(
        tier=tier,
        policy=DEFAULT_POLICY,
        today=today,
        at=at(today, 12),
        add_working_days=CAL.add_working_days,
        next_workday=CAL.next_workday,
    )


def test_a_waiting_case_takes_the_customers_branch_unless_named_or_taken_on():
    assert waiting().takes_customer_branch()
    assert not waiting(branch_source="intake").takes_customer_branch()
    assert not waiting(handler="h1").takes_customer_branch()
    assert not complaint().takes_customer_branch()  # routed at intake


def test_routing_on_the_customers_event_is_recorded_and_published():
    c = waiting()
    c.route(branch="B2", handler="h2", by="complaints", at=at(d(1), 10), reason="customer_known")
    assert (c.routing, c.branch, c.branch_source, c.handler, c.state) == ("routed", "B2", "customer", "h2", "received")
    (event,) = c.events
    assert isinstance(event, ComplaintRouted)
    assert (event.reason, event.branch, event.handler, event.by) == ("customer_known", "B2", "h2", "complaints")
    assert not c.waits_for_customer


def test_manual_routing_clears_the_flag():
    c = waiting()
    c.flag_unverified(at=at(d(1), 10))
    c.route(branch="B1", handler="h1", by="bm1", at=at(d(1), 11), reason="manual", note="id mistyped")
    assert (c.routing, c.customer_unverified, c.branch_source) == ("manual", False, "manual")
    assert c.history[-1]["note"] == "id mistyped"


def test_the_flag_is_raised_once_and_only_for_a_waiting_customer_case():
    c = waiting()
    c.flag_unverified(at=at(d(1), 10))
    c.flag_unverified(at=at(d(1), 11))
    (event,) = c.events
    assert isinstance(event, CustomerUnverified) and event.pending_since == at(d(1), 9)
    assert c.customer_unverified is True
    routed = complaint()
    routed.flag_unverified(at=at(d(1), 10))
    assert routed.events == [] and routed.customer_unverified is False


def test_a_tier_known_on_the_day_of_receipt_gives_the_priority_targets():
    c = waiting()  # received Monday 06-01: acknowledge 06-02, first contact 06-03
    assert raise_to(c, "vip", d(1)) is True
    assert (c.priority, c.tier, c.acknowledge_due, c.first_contact_due) == (True, "vip", d(1), d(2))
    assert c.allowed_days == 15
    (event,) = c.events
    assert (event.reason, event.priority, event.tier) == ("tier", True, "vip")
    assert raise_to(c, "key", d(1)) is False  # raised once


def test_a_later_tier_never_makes_a_target_due_before_today_nor_later_than_before():
    c = waiting()
    c.extend(to_days=30, reason="complex", by="h1", role="complaint_handler", at=at(d(1)), policy=DEFAULT_POLICY)
    raise_to(c, "key", d(2))
    assert (c.acknowledge_due, c.first_contact_due) == (d(2), d(2))  # faster, but not before the day it was learnt
    assert c.allowed_days == 30  # the extension stands


def test_a_tier_without_priority_is_kept_but_changes_nothing_else():
    c = waiting()
    assert raise_to(c, "ordinary", d(1)) is False
    assert (c.tier, c.priority, c.acknowledge_due, c.events) == ("ordinary", False, d(2), [])


def test_a_closed_case_is_not_prioritised():
    c = waiting()
    c.state = "closed"
    assert raise_to(c, "vip", d(3)) is False and c.priority is False
