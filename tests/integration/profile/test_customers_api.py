"""The customer archive over HTTP, against the real broker and database."""

import json

import pytest

from crm_contracts.envelope import CloudEvent
from crm_contracts.registry import EVENTS
from support import of_type, read_topic

pytestmark = pytest.mark.integration


async def test_register_read_masked_and_event_without_sensitive_values(profile, people, rm, stack):
    person = people()
    r = await profile.post("/v1/customers", json=person, headers=rm)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert r.headers["location"] == f"/v1/customers/{cid}"

    got = (await profile.get(f"/v1/customers/{cid}", headers=rm)).json()
    number = person["id_document"]["number"]
    phone = person["phones"][0]
    assert got["id_document"]["number"] == f"{number[:3]}{'*' * 11}{number[-4:]}"
    assert got["phones"] == [f"{phone[:3]}****{phone[-4:]}"]
    assert got["birthday"] == "****-**-**" and got["owner"] == "S-RM1" and got["version"] == 1

    topic = profile.settings.topic("crm.profile.customers")
    records = await read_topic(stack.kafka_bootstrap, topic, until=lambda rs: len(rs) >= 1, settle=1.0)
    registered = of_type(records, "crm.profile.customer.registered.v1", cid)
    assert len(registered) == 1
    assert records[0].key == cid.encode()
    raw = b"".join(r.value for r in records).decode()
    assert number not in raw and phone not in raw and person["email"] not in raw
    for rec in records:  # everything published validates against its contract
        event_type = json.loads(rec.value)["type"]
        CloudEvent[EVENTS[event_type]].model_validate_json(rec.value)


async def test_duplicate_id_document_is_409_with_existing_id(profile, people, rm):
    person = people()
    first = await profile.post("/v1/customers", json=person, headers=rm)
    again = await profile.post(
        "/v1/customers", json={**person, "phones": ["13900000000"], "core_customer_no": None}, headers=rm
    )
    assert again.status_code == 409
    assert again.json()["existing_id"] == first.json()["id"]


def _flip_check_digit(p):
    n = p["id_document"]["number"]
    p["id_document"]["number"] = n[:-1] + ("0" if n[-1] != "0" else "1")


@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        (_flip_check_digit, ["body", "individual", "id_document", "number"], "check digit"),
        (lambda p: p.update(phones=["12345678901"]), ["body", "individual", "phones", 0], "mobile"),
        (lambda p: p.update(birthday="1990-01-01"), ["body", "individual"], "birthday does not match"),
        (lambda p: p.update(kind="robot"), ["body"], "tag"),
        (lambda p: p.update(nickname="x"), ["body", "individual", "nickname"], "extra"),
        (lambda p: p.pop("name"), ["body", "individual", "name"], "required"),
        (lambda p: p.update(income={"annual": 120000.5}), ["body", "individual", "income", "annual"], "strings"),
    ],
)
async def test_bad_input_is_422_naming_the_field_without_echoing_it(profile, people, rm, change, loc, words):
    person = people()
    change(person)
    r = await profile.post("/v1/customers", json=person, headers=rm)
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == loc and words.lower() in error["msg"].lower()
    assert "input" not in error
    assert person["id_document"]["number"] not in r.text and person["phones"][0] not in r.text


async def test_corporate_needs_a_valid_uscc(profile, people, rm):
    company = people.corporate()
    assert (await profile.post("/v1/customers", json=company, headers=rm)).status_code == 201
    bad = people.corporate()
    bad["id_document"]["number"] = bad["id_document"]["number"][:-1] + (
        "A" if bad["id_document"]["number"][-1] != "A" else "B"
    )
    r = await profile.post("/v1/customers", json=bad, headers=rm)
    assert r.status_code == 422 and "number" in r.text


