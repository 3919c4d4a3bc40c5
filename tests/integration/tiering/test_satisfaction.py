"""Satisfaction surveys in the churn early warning (BRIEF §4.8): the engagement service's `SurveyAnswered` on
`crm.engagement.tasks` raises the warning with rule low_satisfaction for a low CSAT or NPS, a later answer that
is not low clears it, and the due sweep clears it when its 90 days are over. Every other engagement event on
the topic is skipped, not dead-lettered."""

from datetime import UTC, date, datetime, timedelta

import pytest

from crm_contracts.engagement import TaskCreated
from crm_contracts.topics import ENGAGEMENT_TASKS, dead_letter
from support import eventually, read_topic
from tiering_support import CHURN_CLEARED, CHURN_RAISED, assets, envelope, registered, survey, tier_of, wait_tier

pytestmark = pytest.mark.integration

D0 = date(2026, 7, 1)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def at(n: int, hour: int = 10) -> datetime:
    d = day(n)
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


def task(customer_id: str, n: int) -> tuple[TaskCreated, str]:
    return TaskCreated(
        task_id=f"T-{customer_id}-{n}",
        customer_id=customer_id,
        kind="follow_up",
        purpose="service",
        channel="call",
        assignee="S-RM1",
        branch="BR001",
        tier="ordinary",
        due_on=day(n + 3),
        created_at=at(n),
    ), customer_id


async def test_a_low_answer_raises_the_warning_and_a_later_satisfied_one_clears_it(tiering, feed, head_office):
    unhappy, late = "CS-UNHAPPY", "CS-LATE"
    await feed.profile(registered(unhappy), assets(unhappy, day(0), "80000.00"))
    await wait_tier(tiering, unhappy, head_office, lambda b: b["as_of"] is not None)

    [sent] = await feed.engagement(survey(unhappy, "SV-1", at(5), csat=2, nps=6))
    [raised] = await feed.published(CHURN_RAISED, unhappy)
    assert [(r["rule"], r["detail"]) for r in raised["data"]["reasons"]] == [
        ("low_satisfaction", "CSAT 2/5, NPS 6/10 in survey SV-1 answered on 2026-07-06")
    ]
    assert (raised["data"]["as_of"], raised["data"]["branch"], raised["data"]["owner"]) == (
        day(5).isoformat(),
        "BR001",
        "S-RM1",
    )
    view = await tier_of(tiering, unhappy, head_office)
    assert (
        list(view["churn_risk"]["reasons"]) == ["low_satisfaction"]
        and view["churn_risk"]["since"] == day(5).isoformat()
    )

    # The same message delivered again, the same answer in a new envelope, an engagement event of another type
    # and an older satisfied answer arriving late: none of them changes anything.
    await feed.send_raw(
        ENGAGEMENT_TASKS,
        [(sent, unhappy), (envelope(*survey(unhappy, "SV-1", at(5), csat=2, nps=6), source="crm/engagement"), unhappy)],
    )
    await feed.engagement(task(unhappy, 6), survey(unhappy, "SV-0", at(3), csat=5, nps=10))
    # A satisfied answer after the low one clears the warning at once (the same partition: after all of the above).
    await feed.engagement(survey(unhappy, "SV-2", at(20), csat=4))
    [cleared] = await feed.published(CHURN_CLEARED, unhappy)
    assert cleared["data"] == {"customer_id": unhappy, "as_of": day(20).isoformat(), "resolved": ["low_satisfaction"]}
    assert len(await feed.published(CHURN_RAISED, unhappy, settle=1.0)) == 1
    assert (await tier_of(tiering, unhappy, head_office))["churn_risk"] is None
    assert await read_topic(feed.bootstrap, feed.topic(dead_letter(ENGAGEMENT_TASKS)), timeout=2) == []

    # An answer for a customer tiering does not know yet is kept; the warning is raised when the registration
    # arrives, naming the branch and owner it brings (not a warning to nobody before).
    await feed.engagement(survey(late, "SV-3", at(7), nps=1))
    assert await feed.published(CHURN_RAISED, late, timeout=1.0) == []
    await feed.profile(registered(late))
    view = await wait_tier(tiering, late, head_office, lambda b: b["branch"] == "BR001")
    assert list(view["churn_risk"]["reasons"]) == ["low_satisfaction"]
    [early] = await feed.published(CHURN_RAISED, late)
    assert [r["rule"] for r in early["data"]["reasons"]] == ["low_satisfaction"]
    assert (early["data"]["branch"], early["data"]["owner"], early["data"]["as_of"]) == (
        "BR001",
        "S-RM1",
        day(7).isoformat(),
    )


async def test_a_low_answer_is_cleared_by_the_sweep_after_ninety_days(tiering, feed, head_office):
    cid, other = "CS-OLD", "CS-CLOCK"
    await feed.profile(
        registered(cid), registered(other), assets(cid, day(0), "80000.00"), assets(other, day(0), "5000.00")
    )
    await wait_tier(tiering, cid, head_office, lambda b: b["as_of"] is not None)
    await feed.engagement(survey(cid, "SV-9", at(1), csat=1))
    await feed.published(CHURN_RAISED, cid)
    # The business date moves with another customer's snapshots; the sweep works on the day before the latest.
    await feed.profile(assets(other, day(90), "5100.00"))
    await eventually(lambda: _evaluated(tiering, other, head_office, day(90)))
    assert await feed.published(CHURN_CLEARED, cid, timeout=3) == []  # day 89: one more day to go
    await feed.profile(assets(other, day(92), "5200.00"))
    [cleared] = await feed.published(CHURN_CLEARED, cid)
    assert cleared["data"]["as_of"] == day(91).isoformat() and cleared["data"]["resolved"] == ["low_satisfaction"]


async def _evaluated(tiering, cid, token, on):
    body = await tier_of(tiering, cid, token)
    return body is not None and body["as_of"] == on.isoformat()
