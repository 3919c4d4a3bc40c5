"""Follow-ups against the real broker and database: an upgrade brings a welcome call by the new owner, an owner
change re-plans the open tasks (none left with the previous owner, none lost, none doubled)."""

from __future__ import annotations

from datetime import date

from crm_contracts.topics import ENGAGEMENT_TASKS
from engagement_support import (
    TASK_CREATED,
    TASK_REASSIGNED,
    auth,
    owner_assigned,
    register,
    tier_changed,
    wait_customer,
    wait_tasks,
)
from support import eventually, of_type, read_topic


async def test_upgrade_brings_a_welcome_call_by_the_new_owner(engagement, feed, head_office, token_for):
    await register(engagement, feed, "C100")
    await wait_customer(engagement, "C100", lambda d: d.get("owner") == "S-RM1")
    # Tiering publishes the tier change, then the new owner, in that order.
    await feed.tiering(tier_changed("C100", "vip", from_tier="potential"), owner_assigned("C100", "S-RM2"))
    # The two events may be applied in one batch or two: the welcome is made for the new owner, or made for the old
    # one and handed over at once. Either way it ends with the new owner.
    welcome = await wait_tasks(engagement, head_office, customer_id="C100", kind="welcome", assignee="S-RM2")
    assert len(welcome) == 1
    # 2026-12-01 is a Tuesday: two working days later is Thursday.
    assert welcome[0]["due_on"] == "2026-12-03"
    follow_ups = await wait_tasks(engagement, head_office, customer_id="C100", kind="follow_up", assignee="S-RM2")
    assert [t["occasion"] for t in follow_ups] == ["monthly_call"]
    assert follow_ups[0]["assignee"] == "S-RM2" and follow_ups[0]["due_on"] == "2026-12-31"
    # The new owner sees them in their day's list on the due date; the previous owner has nothing.
    r = await engagement.get(
        "/v1/agenda", params={"date": "2026-12-03"}, headers=auth(token_for("relationship_manager", "S-RM2"))
    )
    assert [t["kind"] for t in r.json()["items"]] == ["welcome"]
    r = await engagement.get(
        "/v1/tasks", params={"status": "open"}, headers=auth(token_for("relationship_manager", "S-RM1"))
    )
    assert r.json()["items"] == []
    created = await feed.published(TASK_CREATED, "C100", count=2)
    assert {e["data"]["kind"] for e in created} == {"welcome", "follow_up"}


async def test_owner_change_replans_open_tasks_without_losing_or_doubling(engagement, feed, head_office):
    await register(engagement, feed, "C200")
    await feed.tiering(tier_changed("C200", "key", from_tier="vip"))
    tasks = await wait_tasks(engagement, head_office, customer_id="C200", status="open", count=3)
    assert {t["kind"] for t in tasks} == {"welcome", "follow_up"}
    assert {t["assignee"] for t in tasks} == {"S-RM1"}
    before = sorted(t["id"] for t in tasks)
    # Owner changes twice; the second is delivered twice (a redelivery).
    sent = await feed.tiering(owner_assigned("C200", "S-BM1", tier="key"))
    await feed.tiering(owner_assigned("C200", "S-SUP1", previous="S-BM1", tier="key"))
    await feed.send_records("crm.tiering.customers", [sent[0]])

    async def settled():
        r = await engagement.get(
            "/v1/tasks", params={"customer_id": "C200", "status": "open"}, headers=auth(head_office)
        )
        items = r.json()["items"]
        return items if items and {t["assignee"] for t in items} == {"S-SUP1"} else None

    after = await eventually(settled)
    assert sorted(t["id"] for t in after) == before  # none lost, none doubled
    moved = await feed.published(TASK_REASSIGNED, "C200", count=6, settle=1.0)
    assert len(moved) == 6  # 3 tasks × 2 owner changes; the redelivered one moved nothing
    assert {(m["data"]["from_assignee"], m["data"]["to_assignee"]) for m in moved} == {
        ("S-RM1", "S-BM1"),
        ("S-BM1", "S-SUP1"),
    }
    assert date.fromisoformat(after[0]["due_on"]) >= date(2026, 12, 1)
    # Every engagement event carries its customer's number, consecutive from 1 in topic order.
    records = await read_topic(
        feed.bootstrap,
        feed.topic(ENGAGEMENT_TASKS),
        until=lambda rs: len(of_type(rs, TASK_REASSIGNED, "C200")) >= len(moved),
    )
    numbers: dict[bytes, list[int]] = {}
    for record in records:
        numbers.setdefault(record.key, []).append(int(dict(record.headers)["ce_sequence"].decode()))
    assert numbers and all(seqs == list(range(1, len(seqs) + 1)) for seqs in numbers.values()), numbers


async def test_a_follow_up_due_on_a_public_holiday_is_due_the_next_working_day(start_engagement, feed, head_office, rm):
    # Tiered on 2026-09-01: vip's monthly call 30 days later is 10-01, 国庆 (10-01..10-07 off), so it is due 10-08.
    async with start_engagement(clock_date="2026-09-01") as engagement:
        await register(engagement, feed, "C120")
        await feed.tiering(tier_changed("C120", "vip", from_tier="potential", as_of=date(2026, 9, 1)))
        [call] = await wait_tasks(engagement, head_office, customer_id="C120", kind="follow_up")
        assert (call["id"], call["due_on"]) == ("C120:follow_up:monthly_call:2026-10-08", "2026-10-08")
        # Called the same day: the next one is again 30 days on, 10-01, and again due 10-08 — a task of its own.
        r = await engagement.post(
            f"/v1/tasks/{call['id']}/complete", headers=rm, json={"outcome": "reached", "channel": "visit"}
        )
        assert r.status_code == 200, r.text
        [following] = await wait_tasks(engagement, head_office, customer_id="C120", kind="follow_up", status="open")
        assert following["due_on"] == "2026-10-08" and following["id"] != call["id"]
