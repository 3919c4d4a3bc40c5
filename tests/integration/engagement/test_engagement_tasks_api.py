"""Tasks through the API against the real broker and database: completion plans the next follow-up, supervisors
reassign, staff make tasks by hand, a new policy re-plans every customer's follow-ups, bad events go to the
dead letters while the next ones apply."""

from __future__ import annotations

from engagement_support import TASK_REASSIGNED, auth, register, tier_changed, wait_customer, wait_tasks
from support import eventually, produce, read_topic


async def test_completing_a_follow_up_plans_the_next_one_from_the_contact(engagement, feed, rm, head_office):
    await register(engagement, feed, "C600")
    await feed.tiering(tier_changed("C600", "vip", reason="first_tier"))
    [task] = await wait_tasks(engagement, rm["Authorization"], customer_id="C600", kind="follow_up")
    r = await engagement.post(
        f"/v1/tasks/{task['id']}/complete",
        headers=rm,
        json={
            "outcome": "reached",
            "notes": "discussed the fund's performance",
            "occurred_at": "2026-11-30T10:00:00+08:00",
        },
    )
    assert r.status_code == 200 and r.json()["status"] == "done" and r.json()["on_time"] is True, r.text
    again = await engagement.post(f"/v1/tasks/{task['id']}/complete", headers=rm, json={"outcome": "reached"})
    assert again.status_code == 409 and "done" in again.json()["detail"]
    [following] = await wait_tasks(engagement, rm["Authorization"], customer_id="C600", kind="follow_up", status="open")
    assert following["due_on"] == "2026-12-30"  # 30 days after the call
    history = (await engagement.get("/v1/customers/C600/interactions", headers=rm)).json()
    assert [(h["channel"], h["task_id"], h["notes"]) for h in history] == [
        ("call", task["id"], "discussed the fund's performance")
    ]
    # Someone else's task cannot be completed by an RM who does not hold it.
    other = auth(engagement_token(engagement, "S-RM9"))
    r = await engagement.post(f"/v1/tasks/{following['id']}/complete", headers=other, json={"outcome": "reached"})
    assert r.status_code == 404


def engagement_token(engagement, staff_id):
    from crm_kit.auth import issue_token

    return "Bearer " + issue_token(
        secret=engagement.settings.crm_jwt_secret.get_secret_value(),
        staff_id=staff_id,
        role="relationship_manager",
        branch="BR001",
    )


async def test_supervisors_reassign_and_staff_make_tasks_by_hand(engagement, feed, rm, token_for, head_office):
    await register(engagement, feed, "C610")
    await register(engagement, feed, "C611", owner="S-RM2")  # S-RM2 is staff of BR001: owns a customer there
    await feed.tiering(tier_changed("C610", "key", reason="first_tier"))
    tasks = await wait_tasks(engagement, rm["Authorization"], customer_id="C610", count=2)
    r = await engagement.post(
        f"/v1/tasks/{tasks[0]['id']}/assign", headers=rm, json={"assignee": "S-RM2", "reason": "cover"}
    )
    assert r.status_code == 403
    sup = auth(token_for("rm_supervisor", "S-SUP1", "BR001"))
    r = await engagement.post(
        f"/v1/tasks/{tasks[0]['id']}/assign", headers=sup, json={"assignee": "S-RM22", "reason": "typo"}
    )
    assert r.status_code == 422 and "S-RM22 is not staff of branch BR001" in r.json()["detail"]
    r = await engagement.post(
        f"/v1/tasks/{tasks[0]['id']}/assign", headers=sup, json={"assignee": "S-RM2", "reason": "RM on leave"}
    )
    assert r.status_code == 200 and r.json()["assignee"] == "S-RM2", r.text
    other_branch = auth(token_for("rm_supervisor", "S-SUP9", "BR009"))
    r = await engagement.post(
        f"/v1/tasks/{tasks[1]['id']}/assign", headers=other_branch, json={"assignee": "S-X", "reason": "x"}
    )
    assert r.status_code == 404
    [moved] = await feed.published(TASK_REASSIGNED, "C610")
    assert moved["data"]["reason"] == "supervisor" and moved["data"]["by"] == "S-SUP1"
    audit = (await engagement.get("/v1/audit", params={"target": tasks[0]["id"]}, headers=auth(head_office))).json()
    assert [a["action"] for a in audit] == ["task.reassigned"]
    # The owner changing later leaves the supervisor's choice alone.
    from engagement_support import owner_assigned

    await feed.tiering(owner_assigned("C610", "S-BM1", tier="key"))
    await wait_customer(engagement, "C610", lambda d: d.get("owner") == "S-BM1")
    assert (await engagement.get(f"/v1/tasks/{tasks[0]['id']}", headers=auth(head_office))).json()[
        "assignee"
    ] == "S-RM2"
    assert (await engagement.get(f"/v1/tasks/{tasks[1]['id']}", headers=auth(head_office))).json()[
        "assignee"
    ] == "S-BM1"

    bm = auth(token_for("relationship_manager", "S-BM1", "BR001"))
    r = await engagement.post(
        "/v1/tasks",
        headers=bm,
        json={
            "customer_id": "C610",
            "channel": "call",
            "due_on": "2026-12-05",
            "note": "customer asked for a call back",
        },
    )
    assert r.status_code == 201 and r.json()["kind"] == "manual" and r.json()["assignee"] == "S-BM1", r.text
    r = await engagement.post(
        "/v1/tasks", headers=bm, json={"customer_id": "C610", "channel": "call", "due_on": "2026-11-05"}
    )
    assert r.status_code == 422 and "due_on" in r.json()["detail"]
    r = await engagement.post(
        "/v1/tasks", headers=rm, json={"customer_id": "C610", "channel": "call", "due_on": "2026-12-05"}
    )
    assert r.status_code == 404  # no longer S-RM1's customer


