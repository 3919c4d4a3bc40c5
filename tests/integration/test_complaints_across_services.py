"""Complaints, tiering and engagement together: a complaint opened through the complaints API raises tiering's
churn warning (and engagement plans a retention call); closed after the standard process, it clears the warning,
and engagement plans the follow-up call and the satisfaction survey."""

from __future__ import annotations

from datetime import date

from crm_complaints.main import create_app as complaints_app
from crm_complaints.settings import ComplaintsSettings
from crm_engagement.main import create_app as engagement_app
from crm_engagement.settings import EngagementSettings
from crm_tiering.main import create_app as tiering_app
from crm_tiering.settings import TieringSettings
from engagement_support import auth, wait_tasks
from support import eventually, running, settings_kwargs
from tiering_support import CHURN_CLEARED, CHURN_RAISED, Feed, assets, registered


async def test_a_complaint_opened_and_closed_reaches_tiering_and_engagement(service_env, token_for):
    def env(suffix):
        return settings_kwargs({**service_env, "MONGODB_DATABASE": service_env["MONGODB_DATABASE"] + suffix})

    t_app = tiering_app(TieringSettings(**env("_tiering"), sweep_interval_seconds=0.5))
    e_app = engagement_app(
        EngagementSettings(**env("_engagement"), clock_date="2026-12-01", scheduler_interval_seconds=0.5)
    )
    c_app = complaints_app(
        ComplaintsSettings(**env("_complaints"), clock_date="2026-12-01", scheduler_interval_seconds=0.5)
    )
    head_office = token_for("head_office", "S-HO1", None)
    handler = auth(token_for("complaint_handler", "S-CH1", "BR001"))
    feed = Feed(service_env)
    async with running(t_app) as tiering, running(e_app) as engagement, running(c_app) as complaints:
        await feed.profile(registered("C950", owner="S-RM1"), assets("C950", date(2026, 11, 30), "600000.00"))

        async def tiered():
            body = (await tiering.get("/v1/customers/C950/tier", headers=auth(head_office))).json()
            return body if body.get("tier") == "vip" else None

        await eventually(tiered)
        r = await complaints.put("/v1/handlers/S-CH1", headers=auth(head_office), json={"branch": "BR001"})
        assert r.status_code == 200, r.text
        r = await complaints.post(
            "/v1/complaints",
            headers=handler,
            json={
                "customer_id": "C950",
                "channel": "branch",
                "category": "wealth_mis_selling",
                "branch": "BR001",
                "description": "sold a fund above my risk level",
                "severity": "high",
            },
        )
        assert r.status_code == 201, r.text
        case = r.json()
        [raised] = await feed.published(CHURN_RAISED, "C950")
        assert [reason["rule"] for reason in raised["data"]["reasons"]] == ["complaint"]
        [retention] = await wait_tasks(engagement, head_office, customer_id="C950", kind="retention")
        assert retention["purpose"] == "service"  # about a problem: not capped

        for action, body in (
            ("acknowledge", {}),
            ("assign", {}),
            ("investigate", {}),
            ("contact", {}),
            (
                "resolve",
                {
                    "explanation": "the fund was within the customer's C4 tolerance; the "
                    "risk disclosure was re-explained",
                    "apology": True,
                    "compensation": "0.00",
                    "root_cause": "wealth_mis_selling",
                },
            ),
            ("notify", {"channel": "phone"}),
            ("confirm", {}),
        ):
            r = await complaints.post(f"/v1/complaints/{case['id']}/{action}", headers=handler, json=body)
            assert r.status_code == 200, (action, r.text)
        assert r.json()["state"] == "closed"

        [cleared] = await feed.published(CHURN_CLEARED, "C950", timeout=30)
        assert cleared["data"]["resolved"] == ["complaint"]
        [follow_up] = await wait_tasks(engagement, head_office, customer_id="C950", kind="complaint_follow_up")
        assert follow_up["assignee"] == "S-RM1" and follow_up["due_on"] == "2026-12-03"
        surveys = (await engagement.get("/v1/customers/C950/surveys", headers=auth(head_office))).json()
        assert [s["id"] for s in surveys] == [f"complaint:{case['id']}"]
