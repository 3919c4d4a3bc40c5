"""Events that arrive late, against the real broker and database: whatever engagement planned without the event
it was missing catches up when that event arrives.

- tiering before the registration: follow-ups and the welcome were planned for nobody, the birthday unknown; the
  registration gives them their owner and branch and plans the birthday inside its lead time;
- a complaint for a customer engagement does not know yet: its call-back gets owner and branch on registration;
- a complaint closed on a record that is merged away afterwards: the survivor takes over the call-back and survey;
- a consent decided after the task was planned: the task goes back to the channel it was planned for."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_contracts.profile import CustomerMerged
from engagement_support import (
    assets,
    auth,
    complaint_closed,
    consent,
    register,
    registered,
    tier_changed,
    wait_customer,
    wait_tasks,
)
from support import eventually


async def _tasks(engagement, token, **params):
    r = await engagement.get("/v1/tasks", params=params, headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_a_tier_before_the_registration_catches_up_owner_branch_and_birthday(engagement, feed, head_office, rm):
    await feed.tiering(tier_changed("C800", "vip", reason="first_tier", branch="BR001"))
    await wait_customer(engagement, "C800", lambda d: d.get("tier") == "vip")
    planned = await wait_tasks(engagement, head_office, count=2, customer_id="C800")
    assert sorted((t["kind"], t["assignee"]) for t in planned) == [("follow_up", None), ("welcome", None)]

    # The registration (owner S-RM1, birthday on 12-04: inside vip's five days) arrives afterwards.
    await feed.profile(registered("C800", birth_month_day="12-04"))

    async def caught_up():
        items = await _tasks(engagement, head_office, customer_id="C800", status="open")
        return items if len(items) == 3 and all(t["assignee"] == "S-RM1" for t in items) else None

    items = await eventually(caught_up)
    assert sorted((t["kind"], t["due_on"], t["branch"]) for t in items) == [
        ("birthday", "2026-12-04", "BR001"),
        ("follow_up", "2026-12-31", "BR001"),
        ("welcome", "2026-12-03", "BR001"),
    ]
    # The RM sees them in their day.
    r = await engagement.get("/v1/tasks", params={"assignee": "S-RM1", "customer_id": "C800"}, headers=rm)
    mine = r.json()["items"]
    assert {t["kind"] for t in mine} == {"birthday", "follow_up", "welcome"}


async def test_a_complaint_before_the_registration_is_followed_up_by_the_owner(engagement, feed, head_office):
    await feed.complaints(complaint_closed("C810", "CMP-810"))
    [task] = await wait_tasks(engagement, head_office, customer_id="C810", kind="complaint_follow_up")
    assert (task["assignee"], task["branch"]) == (None, None)
    await feed.profile(registered("C810", branch="BR002", owner="S-RM2"))

    async def routed():
        [t] = await _tasks(engagement, head_office, customer_id="C810", kind="complaint_follow_up")
        return t if t["assignee"] == "S-RM2" else None

    task = await eventually(routed)
    assert (task["id"], task["branch"], task["status"]) == ("C810:complaint_follow_up:CMP-810", "BR002", "open")


async def test_a_complaint_on_a_record_merged_afterwards_is_followed_up_on_the_survivor(engagement, feed, head_office):
    await register(engagement, feed, "C820", "C821")
    await feed.complaints(complaint_closed("C820", "CMP-820"))
    await wait_tasks(engagement, head_office, customer_id="C820", kind="complaint_follow_up")
    await feed.profile(
        CustomerMerged(survivor_id="C821", merged_id="C820", merged_by="S-RM1", merged_at=datetime.now(UTC))
    )

    [taken] = await wait_tasks(engagement, head_office, customer_id="C821", kind="complaint_follow_up")
    assert (taken["id"], taken["assignee"], taken["status"], taken["occasion"]) == (
        "C821:complaint_follow_up:CMP-820",
        "S-RM1",
        "open",
        "CMP-820",
    )
    [old] = await _tasks(engagement, head_office, customer_id="C820", kind="complaint_follow_up")
    assert old["status"] == "cancelled"
    survey = await engagement.store.surveys.find_one({"_id": "complaint:CMP-820"})
    assert (survey["customer_id"], survey["merged_from"]) == ("C821", "C820")
    # The complaint event redelivered, naming the merged record, makes no second call-back.
    await feed.complaints(complaint_closed("C820", "CMP-820"))
    await feed.complaints(complaint_closed("C821", "CMP-821"))
    await wait_tasks(engagement, head_office, count=2, customer_id="C821", kind="complaint_follow_up")
    assert sorted(t["id"] for t in await _tasks(engagement, head_office, customer_id="C821")) == [
        "C821:complaint_follow_up:CMP-820",
        "C821:complaint_follow_up:CMP-821",
    ]


async def test_a_consent_given_after_the_task_was_planned_brings_it_back_to_its_channel(engagement, feed, head_office):
    await register(engagement, feed, "C830")
    await feed.tiering(tier_changed("C830", "ordinary", reason="first_tier"))
    await wait_customer(engagement, "C830", lambda d: d.get("tier") == "ordinary")
    # No phone consent known yet: the marketing call is planned as a visit.
    await feed.profile(assets("C830", "150000.00", "50000.00"))
    [task] = await wait_tasks(engagement, head_office, customer_id="C830", kind="product_recommendation")
    assert task["channel"] == "visit"
    await feed.profile(consent("C830", "phone", True))

    async def on_the_phone():
        [t] = await _tasks(engagement, head_office, customer_id="C830", kind="product_recommendation")
        return t if t["channel"] == "call" else None

    task = await eventually(on_the_phone)
    stored = await engagement.store.tasks.find_one({"_id": task["id"]})
    assert (stored["asked_channel"], stored["history"][-1]["action"], stored["history"][-1]["reason"]) == (
        "call",
        "channel_changed",
        "consent.granted",
    )
