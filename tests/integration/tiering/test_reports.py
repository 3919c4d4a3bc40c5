"""Reports over customers (80/20 concentration, tier distribution, the morning watch list, a customer's
value) and bad messages on the profile topic (dead letters, and the partition moves on)."""

from datetime import date
from decimal import Decimal

import pytest

from crm_contracts.topics import PROFILE_CUSTOMERS, dead_letter
from support import read_topic
from tiering_support import assets, auth, envelope, registered, wait_known, wait_tier

pytestmark = pytest.mark.integration

D0 = date(2026, 8, 3)
D1 = date(2026, 8, 4)

# BR001: 100,000 … 1,000,000 (5,500,000; the top 2 hold 1,900,000 = 34.5%).
# BR002: 5 customers, 5,000,000; the top 1 holds 4,000,000 = 80.0%.
# Overall: 15 customers, 10,500,000; the top 3 hold 5,900,000 = 56.2%.
BR001 = {f"CR1-{i:02d}": f"{i * 100000}.00" for i in range(1, 11)}
BR002 = {
    "CR2-01": "4000000.00",
    "CR2-02": "500000.00",
    "CR2-03": "300000.00",
    "CR2-04": "150000.00",
    "CR2-05": "50000.00",
}


async def test_concentration_and_tier_distribution(tiering, feed, token_for, head_office):
    await feed.profile(
        *[registered(c, branch="BR001") for c in BR001],
        *[registered(c, branch="BR002") for c in BR002],
        registered("CR1-NONE", branch="BR001"),  # no balance: not in the 80/20 view
        *[assets(c, D0, a) for c, a in {**BR001, **BR002}.items()],
    )
    await wait_known(tiering, [*BR001, *BR002], head_office)

    r = await tiering.get("/v1/reports/concentration", headers=auth(head_office))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["top_fraction"] == 0.2
    assert _share(report["overall"]) == (15, 3, "10500000.00", "5900000.00", "56.2")
    assert _share(report["branches"]["BR001"]) == (10, 2, "5500000.00", "1900000.00", "34.5")
    assert _share(report["branches"]["BR002"]) == (5, 1, "5000000.00", "4000000.00", "80.0")
    # A branch manager's report covers the branch only.
    mine = await tiering.get("/v1/reports/concentration", headers=auth(token_for("branch_manager", "BM-2", "BR002")))
    assert list(mine.json()["branches"]) == ["BR002"]
    assert _share(mine.json()["overall"]) == (5, 1, "5000000.00", "4000000.00", "80.0")

    r = await tiering.get("/v1/reports/tiers", headers=auth(head_office))
    assert r.status_code == 200, r.text
    report = r.json()
    counts = {
        b: {t: v["customers"] for t, v in tiers.items() if v["customers"]} for b, tiers in report["branches"].items()
    }
    assert counts == {
        "BR001": {"ordinary": 1, "potential": 3, "vip": 6, "untiered": 1},
        "BR002": {"ordinary": 2, "potential": 1, "vip": 1, "key": 1},
    }
    br1 = report["branches"]["BR001"]
    assert br1["potential"]["aum"] == "900000.00"  # 200,000 + 300,000 + 400,000; money as exact strings
    assert br1["vip"]["aum"] == "4500000.00"
    assert report["branches"]["BR002"]["key"]["aum"] == "4000000.00"
    assert {t: v["customers"] for t, v in report["total"].items()} == {
        "small": 0,
        "ordinary": 3,
        "potential": 4,
        "vip": 7,
        "key": 1,
        "untiered": 1,
    }


