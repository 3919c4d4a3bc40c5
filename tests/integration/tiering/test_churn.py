"""Churn early warning (流失预警): raised by an outflow of 30% or more within 30 days and by an open
complaint, cleared when AUM recovers or the complaint is closed; listed with `churn_risk=true`."""

from datetime import UTC, date, datetime, timedelta

import pytest

from crm_contracts.topics import COMPLAINTS_CASES, dead_letter
from support import eventually, read_topic
from tiering_support import CHURN_CLEARED, CHURN_RAISED, assets, auth, registered, tier_of, wait_tier

pytestmark = pytest.mark.integration

D0 = date(2026, 7, 1)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def at(n: int) -> datetime:
    d = day(n)
    return datetime(d.year, d.month, d.day, 10, tzinfo=UTC)


async def test_outflow_and_complaint_raise_and_clear_the_warning(tiering, feed, head_office):
    big, at_30, under_30, slow, unhappy = "CC-BIG", "CC-30", "CC-29", "CC-SLOW", "CC-COMPLAINT"
    await feed.profile(
        *[registered(c) for c in (big, at_30, under_30, slow, unhappy)],
        assets(big, day(0), "1000000.00"),
        assets(at_30, day(0), "100000.00"),
        assets(under_30, day(0), "100000.00"),
        assets(slow, day(0), "100000.00"),
        assets(unhappy, day(0), "300000.00"),
    )
    await wait_tier(tiering, unhappy, head_office, lambda b: b["as_of"] is not None)

    # 1,000,000 → 600,000 (40%) and 100,000 → 70,000.00 (30.0%) within 30 days; 70,000.01 is 29.99999%.
    await feed.profile(
        assets(big, day(10), "600000.00"),
        assets(at_30, day(10), "70000.00"),
        assets(under_30, day(10), "70000.01"),
        assets(slow, day(20), "85000.00"),
    )
    raised = {e["subject"]: e for e in await feed.published(CHURN_RAISED, count=2)}
    assert set(raised) == {big, at_30}
    data = raised[big]["data"]
    rules = {r["rule"]: r["detail"] for r in data["reasons"]}
    assert "outflow" in rules and "40.0%" in rules["outflow"], rules
    assert (data["as_of"], data["aum"], data["branch"], data["owner"]) == (
        day(10).isoformat(),
        "600000.00",
        "BR001",
        "S-RM1",
    )
    assert [r["rule"] for r in raised[at_30]["data"]["reasons"]] == ["outflow"]  # too small for a "large drop"
    view = await tier_of(tiering, at_30, head_office)
    assert view["churn_risk"]["since"] == day(10).isoformat() and list(view["churn_risk"]["reasons"]) == ["outflow"]

    # An open complaint is a reason too. One that overtakes the customer's registration (another topic) is
    # kept; the warning is raised when the registration arrives, naming the branch and owner it brings.
    await feed.complaint_opened("CC-LATE", "CMP-0", at(12))
    await feed.complaint_opened(unhappy, "CMP-1", at(12))
    [complaint] = await feed.published(CHURN_RAISED, unhappy)
    assert await feed.published(CHURN_RAISED, "CC-LATE", count=1, timeout=1.0) == []  # a warning to nobody: not yet
    await feed.profile(registered("CC-LATE"))
    late = await wait_tier(tiering, "CC-LATE", head_office, lambda b: b["branch"] == "BR001")
    assert list(late["churn_risk"]["reasons"]) == ["complaint"]
    [early] = await feed.published(CHURN_RAISED, "CC-LATE")
    assert [r["rule"] for r in early["data"]["reasons"]] == ["complaint"]
    assert (early["data"]["branch"], early["data"]["owner"], early["data"]["as_of"]) == (
        "BR001",
        "S-RM1",
        day(12).isoformat(),
    )
    await feed.complaint_closed("CC-LATE", "CMP-0", at(13))
    await feed.published(CHURN_CLEARED, "CC-LATE")
    assert await read_topic(feed.bootstrap, feed.topic(dead_letter(COMPLAINTS_CASES)), timeout=2) == []
    assert [(r["rule"], r["detail"]) for r in complaint["data"]["reasons"]] == [
        ("complaint", "open complaint(s): CMP-1")
    ]
    assert complaint["data"]["as_of"] == day(12).isoformat()

    async def at_risk():
        r = await tiering.get("/v1/customers", params={"churn_risk": "true"}, headers=auth(head_office))
        return [(c["customer_id"], c["churn_risk"]) for c in r.json()["items"]]

    listed = await at_risk()
    assert [cid for cid, _ in listed] == [at_30, big, unhappy]
    assert dict(listed)[unhappy] == ["complaint"] and "outflow" in dict(listed)[big]
    calm = (await tiering.get("/v1/customers", params={"churn_risk": "false"}, headers=auth(head_office))).json()
    assert [c["customer_id"] for c in calm["items"]] == [under_30, "CC-LATE", slow]

    # AUM back to where it was, and the complaint closed: both warnings are cleared.
    await feed.profile(assets(big, day(15), "1000000.00"))
    await feed.complaint_closed(unhappy, "CMP-1", at(16))
    cleared = {e["subject"]: e["data"] for e in await feed.published(CHURN_CLEARED, count=3)}
    assert set(cleared) == {big, unhappy, "CC-LATE"}
    assert "outflow" in cleared[big]["resolved"] and cleared[big]["as_of"] == day(15).isoformat()
    assert cleared[unhappy] == {"customer_id": unhappy, "as_of": day(16).isoformat(), "resolved": ["complaint"]}
    assert await eventually(lambda: _listed_only(at_risk, [at_30]))
    assert (await tier_of(tiering, big, head_office))["churn_risk"] is None

    # A fall of 35% spread over 60 days is no outflow within 30 days; nobody else was warned on the way.
    await feed.profile(assets(slow, day(40), "72000.00"), assets(slow, day(60), "65000.00"))
    await wait_tier(tiering, slow, head_office, lambda b: b["as_of"] == day(60).isoformat())
    raised = await feed.published(CHURN_RAISED, count=4, settle=1.5)
    assert sorted(e["subject"] for e in raised) == sorted([big, at_30, unhappy, "CC-LATE"])


