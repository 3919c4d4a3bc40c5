"""Tiering and engagement together, as `make run` has them: a balance upgrade in tiering hands the customer to a
new owner, and engagement gives that owner the welcome call and the customer's open follow-ups; a complaint's
follow-up survey answered badly comes back from tiering as a churn warning, and engagement plans a retention call."""

from __future__ import annotations

from datetime import UTC, date, datetime

from crm_contracts.complaints import ComplaintClosed
from crm_engagement.adapters.store import EngagementStore
from crm_engagement.main import create_app as engagement_app
from crm_engagement.settings import EngagementSettings
from crm_tiering.main import create_app as tiering_app
from crm_tiering.settings import TieringSettings
from engagement_support import auth, wait_tasks
from support import eventually, running, settings_kwargs
from tiering_support import Feed, assets, registered

STAFF = [("S-LC1", ["low_counter_staff"]), ("S-RM1", ["relationship_manager"]), ("S-SUP1", ["rm_supervisor"])]


async def test_upgrade_welcome_and_a_bad_survey_answer_round_trip(service_env, token_for):
    tiering_env = {**service_env, "MONGODB_DATABASE": service_env["MONGODB_DATABASE"] + "_tiering"}
    engagement_env = {**service_env, "MONGODB_DATABASE": service_env["MONGODB_DATABASE"] + "_engagement"}
    t_app = tiering_app(TieringSettings(**settings_kwargs(tiering_env), sweep_interval_seconds=0.5))
    e_app = engagement_app(
        EngagementSettings(**settings_kwargs(engagement_env), clock_date="2026-12-01", scheduler_interval_seconds=0.5)
    )
    head_office = token_for("head_office", "S-HO1", None)
    admin = auth(token_for("admin", "S-ADMIN", None))
    feed = Feed(service_env)
    async with running(t_app) as tiering, running(e_app) as engagement:
        for staff_id, roles in STAFF:
            r = await tiering.put(
                f"/v1/staff/{staff_id}",
                headers=admin,
                json={"name": staff_id, "branch": "BR001", "roles": roles, "active": True},
            )
            assert r.status_code == 200, r.text
        await feed.profile(registered("C900", owner="S-LC1"), assets("C900", date(2026, 11, 30), "60000.00"))
        await wait_tasks(engagement, head_office, customer_id="C900", kind="follow_up")  # ordinary: half-yearly call
        await feed.profile(
            assets("C900", date(2026, 12, 1), "600000.00", previous_aum="60000.00", previous_as_of=date(2026, 11, 30))
        )

        async def upgraded():
            body = (await tiering.get("/v1/customers/C900/tier", headers=auth(head_office))).json()
            return body if body.get("tier") == "vip" else None

        owner = (await eventually(upgraded))["owner"]
        assert owner in ("S-RM1", "S-SUP1")
        [welcome] = await wait_tasks(engagement, head_office, customer_id="C900", kind="welcome", assignee=owner)
        assert welcome["due_on"] == "2026-12-03"

        async def replanned():
            items = (
                await engagement.get(
                    "/v1/tasks", params={"customer_id": "C900", "status": "open"}, headers=auth(head_office)
                )
            ).json()["items"]
            return items if {t["assignee"] for t in items} == {owner} and len(items) >= 3 else None

        open_tasks = await eventually(replanned)
        # vip: the monthly call replaces ordinary's half-yearly one; crossing the idle-funds amount (100,000) brings a
        # product recommendation (no phone consent: planned as a visit).
        assert sorted((t["kind"], t.get("occasion")) for t in open_tasks) == [
            ("follow_up", "monthly_call"),
            ("product_recommendation", "aum_above_100000.00"),
            ("welcome", "upgrade_to_vip"),
        ]

        # A complaint closed → follow-up and survey; a bad answer → tiering's churn warning → a retention call.
        await feed.send(
            "crm.complaints.cases",
            (ComplaintClosed(complaint_id="CMP-9", customer_id="C900", closed_at=datetime.now(UTC)), "C900"),
        )
        await wait_tasks(engagement, head_office, customer_id="C900", kind="complaint_follow_up")
        # The call centre (head office) records the customer's answer.
        r = await engagement.post("/v1/surveys/complaint:CMP-9/responses", headers=auth(head_office), json={"csat": 1})
        assert r.status_code == 200, r.text
        [retention] = await wait_tasks(engagement, head_office, customer_id="C900", kind="retention", timeout=30)
        assert retention["purpose"] == "service" and "low_satisfaction" in retention["occasion"]
        assert retention["assignee"] == owner and retention["due_on"] == "2026-12-02"


async def test_a_new_key_customer_is_welcomed_and_its_birthday_planned_the_day_it_is_tiered(service_env, token_for):
    """The first balance makes C910 a key customer at once (first tier, not an upgrade): tiering hands it to a
    supervisor, and engagement plans the same welcome call as for an upgrade, and — today's daily run long done —
    the birthday four days away, inside key's seven-day lead time, without waiting for tomorrow's run."""
    tiering_env = {**service_env, "MONGODB_DATABASE": service_env["MONGODB_DATABASE"] + "_tiering"}
    engagement_env = {**service_env, "MONGODB_DATABASE": service_env["MONGODB_DATABASE"] + "_engagement"}
    t_app = tiering_app(TieringSettings(**settings_kwargs(tiering_env), sweep_interval_seconds=0.5))
    e_app = engagement_app(
        EngagementSettings(**settings_kwargs(engagement_env), clock_date="2026-12-01", scheduler_interval_seconds=0.5)
    )
    head_office = token_for("head_office", "S-HO1", None)
    admin = auth(token_for("admin", "S-ADMIN", None))
    feed = Feed(service_env)
    async with running(t_app) as tiering, running(e_app) as engagement:
        for staff_id, roles in STAFF:
            r = await tiering.put(
                f"/v1/staff/{staff_id}",
                headers=admin,
                json={"name": staff_id, "branch": "BR001", "roles": roles, "active": True},
            )
            assert r.status_code == 200, r.text
        store = EngagementStore(e_app.state.engagement.rt.mongo)

        async def care_run_done():
            return await store.scheduler.find_one({"_id": "care:2026-12-01", "done": True})

        await eventually(care_run_done)
        await feed.profile(
            registered("C910", owner="S-LC1", birth_month_day="12-05"), assets("C910", date(2026, 12, 1), "3500000.00")
        )

        async def tiered():
            body = (await tiering.get("/v1/customers/C910/tier", headers=auth(head_office))).json()
            return body if body.get("tier") == "key" else None

        owner = (await eventually(tiered))["owner"]
        assert owner == "S-SUP1"  # key customers go to a supervisor
        [welcome] = await wait_tasks(engagement, head_office, customer_id="C910", kind="welcome", assignee=owner)
        assert (welcome["due_on"], welcome["occasion"], welcome["channel"]) == ("2026-12-03", "first_tier_key", "call")
        [birthday] = await wait_tasks(engagement, head_office, customer_id="C910", kind="birthday", assignee=owner)
        assert (birthday["id"], birthday["due_on"], birthday["visible_from"], birthday["channel"]) == (
            "C910:birthday:2026",
            "2026-12-05",
            "2026-11-28",
            "visit",
        )
        # Planned by the tier's arrival, not a second daily run.
        assert (await store.scheduler.find_one({"_id": "care:2026-12-01"}))["visited"] == 0
