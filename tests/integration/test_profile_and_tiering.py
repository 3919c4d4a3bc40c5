"""Profile and tiering together, as `make run` has them: seeded customers are tiered from their balances,
handed to the staff responsible for their tier, and the profile's owner field follows, so data scope
follows too."""

from __future__ import annotations

import json
from collections import Counter

import httpx

from crm_cli.seed import seed
from crm_profile.main import create_app as profile_app
from crm_profile.settings import ProfileSettings
from crm_tiering.domain.policy import DEFAULT_POLICY
from crm_tiering.main import create_app as tiering_app
from crm_tiering.settings import TieringSettings
from support import eventually, running, settings_kwargs


async def test_seeded_customers_are_tiered_and_owned_by_the_responsible_staff(service_env, token_for, tmp_path):
    tiering_env = {**service_env, "MONGODB_DATABASE": service_env["MONGODB_DATABASE"] + "_tiering"}
    p_app = profile_app(ProfileSettings(**settings_kwargs(service_env)))
    t_app = tiering_app(TieringSettings(**settings_kwargs(tiering_env)))
    async with running(p_app) as profile, running(t_app) as tiering:
        staff_file = tmp_path / "staff.json"
        result = await seed(
            api="http://service",
            secrets=service_env,
            count=30,
            staff_file=staff_file,
            transport=httpx.ASGITransport(app=p_app),
            tiering_api="http://service",
            tiering_transport=httpx.ASGITransport(app=t_app),
        )
        assert result["created"] == 30 and not result["failed"]
        staff = {s["staff_id"]: s for s in json.loads(staff_file.read_text())["staff"]}
        head_office = {"Authorization": token_for("head_office", "S-HO01", None)}

        async def all_settled():
            # Every customer tiered (or under the minimum) and the profile's owner equal to tiering's.
            t_rows = (await tiering.get("/v1/customers", params={"limit": 500}, headers=head_office)).json()["items"]
            p_rows = (await profile.get("/v1/customers", params={"limit": 100}, headers=head_office)).json()["items"]
            if len(t_rows) != 30 or len(p_rows) != 30 or any(r["as_of"] is None for r in t_rows):
                return None
            owners = {r["customer_id"]: r["owner"] for r in t_rows}
            tiers = {r["customer_id"]: r["tier"] for r in t_rows}
            if any(owners[c["id"]] != c["owner"] or tiers[c["id"]] != c["tier"] for c in p_rows):
                return None
            return t_rows

        rows = await eventually(all_settled, timeout=60)
        for row in rows:
            if row["tier"] is None:
                continue
            roles = DEFAULT_POLICY.rule(row["tier"]).responsible_roles
            assert staff[row["owner"]]["role"] in roles, row
            assert staff[row["owner"]]["branch"] == row["branch"]
        assert len(Counter(r["tier"] for r in rows)) >= 3  # the demo data spreads over the tiers

        # Scope follows the owner: the owner sees the customer in the profile, the registering RM no longer does.
        moved = next(r for r in rows if r["tier"] in ("small", "ordinary"))
        archived = (await profile.get(f"/v1/customers/{moved['customer_id']}", headers=head_office)).json()
        registered_by = next(
            c["owner"] for c in result["customers"] if c["core_customer_no"] == archived["core_customer_no"]
        )
        owner_token = {"Authorization": token_for(staff[moved["owner"]]["role"], moved["owner"], moved["branch"])}
        assert (await profile.get(f"/v1/customers/{moved['customer_id']}", headers=owner_token)).status_code == 200
        assert registered_by != moved["owner"]
        rm_token = {"Authorization": token_for("relationship_manager", registered_by, moved["branch"])}
        seen_by_rm = await profile.get(f"/v1/customers/{moved['customer_id']}", headers=rm_token)
        assert seen_by_rm.status_code == 404

        report = (await tiering.get("/v1/reports/tiers", headers=head_office)).json()
        assert sum(t["customers"] for t in report["total"].values()) == 30