async def _listed_only(at_risk, expected):
    return await at_risk() == [(cid, ["outflow"]) for cid in expected] or None


async def test_an_outflow_warning_stays_until_the_money_comes_back(tiering, feed, head_office):
    """The fall leaving the 30-day window is no recovery: the warning holds until AUM is back above 70% of the peak."""
    cid, other = "CC-GONE", "CC-CLOCK"
    await feed.profile(
        registered(cid), registered(other), assets(cid, day(0), "100000.00"), assets(other, day(0), "5000.00")
    )
    await feed.profile(assets(cid, day(10), "70000.00"))
    await feed.published(CHURN_RAISED, cid)
    # Forty days on (the business date moves with another customer's snapshots), nothing came back.
    await feed.profile(assets(other, day(41), "5100.00"), assets(other, day(52), "5200.00"))
    await eventually(lambda: _evaluated(tiering, other, head_office, day(52)))
    view = await wait_tier(tiering, cid, head_office, lambda b: b["churn_risk"] is not None)
    assert "outflow" in view["churn_risk"]["reasons"]
    assert await feed.published(CHURN_CLEARED, cid, timeout=3) == []
    await feed.profile(assets(cid, day(53), "70000.01"))
    [cleared] = await feed.published(CHURN_CLEARED, cid)
    assert cleared["data"]["resolved"] == ["outflow"]


async def _evaluated(tiering, cid, token, on):
    body = await tier_of(tiering, cid, token)
    return body is not None and body["as_of"] == on.isoformat()