async def test_patch_needs_if_match_and_stale_gets_412(profile, people, rm, stack):
    cid = (await profile.post("/v1/customers", json=people(), headers=rm)).json()["id"]
    etag = (await profile.get(f"/v1/customers/{cid}", headers=rm)).headers["etag"]
    body = {"channel": "marketing_campaign", "tags": ["wealth-seminar"], "phones": ["13711112222"]}

    assert (await profile.patch(f"/v1/customers/{cid}", json=body, headers=rm)).status_code == 428
    ok = await profile.patch(f"/v1/customers/{cid}", json=body, headers={**rm, "If-Match": etag})
    assert ok.status_code == 200 and ok.json()["version"] == 2 and ok.headers["etag"] == '"v2"'
    stale = await profile.patch(
        f"/v1/customers/{cid}", json={"channel": "terminal", "tags": []}, headers={**rm, "If-Match": etag}
    )
    assert stale.status_code == 412
    after = (await profile.get(f"/v1/customers/{cid}", headers=rm)).json()
    assert after["tags"] == ["wealth-seminar"] and after["version"] == 2  # the stale write changed nothing

    history = (await profile.get(f"/v1/customers/{cid}/history", headers=rm)).json()
    assert [h["action"] for h in history] == ["registered", "updated"]
    assert history[1]["channel"] == "marketing_campaign" and history[1]["by"] == "S-RM1"
    assert history[1]["fields"] == ["phones", "tags"]
    assert "13711112222" not in str(history)

    topic = profile.settings.topic("crm.profile.customers")
    recs = await read_topic(
        stack.kafka_bootstrap,
        topic,
        until=lambda rs: len(of_type(rs, "crm.profile.customer.updated.v1", cid)) >= 1,
        settle=1.0,
    )
    [updated] = of_type(recs, "crm.profile.customer.updated.v1", cid)
    assert updated["data"]["changed_fields"] == ["phones", "tags"]
    assert "13711112222" not in str(updated)


async def test_patch_rejects_what_patch_may_not_do(profile, people, rm, token_for):
    cid = (await profile.post("/v1/customers", json=people(), headers=rm)).json()["id"]
    v1 = {**rm, "If-Match": '"v1"'}
    r = await profile.patch(f"/v1/customers/{cid}", json={"channel": "terminal", "industry": "x"}, headers=v1)
    assert r.status_code == 422 and "industry" in r.text
    for body in ({"name": None}, {"tags": None}, {"phones": None}, {"segment": "sme"}, {"notes": "x" * 2001}):
        r = await profile.patch(f"/v1/customers/{cid}", json={"channel": "terminal", **body}, headers=v1)
        assert r.status_code == 422, (body, r.text)
    r = await profile.patch(f"/v1/customers/{cid}", json={"channel": "terminal", "core_customer_no": "CB1"}, headers=v1)
    assert r.status_code == 403 and "core_customer_no" in r.text
    cleared = await profile.patch(
        f"/v1/customers/{cid}", json={"channel": "terminal", "email": None, "occupation": "教师"}, headers=v1
    )
    assert cleared.status_code == 200 and cleared.json()["email"] is None and cleared.json()["occupation"] == "教师"
    assert (await profile.get(f"/v1/customers/{cid}", headers=rm)).status_code == 200


