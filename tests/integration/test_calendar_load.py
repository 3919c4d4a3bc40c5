"""`crm calendar load` against complaints and engagement running on the real broker and database: the file is
checked first, then each service takes the year; and an override file changed on disk is applied without a
restart."""

from __future__ import annotations

import json
import os

import pytest

from calendar_support import notice_2027
from crm_cli.calendar_load import FileInvalid, push, read_schedule_file
from crm_complaints.main import create_app as complaints_app
from crm_complaints.settings import ComplaintsSettings
from crm_engagement.main import create_app as engagement_app
from crm_engagement.settings import EngagementSettings
from engagement_support import auth
from support import eventually, of_type, read_topic, running, settings_kwargs


async def test_crm_calendar_load_puts_the_notice_into_both_services(service_env, token_for, tmp_path):
    def env(suffix):
        return settings_kwargs({**service_env, "MONGODB_DATABASE": service_env["MONGODB_DATABASE"] + suffix})

    file = tmp_path / "2027.json"
    file.write_text(json.dumps(notice_2027(), ensure_ascii=False), encoding="utf-8")
    schedules, bodies = read_schedule_file(file)
    assert set(schedules) == {2027} and len(schedules[2027].workdays) == 7
    broken = notice_2027()
    broken["holidays"][6]["make_up_workdays"] = ["2027-10-08"]  # a Friday
    (tmp_path / "broken.json").write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(FileInvalid, match=r"holidays\[6\].make_up_workdays\[0\]: 2027-10-08 is a Friday"):
        read_schedule_file(tmp_path / "broken.json")

    e_app = engagement_app(EngagementSettings(**env("_engagement"), clock_date="2026-12-01"))
    c_app = complaints_app(ComplaintsSettings(**env("_complaints"), clock_date="2026-12-01"))
    admin = auth(token_for("admin", "S-ADMIN", None))
    async with running(e_app) as engagement, running(c_app) as complaints:
        results = await push(bodies, {"complaints": complaints, "engagement": engagement}, headers=admin)
        assert {key: status for key, (status, _) in results.items()} == {
            ("complaints", 2027): 200,
            ("engagement", 2027): 200,
        }
        assert results[("engagement", 2027)][1]["official_through"] == 2027
        again = await push(bodies, {"complaints": complaints}, headers=admin)
        assert again[("complaints", 2027)][1]["change"] == "replaced"
        for client in (complaints, engagement):
            day = (
                await client.get("/v1/calendar", params={"from": "2027-10-09", "to": "2027-10-09"}, headers=admin)
            ).json()["days"][0]
            assert (day["working"], day["kind"], day["source"]) == (True, "make_up_workday", "official")
        teller = auth(token_for("high_counter_teller", "S-T1", "BR001"))
        refused = await push(bodies, {"complaints": complaints}, headers=teller)
        assert refused[("complaints", 2027)][0] == 403


async def test_an_override_file_changed_on_disk_is_applied_without_a_restart(service_env, token_for, tmp_path):
    override = tmp_path / "calendar.json"
    override.write_text(json.dumps({"2099": {"holidays": {"2099-01-01": "New Year's Day"}}}), encoding="utf-8")
    settings = ComplaintsSettings(
        **settings_kwargs(service_env),
        clock_date="2026-12-01",
        calendar_override_file=override,
        calendar_refresh_seconds=0.2,
    )
    head_office = auth(token_for("head_office", "S-HO1", None))
    app = complaints_app(settings)
    async with running(app) as complaints:
        params = {"from": "2027-03-01", "to": "2027-03-01"}
        day = (await complaints.get("/v1/calendar", params=params, headers=head_office)).json()["days"][0]
        assert (day["working"], day["source"]) == (True, "provisional")

        async def audit_rows():
            return (await complaints.get("/v1/audit", params={"staff_id": "override-file"}, headers=head_office)).json()

        await eventually(audit_rows, timeout=10)  # the file as the service started with it, announced once
        override.write_text(
            json.dumps({"2027": {"holidays": {"2027-03-01": "Bank Day"}, "workdays": []}}), encoding="utf-8"
        )
        os.utime(override, (1, 1))  # a new modification time whatever the file system's resolution

        async def applied():
            got = (await complaints.get("/v1/calendar", params=params, headers=head_office)).json()["days"][0]
            return got if got["source"] == "override" else None

        day = await eventually(applied, timeout=10)
        assert (day["working"], day["holiday"]) == (False, "Bank Day")

        # The change is audited and published once, by the replica holding the recompute job.
        async def audited():
            rows = await audit_rows()
            return (
                rows if {r["target"] for r in rows} >= {"calendar-2027", "calendar-2099"} and len(rows) >= 3 else None
            )

        rows = await eventually(audited, timeout=10)
        assert sorted((r["target"], r["action"]) for r in rows) == [
            ("calendar-2027", "calendar.override_loaded"),
            ("calendar-2099", "calendar.override_loaded"),
            ("calendar-2099", "calendar.override_removed"),
        ]
        topic = service_env["KAFKA_TOPIC_PREFIX"] + "crm.complaints.cases"
        records = await read_topic(
            service_env["KAFKA_BOOTSTRAP_SERVERS"],
            topic,
            until=lambda rs: len(of_type(rs, "crm.complaints.calendar.changed.v1")) >= 3,
        )
        changes = sorted(
            (e["subject"], e["data"]["change"], e["data"]["source"], e["data"]["was"])
            for e in of_type(records, "crm.complaints.calendar.changed.v1")
        )
        assert changes == [
            ("calendar-2027", "loaded", "override", "provisional"),
            ("calendar-2099", "loaded", "override", "provisional"),
            ("calendar-2099", "removed", "override", "override"),
        ]
        override.write_text("{broken", encoding="utf-8")  # refused; what was read stays in force
        os.utime(override, (2, 2))
        assert await app.state.complaints.rt.calendar_sync.refresh() is False
        day = (await complaints.get("/v1/calendar", params=params, headers=head_office)).json()["days"][0]
        assert day["source"] == "override"
