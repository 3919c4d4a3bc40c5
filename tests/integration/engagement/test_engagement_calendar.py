"""Engagement and the working-day calendar, against the real broker and database: a due date counted on a
provisional year is flagged; loading the official schedule counts it again (audited, `task.rescheduled`)."""

from __future__ import annotations

from datetime import date

from calendar_support import notice_2027
from engagement_support import auth, churn, register, tier_changed, wait_customer, wait_tasks
from support import eventually

CREATED = "crm.engagement.task.created.v1"
RESCHEDULED = "crm.engagement.task.rescheduled.v1"
CALENDAR_CHANGED = "crm.engagement.calendar.changed.v1"


async def test_a_provisional_due_date_is_flagged_and_rescheduled_when_the_official_schedule_is_loaded(
    start_engagement, feed, head_office, token_for
):
    async with start_engagement(clock_date="2027-02-04", calendar_refresh_seconds=0.3) as engagement:
        await register(engagement, feed, "C901", "C902")
        await feed.tiering(
            tier_changed("C901", "potential", reason="first_tier"),
            tier_changed("C902", "potential", reason="first_tier"),
        )
        await wait_customer(engagement, "C902", lambda d: d.get("tier") == "potential")
        # Churn risk on Thu 2027-02-04, a retention call within 1 working day: provisionally after 春节's
        # statutory days (Feb 5-10), so Thursday 02-11. The other customer's on 2026-12-01: official, 12-02.
        await feed.tiering(churn("C901", "outflow", as_of=date(2027, 2, 4)), churn("C902", "outflow"))
        [task] = await wait_tasks(engagement, head_office, customer_id="C901", kind="retention")
        assert (task["due_on"], task["provisional"]) == ("2027-02-11", True)
        assert (task["due_counted_from"], task["due_working_days"]) == ("2027-02-04", 1)
        [control] = await wait_tasks(engagement, head_office, customer_id="C902", kind="retention")
        assert (control["due_on"], control["provisional"]) == ("2026-12-02", False)
        created = {
            e["subject"]: e["data"] for e in await feed.published(CREATED, count=2) if e["data"]["kind"] == "retention"
        }
        assert created["C901"]["provisional"] is True and created["C902"]["provisional"] is None

        r = await engagement.get(
            "/v1/calendar", params={"from": "2027-02-04", "to": "2027-02-11"}, headers=auth(head_office)
        )
        assert r.status_code == 200, r.text
        assert r.json()["working_days"] == 2 and {d["source"] for d in r.json()["days"]} == {"provisional"}

        r = await engagement.put(
            "/v1/calendar/years/2027",
            headers=auth(token_for("relationship_manager", "S-RM1", "BR001")),
            json=notice_2027(),
        )
        assert r.status_code == 403
        r = await engagement.put("/v1/calendar/years/2027", headers=auth(head_office), json=notice_2027())
        assert r.status_code == 200, r.text

        # The official 春节 break runs to Saturday 02-13 and Sunday 02-14 is not worked: Monday 02-15.
        async def rescheduled():
            [got] = await wait_tasks(engagement, head_office, customer_id="C901", kind="retention")
            return got if got["due_on"] != "2027-02-11" else None

        got = await eventually(rescheduled, timeout=20)
        assert (got["due_on"], got["provisional"]) == ("2027-02-15", False)
        stored = await engagement.store.tasks.find_one({"_id": got["id"]})
        assert {k: stored["history"][-1][k] for k in ("action", "from", "to")} == {
            "action": "rescheduled",
            "from": "2027-02-11",
            "to": "2027-02-15",
        }
        [control] = await wait_tasks(engagement, head_office, customer_id="C902", kind="retention")
        assert control["due_on"] == "2026-12-02"
        audit = (await engagement.get("/v1/audit", params={"target": got["id"]}, headers=auth(head_office))).json()
        assert [(a["action"], a["detail"]["from"], a["detail"]["to"]) for a in audit] == [
            ("task.rescheduled", "2027-02-11", "2027-02-15")
        ]
        audit = (
            await engagement.get("/v1/audit", params={"target": "calendar-2027"}, headers=auth(head_office))
        ).json()
        assert [a["action"] for a in audit] == ["calendar.loaded"]
        [moved] = await feed.published(RESCHEDULED, "C901")
        assert (moved["data"]["from_due_on"], moved["data"]["to_due_on"], moved["data"]["provisional"]) == (
            "2027-02-11",
            "2027-02-15",
            False,
        )
        [changed] = await feed.published(CALENDAR_CHANGED)
        assert changed["subject"] == "calendar-2027" and changed["data"]["by"] == "S-HO1"


async def test_a_follow_up_moved_off_a_provisional_holiday_is_moved_again_by_the_official_schedule(
    start_engagement, feed, head_office
):
    # Tiered on 2027-09-01: vip's monthly call 30 days later is Friday 2027-10-01, 国庆. Provisionally 10-01..10-03 are
    # off and the weekend days are given back (10-04, 10-05), so the call is due Wednesday 10-06, flagged provisional.
    async with start_engagement(clock_date="2027-09-01", calendar_refresh_seconds=0.3) as engagement:
        await register(engagement, feed, "C910")
        await feed.tiering(tier_changed("C910", "vip", from_tier="potential", as_of=date(2027, 9, 1)))
        [call] = await wait_tasks(engagement, head_office, customer_id="C910", kind="follow_up")
        assert (call["due_on"], call["due_planned_on"], call["provisional"]) == ("2027-10-06", "2027-10-01", True)

        r = await engagement.put("/v1/calendar/years/2027", headers=auth(head_office), json=notice_2027())
        assert r.status_code == 200, r.text

        # The official break runs 10-01..10-07: due Friday 10-08, no longer provisional.
        async def rescheduled():
            [got] = await wait_tasks(engagement, head_office, customer_id="C910", kind="follow_up")
            return got if got["due_on"] != "2027-10-06" else None

        got = await eventually(rescheduled, timeout=20)
        assert (got["due_on"], got["provisional"]) == ("2027-10-08", False)
        [moved] = await feed.published(RESCHEDULED, "C910")
        assert (moved["data"]["from_due_on"], moved["data"]["to_due_on"]) == ("2027-10-06", "2027-10-08")
