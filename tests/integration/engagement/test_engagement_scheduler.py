"""The scheduler against the real broker and database: birthday and 中秋 tasks on the right dates (each tier's
lead time before the occasion, due on the day), overdue tasks surfacing (task-overdue.v1, the list, the
agenda), monthly points credited once, a redemption never below zero."""

from __future__ import annotations

from datetime import date

from engagement_support import (
    TASK_OVERDUE,
    auth,
    owner_assigned,
    register,
    registered,
    tier_changed,
    wait_customer,
    wait_tasks,
)
from support import eventually


async def _set_day(engagement, day: str) -> None:
    engagement.service.rt.settings.clock_date = date.fromisoformat(day)
    engagement.service.scheduler_job.wake()


async def _day_done(engagement, day: str) -> None:
    async def done():
        doc = await engagement.store.scheduler.find_one({"_id": f"overdue:{day}"})
        return doc is not None and doc.get("done")

    await eventually(done, timeout=30)


async def _tasks(engagement, token, **params):
    r = await engagement.get("/v1/tasks", params=params, headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_mid_autumn_task_appears_five_days_ahead_for_vip_and_one_day_for_ordinary(
    start_engagement, feed, head_office
):
    async with start_engagement(clock_date="2026-09-19") as engagement:
        await feed.profile(registered("C400", owner="S-RM1"), registered("C401", owner="S-LC1"))
        await feed.tiering(
            tier_changed("C400", "vip", reason="first_tier"), tier_changed("C401", "ordinary", reason="first_tier")
        )
        await wait_customer(engagement, "C400", lambda d: d.get("tier") == "vip")
        await wait_customer(engagement, "C401", lambda d: d.get("tier") == "ordinary")
        engagement.service.scheduler_job.wake()
        await _day_done(engagement, "2026-09-19")
        assert await _tasks(engagement, head_office, kind="festival") == []  # 中秋 2026 is 09-25: not yet

        await _set_day(engagement, "2026-09-20")
        [vip] = await wait_tasks(engagement, head_office, kind="festival", customer_id="C400")
        assert (vip["occasion"], vip["due_on"], vip["channel"], vip["assignee"]) == (
            "mid_autumn",
            "2026-09-25",
            "call",
            "S-RM1",
        )
        assert vip["id"] == "C400:festival:mid_autumn:2026"
        await _day_done(engagement, "2026-09-20")
        assert await _tasks(engagement, head_office, kind="festival", customer_id="C401") == []

        await _set_day(engagement, "2026-09-24")
        [ordinary] = await wait_tasks(engagement, head_office, kind="festival", customer_id="C401")
        assert (ordinary["occasion"], ordinary["due_on"], ordinary["channel"]) == ("mid_autumn", "2026-09-25", "sms")
        await _day_done(engagement, "2026-09-24")
        # Days passing create no second task for the same festival.
        assert len(await _tasks(engagement, head_office, kind="festival", customer_id="C400")) == 1


async def test_birthday_task_is_due_on_the_birthday(engagement, feed, head_office):
    # The business date is 2026-12-01 (a Tuesday); a vip customer gets the task 5 days ahead.
    await feed.profile(
        registered("C410", owner="S-RM1", birth_month_day="12-04"),
        registered("C411", owner="S-RM1", birth_month_day="12-09"),
    )
    await feed.tiering(
        tier_changed("C410", "vip", reason="first_tier"), tier_changed("C411", "vip", reason="first_tier")
    )
    await wait_customer(engagement, "C410", lambda d: d.get("tier") == "vip" and d.get("birth_month_day") == "12-04")
    await wait_customer(engagement, "C411", lambda d: d.get("tier") == "vip")
    await _set_day(engagement, "2026-12-02")  # the day's run after both customers are known
    [birthday] = await wait_tasks(engagement, head_office, kind="birthday")
    assert (birthday["customer_id"], birthday["due_on"], birthday["id"]) == ("C410", "2026-12-04", "C410:birthday:2026")
    await _set_day(engagement, "2026-12-04")
    both = await wait_tasks(engagement, head_office, kind="birthday", count=2)
    assert sorted((t["customer_id"], t["due_on"]) for t in both) == [("C410", "2026-12-04"), ("C411", "2026-12-09")]


async def test_overdue_tasks_surface_once(engagement, feed, head_office, token_for):
    rm2 = token_for("relationship_manager", "S-RM2")
    await register(engagement, feed, "C420")
    await feed.tiering(tier_changed("C420", "vip", from_tier="potential"), owner_assigned("C420", "S-RM2"))
    [welcome] = await wait_tasks(engagement, rm2, kind="welcome", assignee="S-RM2")
    assert welcome["due_on"] == "2026-12-03" and welcome["overdue"] is False
    await _set_day(engagement, "2026-12-03")
    await _day_done(engagement, "2026-12-03")
    assert await _tasks(engagement, rm2, overdue="true") == []  # due today is not overdue yet

    await _set_day(engagement, "2026-12-04")
    [late] = await wait_tasks(engagement, rm2, overdue="true")
    assert late["id"] == welcome["id"] and late["overdue"] is True
    [event] = await feed.published(TASK_OVERDUE, "C420")
    assert (event["data"]["task_id"], event["data"]["assignee"], event["data"]["due_on"]) == (
        welcome["id"],
        "S-RM2",
        "2026-12-03",
    )
    agenda = (await engagement.get("/v1/agenda", headers=auth(rm2))).json()
    assert agenda["date"] == "2026-12-04" and [t["id"] for t in agenda["items"]] == [welcome["id"]]
    assert agenda["items"][0]["overdue"] is True
    # A supervisor of the branch sees it too; another RM does not.
    sup = token_for("rm_supervisor", "S-SUP1", "BR001")
    assert [t["id"] for t in await _tasks(engagement, sup, overdue="true")] == [welcome["id"]]
    assert await _tasks(engagement, token_for("relationship_manager", "S-RM9"), overdue="true") == []
    await _set_day(engagement, "2026-12-05")
    await _day_done(engagement, "2026-12-05")
    assert len(await feed.published(TASK_OVERDUE, "C420", settle=1.0)) == 1  # raised once, not every day

    report = (await engagement.get("/v1/reports/follow-ups", headers=auth(head_office))).json()
    row = next(r for r in report["staff"] if r["staff_id"] == "S-RM2")
    assert row["open"] == 2 and row["overdue"] == 1


async def test_monthly_points_are_credited_once_per_month(engagement, feed, token_for):
    rm = auth(token_for("relationship_manager", "S-RM1"))
    await register(engagement, feed, "C430")
    await feed.tiering(tier_changed("C430", "vip", reason="first_tier"))
    await wait_customer(engagement, "C430", lambda d: d.get("tier") == "vip")
    # December's points went to the customers tiered on its first run; this one earns from January.
    await _set_day(engagement, "2027-01-01")

    async def credited():
        body = (await engagement.get("/v1/customers/C430/points", headers=rm)).json()
        return body if body["balance"] else None

    body = await eventually(credited, timeout=30)
    assert body["balance"] == 200 and [e["reason"] for e in body["entries"]] == ["monthly_tier"]
    assert body["entries"][0]["id"] == "C430:monthly:2027-01"
    await _set_day(engagement, "2027-01-02")
    await _day_done(engagement, "2027-01-02")
    assert (await engagement.get("/v1/customers/C430/points", headers=rm)).json()["balance"] == 200
    # Redeem: never below zero; the same request twice redeems once.
    r = await engagement.post(
        "/v1/customers/C430/points/redemptions", headers=rm, json={"points": 150, "reason": "gift", "request_id": "R1"}
    )
    assert r.status_code == 200 and r.json()["balance"] == 50
    r = await engagement.post(
        "/v1/customers/C430/points/redemptions", headers=rm, json={"points": 150, "reason": "gift", "request_id": "R1"}
    )
    assert r.status_code == 200 and r.json()["replayed"] is True and r.json()["balance"] == 50
    r = await engagement.post(
        "/v1/customers/C430/points/redemptions", headers=rm, json={"points": 51, "reason": "gift", "request_id": "R2"}
    )
    assert r.status_code == 409 and "balance 50" in r.json()["detail"]
    assert (await engagement.get("/v1/customers/C430/points", headers=rm)).json()["balance"] == 50
