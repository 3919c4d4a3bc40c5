"""crm_engagement.domain.tasks: ids, a staff member's order of the day, overdue."""

from __future__ import annotations

from datetime import date

import pytest

from crm_engagement.domain.tasks import KIND_ORDER, Task, is_overdue, priority, task_id

D = date(2026, 6, 10)


def test_task_id_format() -> None:
    assert task_id("C0001", "birthday", 2026) == "C0001:birthday:2026"
    assert (
        task_id("C0001", "follow_up", "monthly_call", date(2026, 12, 14)) == "C0001:follow_up:monthly_call:2026-12-14"
    )
    assert task_id("C0001", "complaint_follow_up", "CMP-7") == "C0001:complaint_follow_up:CMP-7"
    assert task_id("C0001", "welcome") == "C0001:welcome"


def test_task_id_is_deterministic() -> None:
    assert task_id("C9", "festival", "mid_autumn", 2026) == task_id("C9", "festival", "mid_autumn", 2026)
    assert task_id("C9", "festival", "mid_autumn", 2026) != task_id("C9", "festival", "mid_autumn", 2027)


def test_key_before_vip_whatever_the_due_date_and_kind() -> None:
    key = priority(tier="key", due_on=date(2026, 6, 20), kind="festival")
    vip = priority(tier="vip", due_on=date(2026, 6, 1), kind="complaint_follow_up")
    assert key < vip


def test_tier_order() -> None:
    tiers = ["small", None, "vip", "ordinary", "key", "potential"]
    ordered = sorted(tiers, key=lambda t: priority(tier=t, due_on=D, kind="follow_up"))
    assert ordered == ["key", "vip", "potential", "ordinary", "small", None]


def test_unknown_tier_sorts_with_no_tier() -> None:
    assert priority(tier="gold", due_on=D, kind="manual") == priority(tier=None, due_on=D, kind="manual")


def test_earlier_due_first_within_a_tier() -> None:
    early = priority(tier="vip", due_on=date(2026, 6, 1), kind="festival")
    late = priority(tier="vip", due_on=date(2026, 6, 2), kind="complaint_follow_up")
    assert early < late
    # across a year and month boundary too (ISO strings sort like dates)
    assert priority(tier="vip", due_on=date(2025, 12, 31), kind="manual") < priority(
        tier="vip", due_on=date(2026, 1, 1), kind="manual"
    )


def test_due_may_be_an_iso_string() -> None:
    assert priority(tier="key", due_on="2026-06-10", kind="follow_up") == priority(
        tier="key", due_on=date(2026, 6, 10), kind="follow_up"
    )


def test_kind_urgency_at_equal_tier_and_due() -> None:
    c = priority(tier="key", due_on=D, kind="complaint_follow_up")
    f = priority(tier="key", due_on=D, kind="follow_up")
    fest = priority(tier="key", due_on=D, kind="festival")
    assert c < f < fest


def test_kind_order_in_full_and_unknown_kinds_last() -> None:
    keys = [priority(tier="vip", due_on=D, kind=k) for k in KIND_ORDER]
    assert keys == sorted(keys)
    assert KIND_ORDER[0] == "complaint_follow_up"
    assert priority(tier="vip", due_on=D, kind="something_else") > priority(tier="vip", due_on=D, kind="manual")


def test_sorting_a_day() -> None:
    items = [
        ("vip-fest", "vip", date(2026, 6, 10), "festival"),
        ("key-late", "key", date(2026, 6, 12), "follow_up"),
        ("key-fest", "key", date(2026, 6, 10), "festival"),
        ("key-fu", "key", date(2026, 6, 10), "follow_up"),
        ("key-cmp", "key", date(2026, 6, 10), "complaint_follow_up"),
        ("vip-early", "vip", date(2026, 6, 1), "manual"),
    ]
    ordered = [n for n, *_ in sorted(items, key=lambda i: priority(tier=i[1], due_on=i[2], kind=i[3]))]
    assert ordered == ["key-cmp", "key-fu", "key-fest", "key-late", "vip-early", "vip-fest"]


@pytest.mark.parametrize(
    ("status", "due_on", "overdue"),
    [
        ("open", date(2026, 6, 9), True),
        ("open", date(2026, 6, 10), False),  # due today: not yet
        ("open", date(2026, 6, 11), False),
        ("done", date(2026, 1, 1), False),
        ("cancelled", date(2026, 1, 1), False),
    ],
)
def test_is_overdue(status: str, due_on: date, overdue: bool) -> None:
    assert is_overdue(status=status, due_on=due_on, today=D) is overdue


def test_task_defaults() -> None:
    t = Task(
        task_id="C1:manual:x",
        customer_id="C1",
        kind="manual",
        purpose="service",
        channel="call",
        due_on=D,
        assignee="S1",
        branch="B1",
        tier="vip",
    )
    assert t.status == "open" and t.overdue is False and t.created_by == "engagement"
    assert t.history == [] and t.owner is None and t.note is None
    t2 = Task(
        task_id="C2:manual:x",
        customer_id="C2",
        kind="manual",
        purpose="service",
        channel="call",
        due_on=D,
        assignee=None,
        branch=None,
        tier=None,
    )
    t.history.append({"a": 1})
    assert t2.history == []  # not shared between tasks


def _task(kind, occasion, due_on=date(2026, 12, 14), task_id="C1:x"):
    from crm_engagement.domain.tasks import Task

    return Task(
        task_id=task_id,
        customer_id="C1",
        kind=kind,
        purpose="service",
        channel="call",
        due_on=due_on,
        assignee="S1",
        branch="BR001",
        tier="vip",
        occasion=occasion,
    )


def test_open_key_is_the_customer_kind_and_occasion():
    from crm_engagement.domain.tasks import open_key

    assert (
        open_key(_task("product_recommendation", "aum_above_100000.00", task_id="C1:product_recommendation:2026-12-02"))
        == open_key(
            _task("product_recommendation", "aum_above_100000.00", task_id="C1:product_recommendation:2026-12-04")
        )
        == "C1:product_recommendation:aum_above_100000.00"
    )
    assert open_key(_task("follow_up", "monthly_call")) == "C1:follow_up:monthly_call"
    assert open_key(_task("welcome", "upgrade_to_vip")) == open_key(_task("welcome", "first_tier_key")) == "C1:welcome"
    assert open_key(_task("complaint_follow_up", "CMP-7")) == "C1:complaint_follow_up:CMP-7"


def test_one_retention_call_at_a_time_and_care_moments_once_a_year():
    from crm_engagement.domain.tasks import open_key

    assert (
        open_key(_task("retention", "outflow")) == open_key(_task("retention", "outflow,complaint")) == "C1:retention"
    )
    assert open_key(_task("birthday", "birthday", date(2026, 12, 20))) == "C1:birthday:birthday:2026"
    assert open_key(_task("birthday", "birthday", date(2027, 12, 20))) == "C1:birthday:birthday:2027"
    assert open_key(_task("festival", "spring_festival", date(2027, 2, 6))) == "C1:festival:spring_festival:2027"


def test_tasks_made_by_hand_have_no_open_key():
    from crm_engagement.domain.tasks import open_key

    assert open_key(_task("manual", None)) is None
