"""Profile, tiering and engagement together on a quiet run: seeded customers, then six days of balances that go up
and down across the idle-funds amount and the tier bounds. However often a customer crosses, engagement holds one
open task per customer, kind and occasion — none twice with the same due date, the duplicates a run of 500
customers used to leave."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import httpx

from crm_cli.seed import seed
from crm_engagement.adapters.store import EngagementStore
from crm_engagement.main import create_app as engagement_app
from crm_engagement.settings import EngagementSettings
from crm_profile.main import create_app as profile_app
from crm_profile.settings import ProfileSettings
from crm_tiering.main import create_app as tiering_app
from crm_tiering.settings import TieringSettings
from support import eventually, running, settings_kwargs

CUSTOMERS = 30
IDLE_FUNDS = Decimal("100000.00")
AMOUNTS = ("20000.00", "60000.00", "150000.00", "700000.00", "3500000.00")


def _upward_crossings(series: list[Decimal]) -> int:
    return sum(1 for before, after in pairwise(series) if before < IDLE_FUNDS <= after)


async def test_six_days_of_balances_leave_one_open_task_per_occasion(service_env, token_for, tmp_path):
    def env(suffix: str) -> dict[str, str]:
        return settings_kwargs({**service_env, "MONGODB_DATABASE": service_env["MONGODB_DATABASE"] + suffix})

    p_app = profile_app(ProfileSettings(**settings_kwargs(service_env)))
    t_app = tiering_app(TieringSettings(**env("_tiering")))
    e_app = engagement_app(EngagementSettings(**env("_engagement"), scheduler_interval_seconds=0.5))
    head_office = {"Authorization": token_for("head_office", "S-HO01", None)}
    admin = {"Authorization": token_for("admin", "S-ADMIN", None)}
    async with running(p_app) as profile, running(t_app) as tiering, running(e_app):
        result = await seed(
            api="http://service",
            secrets=service_env,
            count=CUSTOMERS,
            staff_file=tmp_path / "s.json",
            transport=httpx.ASGITransport(app=p_app),
            tiering_api="http://service",
            tiering_transport=httpx.ASGITransport(app=t_app),
        )
        assert result["created"] == CUSTOMERS and not result["failed"]
        rows = (await profile.get("/v1/customers", params={"limit": 100}, headers=head_office)).json()["items"]
        ids = {}
        for row in rows:
            ids[(await profile.get(f"/v1/customers/{row['id']}", headers=head_office)).json()["core_customer_no"]] = (
                row["id"]
            )
        assert len(ids) == CUSTOMERS

        # The quiet run: six more days, one snapshot a customer a day, amounts drawn across the idle-funds amount.
        rng = random.Random(10)
        start = date.today() + timedelta(days=1)
        series: dict[str, list[Decimal]] = {ids[c["core_customer_no"]]: [] for c in result["customers"]}
        for day in range(6):
            snapshots = []
            for c in result["customers"]:
                amount = rng.choice(AMOUNTS)
                series[ids[c["core_customer_no"]]].append(Decimal(amount))
                snapshots.append(
                    {
                        "core_customer_no": c["core_customer_no"],
                        "as_of": (start + timedelta(days=day)).isoformat(),
                        "aum": amount,
                    }
                )
            r = await profile.post("/v1/balances", json={"snapshots": snapshots}, headers=admin)
            assert r.status_code == 200 and r.json()["accepted"] == CUSTOMERS, r.text

        store = EngagementStore(e_app.state.engagement.rt.mongo)

        async def settled():
            # Engagement has every customer's last balance, and tiering's last word on its tier.
            docs = {d["_id"]: d for d in await store.customers.find({}).to_list()}
            tiers = {
                r["customer_id"]: r["tier"]
                for r in (await tiering.get("/v1/customers", params={"limit": 500}, headers=head_office)).json()[
                    "items"
                ]
            }
            for cid, amounts in series.items():
                doc = docs.get(cid)
                if doc is None or doc.get("aum") is None or Decimal(str(doc["aum"])) != amounts[-1]:
                    return None
                if doc.get("tier") != tiers.get(cid):
                    return None
            return docs

        await eventually(settled, timeout=120, interval=1.0)
        twice = [cid for cid, amounts in series.items() if _upward_crossings(amounts) >= 2]
        assert len(twice) >= 3  # the feed crossed the amount more than once for several customers

        open_tasks = await store.tasks.find({"status": "open"}).to_list()
        same_due = Counter((t["customer_id"], t["kind"], t["due_on"]) for t in open_tasks)
        assert {k: n for k, n in same_due.items() if n > 1} == {}
        same_occasion = Counter(t["open_key"] for t in open_tasks if t.get("open_key"))
        assert {k: n for k, n in same_occasion.items() if n > 1} == {}
        recommendations = Counter(t["customer_id"] for t in open_tasks if t["kind"] == "product_recommendation")
        assert {cid: recommendations[cid] for cid in twice} == dict.fromkeys(twice, 1)