async def test_data_scope_out_of_scope_is_404(profile, people, rm, token_for):
    cid = (await profile.post("/v1/customers", json=people(), headers=rm)).json()["id"]
    other_rm = {"Authorization": token_for("relationship_manager", "S-RM2", "BR001")}
    same_branch_manager = {"Authorization": token_for("branch_manager", "S-BM1", "BR001")}
    other_branch_manager = {"Authorization": token_for("branch_manager", "S-BM2", "BR002")}
    head_office = {"Authorization": token_for("head_office", "H1", None)}
    auditor = {"Authorization": token_for("auditor", "A1", None)}

    assert (await profile.get(f"/v1/customers/{cid}", headers=other_rm)).status_code == 404
    assert (await profile.get(f"/v1/customers/{cid}", headers=other_branch_manager)).status_code == 404
    assert (await profile.get(f"/v1/customers/{cid}/history", headers=other_rm)).status_code == 404
    assert (
        await profile.patch(
            f"/v1/customers/{cid}", json={"channel": "terminal", "tags": []}, headers={**other_rm, "If-Match": '"v1"'}
        )
    ).status_code == 404
    for who in (same_branch_manager, head_office, auditor):
        assert (await profile.get(f"/v1/customers/{cid}", headers=who)).status_code == 200
    listed = (await profile.get("/v1/customers", headers=other_rm)).json()["items"]
    assert cid not in [c["id"] for c in listed]
    assert (
        await profile.patch(
            f"/v1/customers/{cid}", json={"channel": "terminal", "tags": []}, headers={**auditor, "If-Match": '"v1"'}
        )
    ).status_code == 403
    assert (await profile.post("/v1/customers", json=people(), headers=auditor)).status_code == 403
    assert (await profile.get(f"/v1/customers/{cid}")).status_code == 401
    assert (await profile.get(f"/v1/customers/{cid}", headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_staff_register_only_in_their_branch_and_owner_defaults_to_them(profile, people, rm, token_for):
    r = await profile.post("/v1/customers", json=people(branch="BR002"), headers=rm)
    assert r.status_code == 403 and "branch" in r.text
    person = people()
    person.pop("owner")
    cid = (await profile.post("/v1/customers", json=person, headers=rm)).json()["id"]
    assert (await profile.get(f"/v1/customers/{cid}", headers=rm)).json()["owner"] == "S-RM1"
    named = people(owner="S-RM9")
    cid2 = (await profile.post("/v1/customers", json=named, headers=rm)).json()["id"]
    assert (await profile.get(f"/v1/customers/{cid2}", headers=rm)).status_code == 404  # now S-RM9's customer
    rm9 = {"Authorization": token_for("relationship_manager", "S-RM9", "BR001")}
    assert (await profile.get(f"/v1/customers/{cid2}", headers=rm9)).status_code == 200


async def test_reveal_is_audited_and_needs_role_and_purpose(profile, people, rm, token_for):
    person = people()
    cid = (await profile.post("/v1/customers", json=person, headers=rm)).json()["id"]
    assert (await profile.get(f"/v1/customers/{cid}?reveal=true", headers=rm)).status_code == 422
    head_office = {"Authorization": token_for("head_office", "H1", None)}
    assert (await profile.get(f"/v1/customers/{cid}?reveal=true&purpose=x", headers=head_office)).status_code == 403

    r = await profile.get(
        f"/v1/customers/{cid}", params={"reveal": "true", "purpose": "identity check at counter"}, headers=rm
    )
    assert r.status_code == 200
    assert r.json()["id_document"]["number"] == person["id_document"]["number"]
    assert r.json()["phones"] == person["phones"] and r.json()["revealed"] is True

    auditor = {"Authorization": token_for("auditor", "A1", None)}
    audit = (await profile.get("/v1/audit", params={"customer_id": cid}, headers=auditor)).json()
    assert len(audit) == 1
    assert audit[0]["staff_id"] == "S-RM1" and audit[0]["purpose"] == "identity check at counter"
    assert audit[0]["action"] == "reveal" and audit[0]["at"]
    assert (await profile.get("/v1/audit", headers=rm)).status_code == 403


async def test_list_filters_phone_and_cursor_pagination(profile, people, rm):
    ids = []
    for i in range(5):
        person = people(tags=["seminar"] if i % 2 == 0 else [])
        ids.append((await profile.post("/v1/customers", json=person, headers=rm)).json()["id"])
        if i == 3:
            wanted_phone, wanted_id = person["phones"][0], ids[-1]
    page1 = (await profile.get("/v1/customers", params={"limit": 2}, headers=rm)).json()
    page2 = (await profile.get("/v1/customers", params={"limit": 2, "cursor": page1["next_cursor"]}, headers=rm)).json()
    page3 = (await profile.get("/v1/customers", params={"limit": 2, "cursor": page2["next_cursor"]}, headers=rm)).json()
    seen = [c["id"] for c in page1["items"] + page2["items"] + page3["items"]]
    assert seen == ids and page3["next_cursor"] is None
    tagged = (await profile.get("/v1/customers", params={"tag": "seminar"}, headers=rm)).json()["items"]
    assert [c["id"] for c in tagged] == [ids[0], ids[2], ids[4]]
    by_phone = (await profile.get("/v1/customers", params={"phone": wanted_phone}, headers=rm)).json()["items"]
    assert [c["id"] for c in by_phone] == [wanted_id]
    assert (await profile.get("/v1/customers", params={"phone": "123"}, headers=rm)).status_code == 422
    assert (await profile.get("/v1/customers", params={"owner": "S-RM1", "branch": "BR001"}, headers=rm)).json()[
        "items"
    ]


async def test_consent_change_publishes_event(profile, people, rm, stack):
    cid = (await profile.post("/v1/customers", json={**people(), "consents": {"sms": True}}, headers=rm)).json()["id"]
    r = await profile.put(
        f"/v1/customers/{cid}/consents/sms", json={"granted": False, "source": "website_call_centre"}, headers=rm
    )
    assert r.status_code == 200 and r.json()["sms"]["granted"] is False
    again = await profile.put(
        f"/v1/customers/{cid}/consents/sms", json={"granted": False, "source": "website_call_centre"}, headers=rm
    )
    assert again.status_code == 200
    assert (
        await profile.put(f"/v1/customers/{cid}/consents/fax", json={"granted": True, "source": "terminal"}, headers=rm)
    ).status_code == 422
    topic = profile.settings.topic("crm.profile.customers")
    recs = await read_topic(
        stack.kafka_bootstrap,
        topic,
        until=lambda rs: len(of_type(rs, "crm.profile.customer.consent-changed.v1", cid)) >= 2,
        settle=1.0,
    )
    consent = of_type(recs, "crm.profile.customer.consent-changed.v1", cid)
    assert [(e["data"]["channel"], e["data"]["granted"]) for e in consent] == [("sms", True), ("sms", False)]


async def test_relationships(profile, people, rm):
    a = (await profile.post("/v1/customers", json=people(), headers=rm)).json()["id"]
    b = (await profile.post("/v1/customers", json=people(), headers=rm)).json()["id"]
    co = (await profile.post("/v1/customers", json=people.corporate(), headers=rm)).json()["id"]
    r = await profile.post(
        f"/v1/customers/{a}/relationships",
        json={"kind": "family", "other_customer_id": b, "role": "spouse"},
        headers=rm,
    )
    assert r.status_code == 201
    assert (
        await profile.post(
            f"/v1/customers/{b}/relationships", json={"kind": "referred_by", "other_customer_id": a}, headers=rm
        )
    ).status_code == 201
    assert (
        await profile.post(
            f"/v1/customers/{co}/relationships",
            json={"kind": "corporate_individual", "other_customer_id": a, "role": "legal_representative"},
            headers=rm,
        )
    ).status_code == 201
    bad = await profile.post(
        f"/v1/customers/{a}/relationships", json={"kind": "family", "other_customer_id": co}, headers=rm
    )
    assert bad.status_code == 422 and "individual" in bad.text
    missing = await profile.post(
        f"/v1/customers/{a}/relationships", json={"kind": "family", "other_customer_id": "C404"}, headers=rm
    )
    assert missing.status_code == 422 and "other_customer_id" in missing.text
    elsewhere = (await profile.post("/v1/customers", json=people(owner="S-RM2"), headers=rm)).json()["id"]
    hidden = await profile.post(
        f"/v1/customers/{a}/relationships", json={"kind": "family", "other_customer_id": elsewhere}, headers=rm
    )
    assert hidden.status_code == 422 and hidden.json() == {
        "detail": missing.json()["detail"].replace("C404", elsewhere)
    }
    reverse = await profile.post(
        f"/v1/customers/{b}/relationships", json={"kind": "family", "other_customer_id": a}, headers=rm
    )
    assert reverse.status_code == 409  # family is one link, whichever side records it
    rels = (await profile.get(f"/v1/customers/{a}/relationships", headers=rm)).json()
    assert {(x["kind"], x["direction"], x["other_customer_id"]) for x in rels} == {
        ("family", "outgoing", b),
        ("referred_by", "incoming", b),
        ("corporate_individual", "incoming", co),
    }
    assert (await profile.delete(f"/v1/customers/{a}/relationships/{rels[0]['id']}", headers=rm)).status_code == 204
    assert len((await profile.get(f"/v1/customers/{a}/relationships", headers=rm)).json()) == 2
    history = (await profile.get(f"/v1/customers/{a}/history", headers=rm)).json()
    assert [h["action"] for h in history] == ["registered", "relationship_added", "relationship_removed"]
    assert history[1]["by"] == "S-RM1" and history[1]["channel"] == "service_process"


async def test_merge_duplicate_into_survivor(profile, people, rm, token_for, stack):
    bm = {"Authorization": token_for("branch_manager", "S-BM1", "BR001")}
    admin = {"Authorization": token_for("admin", "S-ADMIN", None)}
    survivor = (
        await profile.post(
            "/v1/customers",
            json={**people(), "core_customer_no": None, "tags": ["a"], "consents": {"sms": True}},
            headers=rm,
        )
    ).json()["id"]
    dup_person = {**people(), "tags": ["b"]}
    dup = (await profile.post("/v1/customers", json=dup_person, headers=rm)).json()["id"]
    # The customer later refused SMS, recorded on the duplicate record; core banking knows the duplicate.
    await profile.put(f"/v1/customers/{dup}/consents/sms", json={"granted": False, "source": "terminal"}, headers=rm)
    await profile.post(
        "/v1/balances",
        json={
            "snapshots": [
                {"core_customer_no": dup_person["core_customer_no"], "as_of": "2026-11-20", "aum": "600000.00"}
            ]
        },
        headers=admin,
    )
    friend = (await profile.post("/v1/customers", json=people(), headers=rm)).json()["id"]
    await profile.post(
        f"/v1/customers/{friend}/relationships", json={"kind": "referred_by", "other_customer_id": dup}, headers=rm
    )

    assert (
        await profile.post(
            f"/v1/customers/{survivor}/merge", json={"duplicate_id": dup, "reason": "same person"}, headers=rm
        )
    ).status_code == 403
    r = await profile.post(
        f"/v1/customers/{survivor}/merge", json={"duplicate_id": dup, "reason": "same person"}, headers=bm
    )
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["core_customer_no"] == dup_person["core_customer_no"] and merged["tags"] == ["a", "b"]
    assert merged["consents"]["sms"]["granted"] is False  # the opt-out survives the merge
    assert merged["aum"]["amount"] == "600000.00"
    assert [b["as_of"] for b in (await profile.get(f"/v1/customers/{survivor}/balances", headers=rm)).json()] == [
        "2026-11-20"
    ]
    assert (
        await profile.put(f"/v1/customers/{dup}/consents/sms", json={"granted": True, "source": "terminal"}, headers=rm)
    ).status_code == 409
    gone = (await profile.get(f"/v1/customers/{dup}", headers=bm)).json()
    assert gone["status"] == "merged" and gone["merged_into"] == survivor
    rels = (await profile.get(f"/v1/customers/{friend}/relationships", headers=rm)).json()
    assert rels[0]["other_customer_id"] == survivor
    # The retired record's ID document still points to the survivor, so it cannot be registered a third time.
    again = await profile.post("/v1/customers", json={**dup_person, "core_customer_no": None}, headers=rm)
    assert again.status_code == 409 and again.json()["existing_id"] == survivor
    assert (
        await profile.post(f"/v1/customers/{survivor}/merge", json={"duplicate_id": dup, "reason": "again"}, headers=bm)
    ).status_code == 409
    recs = await read_topic(
        stack.kafka_bootstrap,
        profile.settings.topic("crm.profile.customers"),
        until=lambda rs: len(of_type(rs, "crm.profile.customer.merged.v1")) >= 1,
    )
    [ev] = of_type(recs, "crm.profile.customer.merged.v1", survivor)
    assert ev["data"]["merged_id"] == dup
    [assets] = [e for e in of_type(recs, "crm.profile.customer.assets-changed.v1", survivor)]
    assert assets["data"]["aum"] == "600000.00"
    consent = of_type(recs, "crm.profile.customer.consent-changed.v1", survivor)
    assert [(e["data"]["channel"], e["data"]["granted"]) for e in consent] == [("sms", True), ("sms", False)]


async def test_ops_endpoints(profile):
    assert (await profile.get("/healthz")).json() == {"status": "ok"}
    ready = await profile.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {
        "status": "ready",
        "database": True,
        "broker": {"reachable": True, "missing_topics": []},
    }
    metrics = await profile.get("/metrics")
    assert "crm_http_requests_total" in metrics.text
    spec = (await profile.get("/openapi.json")).json()
    assert "/v1/customers/{customer_id}" in spec["paths"]
    assert (await profile.get("/docs")).status_code == 200


async def test_batch_registration_reports_each_item_and_is_idempotent(profile, people, rm, stack):
    a, b = people(), people()
    bad = people()
    bad["phones"] = ["110"]
    other_branch = people(branch="BR009")
    batch = {"customers": [a, bad, {**a, "core_customer_no": None}, b, other_branch]}
    first = await profile.post("/v1/customers/batch", json=batch, headers=rm)
    assert first.status_code == 200, first.text
    r = first.json()["results"]
    assert [x["status"] for x in r] == ["created", "rejected", "exists", "created", "rejected"]
    assert r[2]["id"] == r[0]["id"]
    assert r[1]["errors"][0]["field"].startswith("phones") and "110" not in str(r[1])
    assert r[4]["errors"] == [{"field": "branch", "problem": "you may register customers only in your branch BR001"}]

    again = (await profile.post("/v1/customers/batch", json=batch, headers=rm)).json()["results"]
    assert [x["status"] for x in again] == ["exists", "rejected", "exists", "exists", "rejected"]
    assert [again[0]["id"], again[3]["id"]] == [r[0]["id"], r[3]["id"]]
    listed = (await profile.get("/v1/customers", headers=rm)).json()["items"]
    assert len(listed) == 2
    records = await read_topic(
        stack.kafka_bootstrap,
        profile.settings.topic("crm.profile.customers"),
        until=lambda rs: len(rs) >= 2,
        settle=1.0,
    )
    assert len(of_type(records, "crm.profile.customer.registered.v1")) == 2