async def test_watch_list_and_value(tiering, feed, token_for, head_office):
    registered_with_bands = registered("CW-VALUE", owner="RM-X", age_band="30_44", income_band="300k_1m")
    await feed.profile(
        registered("CW-BIG", owner="RM-X"),
        registered("CW-SMALLCHANGE", owner="RM-X"),
        registered("CW-UNDER", owner="RM-X"),
        registered("CW-OTHER", owner="RM-Y"),
        registered_with_bands,
        assets("CW-BIG", D0, "300000.00"),
        assets("CW-SMALLCHANGE", D0, "250000.00"),
        assets("CW-UNDER", D0, "120000.00"),
        assets("CW-OTHER", D0, "300000.00"),
        assets("CW-VALUE", date(2026, 4, 1), "400000.00"),
    )
    await wait_known(tiering, ["CW-BIG", "CW-SMALLCHANGE", "CW-UNDER", "CW-OTHER", "CW-VALUE"], head_office)
    await feed.profile(
        assets("CW-BIG", D1, "360000.00"),  # +60,000: significant
        assets("CW-SMALLCHANGE", D1, "255000.00"),  # +5,000 (2%): not significant
        assets("CW-UNDER", D1, "190000.00"),  # +58% but below 200,000 before and after: not watched
        assets("CW-OTHER", D1, "240000.00"),  # -60,000: significant, another owner's
        assets(
            "CW-VALUE", D1, "500000.00", breakdown={"deposit": "300000.00", "wealth": "150000.00", "fund": "50000.00"}
        ),
    )
    await wait_known(
        tiering,
        ["CW-BIG", "CW-SMALLCHANGE", "CW-UNDER", "CW-OTHER", "CW-VALUE"],
        head_office,
        check=lambda b: b["as_of"] == D1.isoformat(),
    )

    rm_x = token_for("relationship_manager", "RM-X", "BR001")
    for token in (rm_x, head_office):
        r = await tiering.get("/v1/watch", params={"owner": "RM-X", "date": D1.isoformat()}, headers=auth(token))
        assert r.status_code == 200, r.text
        got = r.json()
        assert (got["date"], got["owner"]) == (D1.isoformat(), "RM-X")
        assert [(i["customer_id"], i["previous_aum"], i["aum"], i["change"], i["tier"]) for i in got["items"]] == [
            ("CW-VALUE", "400000.00", "500000.00", "100000.00", "vip"),
            ("CW-BIG", "300000.00", "360000.00", "60000.00", "potential"),
        ]
    # The whole branch's list, biggest change first; an RM asking for a colleague's list gets nothing.
    everyone = (await tiering.get("/v1/watch", params={"date": D1.isoformat()}, headers=auth(head_office))).json()
    assert [(i["customer_id"], i["owner"], i["change"]) for i in everyone["items"]] == [
        ("CW-VALUE", "RM-X", "100000.00"),
        ("CW-BIG", "RM-X", "60000.00"),
        ("CW-OTHER", "RM-Y", "-60000.00"),
    ]
    theirs = await tiering.get("/v1/watch", params={"owner": "RM-Y", "date": D1.isoformat()}, headers=auth(rm_x))
    assert theirs.status_code == 200 and theirs.json()["items"] == []
    nothing = await tiering.get("/v1/watch", params={"owner": "RM-X", "date": D0.isoformat()}, headers=auth(rm_x))
    assert nothing.json()["items"] == []
    latest = (await tiering.get("/v1/watch", headers=auth(rm_x))).json()  # without a date: the latest day
    assert latest["date"] == D1.isoformat() and len(latest["items"]) == 2

    r = await tiering.get("/v1/customers/CW-VALUE/value", headers=auth(rm_x))
    assert r.status_code == 200, r.text
    value = r.json()
    assert value["as_of"] == D1.isoformat() and value["policy_version"] == 1
    assert value["contribution"]["parts"] == [
        {"name": "deposit", "basis": "300000.00 × 0.005", "amount": "1500.00"},
        {"name": "fund", "basis": "50000.00 × 0.012", "amount": "600.00"},
        {"name": "wealth", "basis": "150000.00 × 0.010", "amount": "1500.00"},
    ]
    assert value["contribution"]["total"] == "3600.00" and value["contribution"]["unit"] == "CNY per year"
    # 400,000 → 500,000 over the 90 days (+25%, above the 10% of "growing": full 40 points), income 25, age 30.
    assert [(p["name"], p["basis"], Decimal(p["amount"])) for p in value["potential"]["parts"]] == [
        ("assets_trend", "25.0% over 90 days", Decimal(40)),
        ("income", "300k_1m", Decimal(25)),
        ("age", "30_44", Decimal(30)),
    ]
    assert Decimal(value["potential"]["total"]) == 95
    no_breakdown = (await tiering.get("/v1/customers/CW-BIG/value", headers=auth(rm_x))).json()
    assert no_breakdown["contribution"]["parts"] == [
        {"name": "unclassified", "basis": "360000.00 × 0.004", "amount": "1440.00"}
    ]
    assert [(p["name"], p["basis"], Decimal(p["amount"])) for p in no_breakdown["potential"]["parts"]] == [
        ("assets_trend", "no trend yet", 0),
        ("income", "unknown", 0),
        ("age", "unknown", 0),
    ]


async def test_bad_messages_go_to_dead_letters_and_the_next_good_event_is_applied(tiering, feed, head_office):
    good = "CB-GOOD"
    no_data = b'{"specversion": "1.0", "id": "x1", "type": "crm.profile.customer.registered.v1"}'
    bad_assets = envelope(*assets(good, D0, "100.00")).replace(b'"aum":"100.00"', b'"aum":"lots"')
    unknown = envelope(*assets("CB-NOBODY", D0, "100.00"))
    await feed.send_raw(
        PROFILE_CUSTOMERS, [(b"{not json", good), (no_data, good), (bad_assets, good), (unknown, "CB-NOBODY")]
    )
    await feed.profile(registered(good), assets(good, D0, "60000.00"))
    view = await wait_tier(tiering, good, head_office, lambda b: b["tier"] == "ordinary")
    assert view["aum"] == "60000.00"

    dead = await read_topic(
        feed.bootstrap, feed.topic(dead_letter(PROFILE_CUSTOMERS)), until=lambda rs: len(rs) >= 3, settle=1.0
    )
    errors = {d.value: {k: v.decode() for k, v in d.headers} for d in dead}
    # A balance that overtook its customer's registration is not a bad message: kept, applied when it arrives.
    assert set(errors) == {b"{not json", no_data, bad_assets}
    assert errors[b"{not json"]["dlt-error"].startswith("body: Invalid JSON")
    assert errors[b"{not json"]["dlt-source-topic"] == feed.topic(PROFILE_CUSTOMERS)
    assert errors[b"{not json"]["dlt-consumer-group"] == feed.topic("crm-tiering.profile")
    assert "subject" in errors[no_data]["dlt-error"] and "data" in errors[no_data]["dlt-error"]
    assert errors[bad_assets]["dlt-error"].startswith("aum:")
    await feed.profile(registered("CB-NOBODY"))
    late = await wait_tier(tiering, "CB-NOBODY", head_office, lambda b: b["as_of"] is not None)
    assert (late["aum"], late["as_of"], late["branch"]) == ("100.00", D0.isoformat(), "BR001")


def _share(part: dict) -> tuple:
    return part["customers"], part["top_customers"], part["total_aum"], part["top_aum"], part["top_share_pct"]
