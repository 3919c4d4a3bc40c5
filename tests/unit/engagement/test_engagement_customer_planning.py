"""crm_engagement.domain.customer.EngagedCustomer: planning tasks on allowed channels, cadence, owner changes,
consent changes and merges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from crm_contracts.engagement import ContactBlocked, TaskCancelled, TaskCreated, TaskReassigned
from crm_engagement.domain.customer import FALLBACKS, EngagedCustomer, task_created
from crm_engagement.domain.policy import DEFAULT_POLICY, CadenceRule, EngagementPolicy
from crm_engagement.domain.tasks import Task

TODAY = date(2026, 6, 10)
NOW = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
NIGHT = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
P = DEFAULT_POLICY


def customer(**kw: Any) -> EngagedCustomer:
    kw.setdefault("customer_id", "C0001")
    kw.setdefault("owner", "S1")
    kw.setdefault("branch", "B01")
    kw.setdefault("tier", "key")
    return EngagedCustomer(**kw)


def task(
    tid: str,
    *,
    channel: str = "call",
    assignee: str | None = "S1",
    owner: str | None = "S1",
    kind: str = "follow_up",
    purpose: str = "service",
    status: str = "open",
    customer_id: str = "C0001",
    tier: str | None = "key",
    branch: str | None = "B01",
) -> Task:
    return Task(
        task_id=tid,
        customer_id=customer_id,
        kind=kind,
        purpose=purpose,
        channel=channel,
        due_on=TODAY,
        assignee=assignee,
        owner=owner,
        branch=branch,
        tier=tier,
        status=status,
    )


def of_type(c: EngagedCustomer, cls: type) -> list[Any]:
    return [e for e in c.events if isinstance(e, cls)]


def plan(
    c: EngagedCustomer, *, kind: str = "birthday", channel: str = "call", parts: tuple = (2026,), **kw: Any
) -> Task | None:
    return c.plan_task(
        kind=kind,
        due_on=date(2026, 6, 20),
        channel=channel,
        policy=kw.pop("policy", P),
        now=kw.pop("now", NOW),
        parts=parts,
        **kw,
    )


# -- plan_task -----------------------------------------------------------------------------------------------


def test_plan_task_for_the_owner() -> None:
    c = customer()
    t = plan(c, occasion="birthday", visible_from=date(2026, 6, 13), note="cake")
    assert t is not None
    assert t.task_id == "C0001:birthday:2026"
    assert (t.customer_id, t.kind, t.purpose, t.channel) == ("C0001", "birthday", "service", "call")
    assert (t.assignee, t.owner, t.branch, t.tier) == ("S1", "S1", "B01", "key")
    assert (t.due_on, t.visible_from, t.occasion, t.note) == (date(2026, 6, 20), date(2026, 6, 13), "birthday", "cake")
    assert t.created_at == NOW and t.created_by == "engagement" and t.status == "open"
    assert c.new_tasks == [t] and c.events == []


def test_plan_task_purpose_from_policy_or_given() -> None:
    c = customer(consents={"phone": True})
    rec = plan(c, kind="product_recommendation", parts=("R1",))
    assert rec is not None and rec.purpose == "marketing"
    forced = plan(c, kind="retention", parts=("x",), purpose="marketing")
    assert forced is not None and forced.purpose == "marketing"


def test_plan_task_without_owner_is_unassigned() -> None:
    t = plan(customer(owner=None))
    assert t is not None and t.assignee is None and t.owner is None


def test_fallback_when_phone_opted_out_is_a_visit() -> None:
    c = customer(consents={"phone": False})
    t = plan(c, channel="call")
    assert t is not None and t.channel == "visit"
    assert c.events == []


def test_fallback_for_a_message() -> None:
    c = customer(consents={"sms": False})
    t = plan(c, channel="sms")
    assert t is not None and t.channel == "wechat"
    c = customer(consents={"sms": False, "wechat": False})
    t = plan(c, channel="sms")
    assert t is not None and t.channel == "app"
    c = customer(consents={"sms": False, "wechat": False, "app": False})
    t = plan(c, channel="sms")
    assert t is not None and t.channel == "email"


def test_fallbacks_table() -> None:
    assert FALLBACKS["call"] == ("visit",) and FALLBACKS["visit"] == ("call",)
    for written in ("sms", "wechat", "app", "email"):
        assert set(FALLBACKS[written]) == {"sms", "wechat", "app", "email"} - {written}


def test_preferred_channel_kept_when_allowed() -> None:
    c = customer(consents={"wechat": False})
    t = plan(c, channel="sms")
    assert t is not None and t.channel == "sms"


def test_contact_blocked_when_no_channel_is_left() -> None:
    c = customer(consents={"sms": False, "wechat": False, "app": False, "email": False})
    assert plan(c, channel="sms", created_by="S7") is None
    assert c.new_tasks == []
    (ev,) = c.events
    assert isinstance(ev, ContactBlocked)
    assert ev.rule == "consent.opt_out"
    assert "sms" in ev.detail  # the preferred channel's refusal is named
    assert ev.attempt_id == "C0001:birthday:2026:planned"
    assert (ev.customer_id, ev.channel, ev.purpose, ev.staff_id, ev.at, ev.context) == (
        "C0001",
        "sms",
        "service",
        "S7",
        NOW,
        "schedule",
    )


def test_marketing_needs_consent_on_some_written_channel() -> None:
    c = customer(consents={})
    assert plan(c, kind="product_recommendation", channel="sms", parts=("FUND1",)) is None
    (ev,) = of_type(c, ContactBlocked)
    assert ev.rule == "consent.missing" and ev.purpose == "marketing"
    c = customer(consents={"email": True})
    t = plan(c, kind="product_recommendation", channel="sms", parts=("FUND1",))
    assert t is not None and t.channel == "email" and c.events == []


def test_marketing_call_without_phone_consent_falls_back_to_a_visit() -> None:
    # a visit has no consent channel (the customer is met in person)
    t = plan(customer(consents={}), kind="product_recommendation", channel="call", parts=("FUND1",))
    assert t is not None and t.channel == "visit"


def test_planning_ignores_the_time_of_day() -> None:
    c = customer(consents={"sms": True})
    t = plan(c, kind="product_recommendation", channel="sms", parts=("F",), now=NIGHT)
    assert t is not None and t.channel == "sms"


def test_merged_customer_is_not_contacted() -> None:
    c = customer(merged_into="C0002")
    assert c.do_not_contact
    assert plan(c, channel="sms") is None
    (ev,) = c.events
    assert isinstance(ev, ContactBlocked) and ev.rule == "do_not_contact" and ev.channel == "sms"
    assert c.new_tasks == []


def test_task_created_events() -> None:
    c = customer()
    t = plan(c)
    assert t is not None
    (ev,) = [task_created(planned) for planned in c.new_tasks]  # as the unit of work announces them
    assert isinstance(ev, TaskCreated)
    assert ev == task_created(t)
    assert (ev.task_id, ev.kind, ev.channel, ev.assignee, ev.due_on, ev.created_at, ev.tier, ev.branch) == (
        t.task_id,
        "birthday",
        "call",
        "S1",
        date(2026, 6, 20),
        NOW,
        "key",
        "B01",
    )


# -- plan_cadence --------------------------------------------------------------------------------------------


def cadence(
    c: EngagedCustomer,
    open_tasks: list[Task] | None = None,
    *,
    today: date = TODAY,
    policy: EngagementPolicy = P,
    version: int = 1,
    reason: str = "cadence_changed",
) -> list[Task]:
    """Plan, then save as the service does: the tasks planned are stored (no longer pending in the unit of work)."""
    before = len(c.new_tasks)
    c.plan_cadence(policy=policy, version=version, today=today, now=NOW, open_tasks=open_tasks or [], reason=reason)
    planned = c.new_tasks[before:]
    c.new_tasks = c.new_tasks[:before]
    return planned


def state(c: EngagedCustomer) -> dict:
    """The cadence state's task and last contact per rule (it also remembers the rule's settings)."""
    return {k: {"task": v["task"], "last_done": v["last_done"]} for k, v in c.cadence.items()}


def test_plan_cadence_one_follow_up_per_rule_of_the_tier() -> None:
    c = customer(tier="key")
    new = cadence(c, version=3)
    by_occasion = {t.occasion: t for t in new}
    assert set(by_occasion) == {"monthly_visit", "fortnightly_call"}
    visit, call = by_occasion["monthly_visit"], by_occasion["fortnightly_call"]
    assert (visit.kind, visit.channel, visit.due_on, visit.purpose) == (
        "follow_up",
        "visit",
        date(2026, 7, 10),
        "service",
    )
    assert (call.channel, call.due_on) == ("call", date(2026, 6, 24))
    assert visit.task_id == "C0001:follow_up:monthly_visit:2026-07-10"
    assert call.task_id == "C0001:follow_up:fortnightly_call:2026-06-24"
    assert visit.assignee == "S1"
    assert state(c) == {
        "monthly_visit": {"task": visit.task_id, "last_done": None},
        "fortnightly_call": {"task": call.task_id, "last_done": None},
    }
    assert c.plan_version == 3
    assert c.events == []


@pytest.mark.parametrize(
    ("tier", "rules"),
    [
        ("vip", {"monthly_call"}),
        ("potential", {"quarterly_call"}),
        ("ordinary", {"half_yearly_call"}),
        ("small", {"yearly_care_message"}),
    ],
)
def test_plan_cadence_per_tier(tier: str, rules: set[str]) -> None:
    c = customer(tier=tier)
    assert {t.occasion for t in cadence(c)} == rules


def test_no_tier_no_cadence() -> None:
    c = customer(tier=None)
    assert cadence(c, version=2) == []
    assert c.cadence == {} and c.plan_version == 2


def test_plan_cadence_twice_plans_nothing_new() -> None:
    c = customer(tier="key")
    first = cadence(c)
    assert len(first) == 2
    assert cadence(c, open_tasks=first) == []
    assert cadence(c, open_tasks=first, today=TODAY + timedelta(days=3)) == []
    assert c.events == []


def test_plan_cadence_again_in_a_new_unit_of_work() -> None:
    c = customer(tier="key")
    stored = cadence(c)
    again = customer(tier="key", cadence={k: dict(v) for k, v in c.cadence.items()})
    assert cadence(again, open_tasks=stored) == []
    assert again.task_changes == {} and again.events == []


def test_tier_change_cancels_rules_the_new_tier_lacks() -> None:
    c = customer(tier="key")
    stored = cadence(c)
    c2 = customer(tier="key", cadence={k: dict(v) for k, v in c.cadence.items()})
    c2.change_tier("vip", open_tasks=stored)
    new = cadence(c2, open_tasks=stored, reason="tier_change", version=2)
    assert [t.occasion for t in new] == ["monthly_call"]
    assert new[0].tier == "vip" and new[0].due_on == date(2026, 7, 10)
    cancelled = of_type(c2, TaskCancelled)
    assert {e.task_id for e in cancelled} == {t.task_id for t in stored}
    assert all(e.reason == "tier_change" and e.kind == "follow_up" and e.customer_id == "C0001" for e in cancelled)
    assert all(t.status == "cancelled" for t in stored)
    for t in stored:
        change = c2.task_changes[t.task_id]
        assert change["status"] == "cancelled" and change["cancel_reason"] == "tier_change"
        assert change["cancelled_at"] == NOW and change["tier"] == "vip"
        assert change["_push"][-1]["action"] == "cancelled"
    assert set(c2.cadence) == {"monthly_call"}


def test_tier_change_upwards() -> None:
    c = customer(tier="vip")
    (monthly,) = cadence(c)
    c.change_tier("key", open_tasks=[monthly])
    new = cadence(c, open_tasks=[monthly], reason="tier_change")
    assert {t.occasion for t in new} == {"monthly_visit", "fortnightly_call"}
    assert [e.task_id for e in of_type(c, TaskCancelled)] == [monthly.task_id]


def test_tier_change_keeps_a_rule_both_tiers_have() -> None:
    shared = CadenceRule(name="monthly_call", channel="call", every_days=30)
    policy = EngagementPolicy(
        cadence={"vip": [shared], "key": [shared, CadenceRule(name="monthly_visit", channel="visit", every_days=30)]}
    )
    c = customer(tier="vip")
    (call,) = cadence(c, policy=policy)
    c.change_tier("key", open_tasks=[call])
    new = cadence(c, open_tasks=[call], policy=policy, reason="tier_change")
    assert [t.occasion for t in new] == ["monthly_visit"]
    assert of_type(c, TaskCancelled) == []
    assert c.cadence["monthly_call"]["task"] == call.task_id


def test_tier_lost_cancels_every_follow_up() -> None:
    c = customer(tier="key")
    stored = cadence(c)
    c.change_tier(None, open_tasks=stored)
    assert cadence(c, open_tasks=stored, reason="tier_change") == []
    assert len(of_type(c, TaskCancelled)) == 2 and c.cadence == {}


def test_follow_up_done_plans_from_the_day_of_contact() -> None:
    c = customer(tier="key")
    stored = cadence(c)
    call = next(t for t in stored if t.occasion == "fortnightly_call")
    visit = next(t for t in stored if t.occasion == "monthly_visit")
    c.follow_up_done(call, on=date(2026, 6, 20))
    assert state(c)["fortnightly_call"] == {"task": None, "last_done": "2026-06-20"}
    assert c.cadence["monthly_visit"]["task"] == visit.task_id
    call.status = "done"
    (nxt,) = cadence(c, open_tasks=[visit], today=date(2026, 6, 20))
    assert nxt.occasion == "fortnightly_call" and nxt.due_on == date(2026, 7, 4)
    assert nxt.task_id == "C0001:follow_up:fortnightly_call:2026-07-04"
    assert c.cadence["fortnightly_call"]["task"] == nxt.task_id


def test_follow_up_done_long_ago_is_due_today() -> None:
    c = customer(tier="vip", cadence={"monthly_call": {"task": None, "last_done": "2025-01-01"}})
    (t,) = cadence(c)
    assert t.due_on == TODAY


def test_follow_up_done_ignores_other_tasks() -> None:
    c = customer(tier="vip")
    cadence(c)
    before = {k: dict(v) for k, v in c.cadence.items()}
    c.follow_up_done(task("C0001:birthday:2026", kind="birthday"), on=TODAY)
    assert c.cadence == before


def test_a_follow_up_no_longer_open_is_planned_again() -> None:
    c = customer(tier="vip")
    (_first,) = cadence(c)
    (again,) = cadence(c, open_tasks=[])  # the stored one was closed elsewhere
    assert again.occasion == "monthly_call"


def test_cadence_blocked_on_every_channel_records_it_and_tries_again() -> None:
    c = customer(tier="small", consents={"sms": False, "wechat": False, "app": False, "email": False})
    assert cadence(c) == []
    (ev,) = of_type(c, ContactBlocked)
    assert ev.rule == "consent.opt_out" and ev.attempt_id.startswith("C0001:follow_up:yearly_care_message:")
    assert c.cadence["yearly_care_message"]["task"] is None
    c.consent_changed("app", True, at=NOW, open_tasks=[], policy=P, now=NOW)
    (t,) = cadence(c)
    assert t.channel == "app"


def test_merged_customer_gets_no_cadence() -> None:
    c = customer(tier="key", merged_into="C0002")
    assert cadence(c) == [] and c.events == []


# -- change_owner --------------------------------------------------------------------------------------------


def test_change_owner_moves_open_tasks_of_the_previous_owner_and_unassigned_ones() -> None:
    c = customer(owner="S1")
    mine = task("C0001:birthday:2026", assignee="S1")
    nobodys = task("C0001:festival:mid_autumn:2026", assignee=None, owner=None, kind="festival")
    supervisor_gave = task("C0001:welcome", assignee="S9", kind="welcome")
    done = task("C0001:anniversary:2026", assignee="S1", status="done", kind="anniversary")
    moved = c.change_owner("S2", open_tasks=[mine, nobodys, supervisor_gave, done], now=NOW, by="SUP1")
    assert moved == [mine, nobodys]
    assert c.owner == "S2"
    assert (mine.assignee, mine.owner, nobodys.assignee, nobodys.owner) == ("S2", "S2", "S2", "S2")
    assert (supervisor_gave.assignee, supervisor_gave.owner) == ("S9", "S2")
    assert (done.assignee, done.owner) == ("S1", "S1")
    events = of_type(c, TaskReassigned)
    assert [(e.task_id, e.from_assignee, e.to_assignee, e.reason, e.by, e.at) for e in events] == [
        (mine.task_id, "S1", "S2", "owner_change", "SUP1", NOW),
        (nobodys.task_id, None, "S2", "owner_change", "SUP1", NOW),
    ]
    assert c.task_changes[mine.task_id]["assignee"] == "S2" and c.task_changes[mine.task_id]["owner"] == "S2"
    (hist,) = c.task_changes[mine.task_id]["_push"]
    assert hist == {"at": NOW, "action": "reassigned", "by": "SUP1", "from": "S1", "to": "S2", "reason": "owner_change"}
    assert c.task_changes[supervisor_gave.task_id] == {"owner": "S2"}
    assert done.task_id not in c.task_changes


def test_change_owner_from_nobody() -> None:
    c = customer(owner=None)
    t = task("C0001:birthday:2026", assignee=None, owner=None)
    assert c.change_owner("S2", open_tasks=[t], now=NOW, by="system") == [t]
    assert t.assignee == "S2"
    (ev,) = of_type(c, TaskReassigned)
    assert ev.from_assignee is None


def test_change_owner_gives_tasks_planned_in_the_same_unit_of_work_to_the_new_owner_without_event() -> None:
    c = customer(owner="S1")
    planned = plan(c)
    assert planned is not None and planned.assignee == "S1"
    assert c.change_owner("S2", open_tasks=[], now=NOW, by="system") == []
    assert (planned.assignee, planned.owner) == ("S2", "S2")
    assert of_type(c, TaskReassigned) == [] and c.task_changes == {}
    (ev,) = [task_created(planned) for planned in c.new_tasks]  # as the unit of work announces them
    assert ev.assignee == "S2"


def test_change_owner_when_the_new_task_is_also_among_the_open_ones() -> None:
    c = customer(owner="S1")
    planned = plan(c)
    assert planned is not None
    assert c.change_owner("S2", open_tasks=[planned], now=NOW, by="system") == []
    assert planned.assignee == "S2" and of_type(c, TaskReassigned) == []


def test_change_owner_to_the_assignee_already_there() -> None:
    c = customer(owner="S1")
    t = task("C0001:birthday:2026", assignee="S2")
    assert c.change_owner("S2", open_tasks=[t], now=NOW, by="system") == []
    assert c.events == [] and c.task_changes[t.task_id] == {"owner": "S2"}


# -- consent_changed -----------------------------------------------------------------------------------------


def test_phone_opt_out_moves_calls_to_a_visit() -> None:
    c = customer(consents={"phone": True}, consent_at={"phone": NOW - timedelta(days=30)})
    call = task("C0001:follow_up:fortnightly_call:2026-06-24", channel="call")
    sms = task("C0001:birthday:2026", channel="sms", kind="birthday")
    visit = task("C0001:follow_up:monthly_visit:2026-07-10", channel="visit")
    assert c.consent_changed("phone", False, at=NOW, open_tasks=[call, sms, visit], policy=P, now=NOW) is True
    assert c.consents["phone"] is False and c.consent_at["phone"] == NOW
    assert call.channel == "visit" and call.status == "open"
    change = c.task_changes[call.task_id]
    assert change["channel"] == "visit"
    assert change["_push"] == [
        {
            "at": NOW,
            "action": "channel_changed",
            "by": "engagement",
            "from": "call",
            "to": "visit",
            "reason": "consent.opt_out",
        }
    ]
    assert sms.channel == "sms" and visit.channel == "visit"
    assert set(c.task_changes) == {call.task_id}
    assert c.events == []


def test_sms_opt_out_moves_a_message_to_another_written_channel() -> None:
    c = customer(consents={"wechat": False})
    t = task("C0001:birthday:2026", channel="sms", kind="birthday")
    c.consent_changed("sms", False, at=NOW, open_tasks=[t], policy=P, now=NOW)
    assert t.channel == "app"


def test_opt_out_cancels_when_no_channel_is_left() -> None:
    c = customer(consents={"sms": True})
    rec = task("C0001:product_recommendation:F1", channel="sms", kind="product_recommendation", purpose="marketing")
    c.consent_changed("sms", False, at=NOW, open_tasks=[rec], policy=P, now=NOW)
    assert rec.status == "cancelled" and rec.channel == "sms"
    (ev,) = of_type(c, TaskCancelled)
    assert (ev.task_id, ev.reason, ev.kind) == (rec.task_id, "consent.opt_out", "product_recommendation")
    assert c.task_changes[rec.task_id]["status"] == "cancelled"


def test_opt_out_leaves_closed_tasks_alone() -> None:
    c = customer()
    done = task("C0001:birthday:2026", channel="call", status="done")
    c.consent_changed("phone", False, at=NOW, open_tasks=[done], policy=P, now=NOW)
    assert done.channel == "call" and c.task_changes == {} and c.events == []


def test_an_older_decision_arriving_late_is_ignored() -> None:
    later, earlier = NOW, NOW - timedelta(hours=1)
    c = customer(consents={"phone": False}, consent_at={"phone": later})
    call = task("C0001:birthday:2026", channel="call")
    assert c.consent_changed("phone", True, at=earlier, open_tasks=[call], policy=P, now=NOW) is False
    assert c.consents == {"phone": False} and c.consent_at == {"phone": later}
    c = customer(consents={"phone": True}, consent_at={"phone": later})
    assert c.consent_changed("phone", False, at=earlier, open_tasks=[call], policy=P, now=NOW) is False
    assert c.consents == {"phone": True}
    assert call.channel == "call" and c.task_changes == {} and c.events == []


def test_a_newer_decision_applies() -> None:
    c = customer(consents={"phone": False}, consent_at={"phone": NOW - timedelta(days=1)})
    assert c.consent_changed("phone", True, at=NOW, open_tasks=[], policy=P, now=NOW) is True
    assert c.consents["phone"] is True


def test_decisions_on_other_channels_are_independent() -> None:
    c = customer(consents={"sms": True}, consent_at={"sms": NOW})
    assert c.consent_changed("phone", False, at=NOW - timedelta(days=3), open_tasks=[], policy=P, now=NOW) is True
    assert c.consents == {"sms": True, "phone": False}


def test_grant_changes_no_task() -> None:
    c = customer()
    t = task("C0001:birthday:2026", channel="call")
    assert c.consent_changed("phone", True, at=NOW, open_tasks=[t], policy=P, now=NOW) is True
    assert c.consents["phone"] is True and c.task_changes == {} and c.events == []


def test_marketing_can_be_planned_once_consent_is_granted() -> None:
    c = customer()
    assert plan(c, kind="product_recommendation", channel="email", parts=("F",)) is None
    c.consent_changed("email", True, at=NOW, open_tasks=[], policy=P, now=NOW)
    t = plan(c, kind="product_recommendation", channel="email", parts=("F",))
    assert t is not None and t.channel == "email"


# -- merged, tier and branch ---------------------------------------------------------------------------------


def test_merged_cancels_everything() -> None:
    c = customer(tier="key")
    stored = cadence(c)
    done = task("C0001:birthday:2025", status="done")
    extra = task("C0001:complaint_follow_up:CMP-7", kind="complaint_follow_up")
    c2 = customer(tier="key", cadence={k: dict(v) for k, v in c.cadence.items()})
    c2.merged("C0999", open_tasks=[*stored, extra, done], now=NOW)
    assert c2.merged_into == "C0999" and c2.do_not_contact
    assert all(t.status == "cancelled" for t in [*stored, extra]) and done.status == "done"
    events = of_type(c2, TaskCancelled)
    assert {e.task_id for e in events} == {t.task_id for t in [*stored, extra]}
    assert all(e.reason == "customer_merged" for e in events)
    assert c2.cadence == {}
    assert cadence(c2) == []
    assert plan(c2) is None and of_type(c2, ContactBlocked)[0].rule == "do_not_contact"


def test_change_tier_and_branch_update_open_tasks() -> None:
    c = customer(tier="vip", branch="B01")
    open_ = task("C0001:birthday:2026", tier="vip", branch="B01")
    done = task("C0001:birthday:2025", tier="vip", branch="B01", status="done")
    same_branch = task("C0001:welcome", tier="vip", branch="B02")
    c.change_tier("key", open_tasks=[open_, done])
    assert c.tier == "key" and open_.tier == "key" and done.tier == "vip"
    c.change_branch("B02", open_tasks=[open_, done, same_branch])
    assert c.branch == "B02" and open_.branch == "B02" and done.branch == "B01"
    assert c.task_changes == {open_.task_id: {"tier": "key", "branch": "B02"}}


# -- several changes in one unit of work (one consumed batch) ------------------------------------------------------


def test_tier_flapping_within_one_batch_leaves_only_the_last_tiers_follow_ups() -> None:
    c = customer(tier="vip")
    for tier in ("key", "vip"):
        c.change_tier(tier, open_tasks=[])
        c.plan_cadence(policy=P, version=1, today=TODAY, now=NOW, open_tasks=[], reason="tier_change")
    assert [t.occasion for t in c.new_tasks] == ["monthly_call"]
    assert set(c.cadence) == {"monthly_call"}
    assert of_type(c, TaskCancelled) == []  # the key tier's tasks were never stored: nothing to announce


def test_an_opt_out_later_in_the_batch_reaches_a_task_planned_earlier_in_it() -> None:
    c = customer(tier="vip", consents={"phone": True})
    c.plan_task(kind="product_recommendation", due_on=TODAY, channel="call", policy=P, now=NOW, parts=("x",))
    c.consent_changed("phone", False, at=NOW, open_tasks=[], policy=P, now=NOW)
    [planned] = c.new_tasks
    assert planned.channel == "visit"


def test_a_merge_later_in_the_batch_drops_tasks_planned_earlier_in_it() -> None:
    c = customer(tier="vip")
    c.plan_task(kind="welcome", due_on=TODAY, channel="call", policy=P, now=NOW, parts=("x",))
    c.merged("C0002", open_tasks=[], now=NOW)
    assert c.new_tasks == []


def test_a_rule_whose_interval_changes_is_planned_again_from_the_same_start() -> None:
    c = customer(tier="vip")
    (monthly,) = cadence(c)
    assert monthly.due_on == TODAY + timedelta(days=30)
    faster = EngagementPolicy(cadence={"vip": [CadenceRule(name="monthly_call", channel="call", every_days=14)]})
    (replanned,) = cadence(c, open_tasks=[monthly], policy=faster, version=2, today=TODAY + timedelta(days=2))
    assert replanned.due_on == TODAY + timedelta(days=14)
    assert [e.task_id for e in of_type(c, TaskCancelled)] == [monthly.task_id]
    assert cadence(c, open_tasks=[replanned], policy=faster, version=2) == []  # and then it holds


# -- care moments and the welcome on entering a tier ----------------------------------------------------------


def test_care_moments_within_the_tier_lead_time_are_planned():
    c = customer(tier="key", birth_month_day="06-15", customer_since=date(2020, 6, 20))  # key: 7 days ahead
    planned = c.plan_care(policy=P, today=TODAY, now=NOW)
    assert [(t.task_id, t.due_on, t.visible_from, t.channel, t.assignee) for t in planned] == [
        ("C0001:birthday:2026", date(2026, 6, 15), date(2026, 6, 8), "visit", "S1")
    ]
    vip = customer(tier="vip", birth_month_day="06-16")  # vip: 5 days ahead, the 16th is six away
    assert vip.plan_care(policy=P, today=TODAY, now=NOW) == []


def test_no_care_moment_without_an_owner_or_for_a_merged_record():
    assert customer(owner=None, birth_month_day="06-12").plan_care(policy=P, today=TODAY, now=NOW) == []
    assert customer(merged_into="C2", birth_month_day="06-12").plan_care(policy=P, today=TODAY, now=NOW) == []
    assert customer(tier=None, birth_month_day="06-12").plan_care(policy=P, today=TODAY, now=NOW) == []


def test_a_first_tier_as_high_as_vip_or_key_is_welcomed_like_an_upgrade():
    c = customer()
    assert c.welcome_due(reason="upgrade", from_tier="ordinary", to_tier="potential", policy=P)
    assert c.welcome_due(reason="first_tier", from_tier=None, to_tier="key", policy=P)
    assert c.welcome_due(reason="first_tier", from_tier=None, to_tier="vip", policy=P)
    assert c.welcome_due(reason="policy_change", from_tier=None, to_tier="vip", policy=P)
    assert not c.welcome_due(reason="first_tier", from_tier=None, to_tier="potential", policy=P)
    assert not c.welcome_due(reason="downgrade", from_tier="key", to_tier="vip", policy=P)
    assert not c.welcome_due(reason="policy_change", from_tier="potential", to_tier="vip", policy=P)
    assert not customer(merged_into="C2").welcome_due(reason="first_tier", from_tier=None, to_tier="key", policy=P)


def test_a_task_the_store_refused_leaves_the_cadence_with_the_open_one():
    c = customer(cadence={"monthly_call": {"task": "C0001:follow_up:monthly_call:2026-06-11", "last_done": None}})
    refused = task("C0001:follow_up:monthly_call:2026-06-11")
    c.already_open(refused, "C0001:follow_up:monthly_call:2026-06-10")
    assert c.cadence["monthly_call"]["task"] == "C0001:follow_up:monthly_call:2026-06-10"
    assert refused.status == "cancelled"


def test_a_follow_up_due_on_a_public_holiday_is_due_the_next_working_day():
    golden_week = {date(2026, 10, d) for d in range(1, 8)}

    def working_day(day: date) -> date:
        while day in golden_week:
            day += timedelta(days=1)
        return day

    c = customer(tier="vip")  # monthly call every 30 days: 2026-09-01 + 30 = 10-01, 国庆
    c.plan_cadence(policy=P, version=1, today=date(2026, 9, 1), now=NOW, open_tasks=[], working_day=working_day)
    [planned] = c.new_tasks
    assert (planned.task_id, planned.due_on) == ("C0001:follow_up:monthly_call:2026-10-08", date(2026, 10, 8))
    other = customer(tier="vip")
    other.plan_cadence(policy=P, version=1, today=date(2026, 9, 2), now=NOW, open_tasks=[], working_day=working_day)
    assert [t.due_on for t in other.new_tasks] == [date(2026, 10, 8)]
    plain = customer(tier="vip")
    plain.plan_cadence(policy=P, version=1, today=date(2026, 9, 10), now=NOW, open_tasks=[], working_day=working_day)
    assert [t.due_on for t in plain.new_tasks] == [date(2026, 10, 10)]  # a Saturday, but no public holiday


def test_the_next_follow_up_never_takes_the_id_of_the_one_it_replaces():
    c = customer(tier="vip")
    c.plan_cadence(policy=P, version=1, today=TODAY, now=NOW, open_tasks=[])
    [first] = c.new_tasks
    c.new_tasks = []
    first.status = "done"
    c.follow_up_done(first, on=TODAY)  # called the day it was planned from: the next one falls on the same day
    c.plan_cadence(policy=P, version=1, today=TODAY, now=NOW, open_tasks=[])
    [second] = c.new_tasks
    assert second.due_on == first.due_on and second.task_id != first.task_id
    assert c.cadence["monthly_call"]["task"] == second.task_id


def test_a_newer_welcome_supersedes_the_open_one():
    c = customer()
    vip = task("C0001:welcome:vip:2026-06-08", kind="welcome")
    c.supersede("welcome", open_tasks=[vip, task("C0001:follow_up:monthly_call:2026-07-08")], now=NOW)
    assert vip.status == "cancelled" and c.task_changes[vip.task_id]["cancel_reason"] == "superseded"
    assert [e.task_id for e in of_type(c, TaskCancelled)] == [vip.task_id]


def test_plan_cadence_counts_a_new_rule_from_the_tier_change_not_from_when_it_was_processed() -> None:
    # The same tier change processed on its day or three days late (a backlog, a replay): the same follow-up.
    on_time, late = customer(tier="vip"), customer(tier="vip")
    on_time.plan_cadence(policy=P, version=1, today=TODAY, now=NOW, open_tasks=[], since=TODAY)
    late.plan_cadence(policy=P, version=1, today=TODAY + timedelta(days=3), now=NOW, open_tasks=[], since=TODAY)
    [a], [b] = on_time.new_tasks, late.new_tasks
    assert (
        (a.task_id, a.due_on) == (b.task_id, b.due_on) == ("C0001:follow_up:monthly_call:2026-07-10", date(2026, 7, 10))
    )
    # Never due before the day it is planned on.
    stale = customer(tier="vip")
    stale.plan_cadence(policy=P, version=1, today=TODAY, now=NOW, open_tasks=[], since=TODAY - timedelta(days=40))
    assert [t.due_on for t in stale.new_tasks] == [TODAY]