async def test_a_new_policy_replans_every_customers_follow_ups(engagement, feed, head_office, admin, rm):
    await register(engagement, feed, "C620", "C621")
    await feed.tiering(
        tier_changed("C620", "vip", reason="first_tier"), tier_changed("C621", "small", reason="first_tier")
    )
    await wait_tasks(engagement, head_office, kind="follow_up", count=2)
    policy = (await engagement.get("/v1/policy", headers=auth(head_office))).json()["policy"]
    policy["cadence"]["vip"] = [{"name": "fortnightly_call", "channel": "call", "every_days": 14, "purpose": "service"}]
    r = await engagement.put(
        "/v1/policy", headers=auth(head_office), json={"policy": policy, "note": "vip every 2 weeks"}
    )
    assert r.status_code == 200 and r.json()["version"] == 2, r.text

    async def replanned():
        items = (
            await engagement.get(
                "/v1/tasks", params={"customer_id": "C620", "kind": "follow_up"}, headers=auth(head_office)
            )
        ).json()["items"]
        return (
            items
            if {(t["occasion"], t["status"]) for t in items}
            == {("monthly_call", "cancelled"), ("fortnightly_call", "open")}
            else None
        )

    items = await eventually(replanned, timeout=30)
    assert next(t for t in items if t["status"] == "open")["due_on"] == "2026-12-15"
    small = (await engagement.get("/v1/tasks", params={"customer_id": "C621"}, headers=auth(head_office))).json()[
        "items"
    ]
    assert [(t["occasion"], t["status"]) for t in small] == [("yearly_care_message", "open")]
    bad = dict(policy, contact={**policy["contact"], "short_window_days": 40})
    r = await engagement.put("/v1/policy", headers=auth(head_office), json={"policy": bad})
    assert r.status_code == 422
    assert (await engagement.put("/v1/policy", json={"policy": policy})).status_code == 401
    assert (await engagement.put("/v1/policy", headers=rm, json={"policy": policy})).status_code == 403
    assert (await engagement.put("/v1/policy", headers=auth(admin), json={"policy": policy})).status_code == 200


async def test_bad_events_go_to_the_dead_letters_and_the_next_apply(engagement, feed, engagement_env, head_office):
    bootstrap, topic = feed.bootstrap, feed.topic("crm.tiering.customers")
    await produce(
        bootstrap,
        topic,
        [
            b"not json",
            {
                "specversion": "1.0",
                "type": "crm.tiering.customer.tier-changed.v1",
                "source": "x",
                "subject": "C630",
                "data": {"customer_id": "C630"},
            },
        ],
        key=b"C630",
    )
    await register(engagement, feed, "C631")
    await feed.tiering(tier_changed("C631", "vip", reason="first_tier"))
    await wait_tasks(engagement, head_office, customer_id="C631", kind="follow_up")
    dead = await read_topic(bootstrap, topic + ".dlt", until=lambda r: len(r) >= 2)
    assert len(dead) == 2
    errors = [dict(r.headers)["dlt-error"].decode() for r in dead]
    assert any("to_tier" in e or "from_tier" in e for e in errors), errors


async def test_agenda_scope(engagement, feed, rm, token_for, head_office):
    await register(engagement, feed, "C640")
    await feed.tiering(tier_changed("C640", "vip", from_tier="potential"))
    await wait_tasks(engagement, rm["Authorization"], customer_id="C640", kind="welcome")
    other_rm = auth(token_for("relationship_manager", "S-RM9"))
    assert (await engagement.get("/v1/agenda", params={"staff": "S-RM1"}, headers=other_rm)).status_code == 403
    day = {"staff": "S-RM1", "date": "2026-12-03"}
    mine = (await engagement.get("/v1/agenda", params={"date": "2026-12-03"}, headers=rm)).json()["items"]
    sup = auth(token_for("rm_supervisor", "S-SUP1", "BR001"))
    assert (await engagement.get("/v1/agenda", params=day, headers=sup)).json()["items"] == mine
    far = auth(token_for("rm_supervisor", "S-SUP9", "BR009"))
    assert (await engagement.get("/v1/agenda", params=day, headers=far)).json()["items"] == []
    assert [t["kind"] for t in mine] == ["welcome"]
