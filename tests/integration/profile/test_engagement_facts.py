"""What the profile's events give the engagement service: a birthday's month and day (never the year or
the date) for care moments, and the risk assessment for suitability checks."""

import json
import re

import pytest

from crm_contracts.envelope import CloudEvent
from crm_contracts.registry import EVENTS
from support import events, of_type, read_topic

pytestmark = pytest.mark.integration

REGISTERED = "crm.profile.customer.registered.v1"
UPDATED = "crm.profile.customer.updated.v1"
RISK_FIELDS = ("risk_tolerance", "risk_assessed_on", "professional_investor")
C3 = {"tolerance": "C3", "assessed_on": "2026-05-20", "professional_investor": False}
C5 = {"tolerance": "C5", "assessed_on": "2026-11-02", "professional_investor": True}


def _topic(profile):
    return profile.settings.topic("crm.profile.customers")


def _assert_no_birthday(records, *birthdays):
    """Neither the full date (ISO or compact) nor the year with its month, nor a data field holding the
    year, in anything published; every record still validates against its contract."""
    raw = b"".join(r.value for r in records).decode()
    for birthday in birthdays:
        year, month, _ = birthday.split("-")
        for value in (birthday, birthday.replace("-", ""), f"{year}-{month}", f"{year}/{month}", f'"{year}"'):
            assert value not in raw, value
        for event in events(records):
            data = event["data"]
            assert "birthday" not in data
            assert all(v != int(year) and not (isinstance(v, str) and v.startswith(f"{year}-")) for v in data.values())
    for rec in records:
        CloudEvent[EVENTS[json.loads(rec.value)["type"]]].model_validate_json(rec.value)


async def test_registration_publishes_month_day_and_risk(profile, people, rm, stack):
    person = people(risk=C3)
    without_risk = people()
    company = people.corporate()
    ids = []
    for body in (person, without_risk, company):
        r = await profile.post("/v1/customers", json=body, headers=rm)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    batch = people(risk=C5)
    r = await profile.post("/v1/customers/batch", json={"customers": [batch]}, headers=rm)
    assert r.json()["results"][0]["status"] == "created", r.text
    ids.append(r.json()["results"][0]["id"])

    records = await read_topic(
        stack.kafka_bootstrap, _topic(profile), until=lambda rs: len(of_type(rs, REGISTERED)) >= 4, settle=1.0
    )
    [with_risk], [no_risk], [corporate], [batched] = (of_type(records, REGISTERED, cid) for cid in ids)

    assert with_risk["data"]["birth_month_day"] == person["birthday"][5:]
    assert re.fullmatch(r"\d{2}-\d{2}", with_risk["data"]["birth_month_day"])
    assert {k: with_risk["data"][k] for k in RISK_FIELDS} == {
        "risk_tolerance": "C3",
        "risk_assessed_on": "2026-05-20",
        "professional_investor": False,
    }
    assert no_risk["data"]["birth_month_day"] == without_risk["birthday"][5:]
    assert all(no_risk["data"][k] is None for k in RISK_FIELDS)
    assert corporate["data"]["birth_month_day"] is None and all(corporate["data"][k] is None for k in RISK_FIELDS)
    # a batch (imports) registers through the same path
    assert batched["data"]["birth_month_day"] == batch["birthday"][5:]
    assert {k: batched["data"][k] for k in RISK_FIELDS} == {
        "risk_tolerance": "C5",
        "risk_assessed_on": "2026-11-02",
        "professional_investor": True,
    }
    _assert_no_birthday(records, person["birthday"], without_risk["birthday"], batch["birthday"])


async def test_patch_of_risk_publishes_it_and_other_patches_do_not(profile, people, rm, stack):
    person = people(risk=C3)
    cid = (await profile.post("/v1/customers", json=person, headers=rm)).json()["id"]

    async def patch(body, version):
        r = await profile.patch(
            f"/v1/customers/{cid}",
            json={"channel": "service_process", **body},
            headers={**rm, "If-Match": f'"v{version}"'},
        )
        assert r.status_code == 200, r.text
        return r.json()["version"]

    assert await patch({"risk": C5}, 1) == 2  # reassessed
    assert await patch({"tags": ["seminar"], "occupation": "教师"}, 2) == 3  # something else
    assert await patch({"risk": C5}, 3) == 3  # the same assessment again changes nothing, publishes nothing
    assert await patch({"risk": None}, 3) == 4  # cleared

    records = await read_topic(
        stack.kafka_bootstrap, _topic(profile), until=lambda rs: len(of_type(rs, UPDATED, cid)) >= 3, settle=1.0
    )
    reassessed, other, cleared = of_type(records, UPDATED, cid)

    assert reassessed["data"]["changed_fields"] == ["risk"] and reassessed["data"]["version"] == 2
    assert {k: reassessed["data"][k] for k in RISK_FIELDS} == {
        "risk_tolerance": "C5",
        "risk_assessed_on": "2026-11-02",
        "professional_investor": True,
    }
    assert reassessed["data"]["birth_month_day"] is None  # the birthday did not change

    assert other["data"]["changed_fields"] == ["occupation", "tags"]
    assert "risk" not in other["data"]["changed_fields"] and "birthday" not in other["data"]["changed_fields"]
    assert all(other["data"][k] is None for k in (*RISK_FIELDS, "birth_month_day"))

    # cleared, told apart from "not changed" by changed_fields alone
    assert cleared["data"]["changed_fields"] == ["risk"]
    assert all(cleared["data"][k] is None for k in RISK_FIELDS)

    [registered] = of_type(records, REGISTERED, cid)
    assert registered["data"]["risk_tolerance"] == "C3"
    _assert_no_birthday(records, person["birthday"])
