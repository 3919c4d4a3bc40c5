"""The profile's application functions (the ones the HTTP routes and the consumers call) on in-memory repositories:
what they save, which events they publish, what they audit and refuse, that a refused or failed unit of work leaves
nothing behind, and that a unit of work run again after a conflict has the same effect once."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from profile_fakes import fake_repositories

from crm_contracts.corebank import BalanceSnapshot
from crm_contracts.envelope import CloudEvent
from crm_contracts.tiering import LifecycleChanged, OwnerAssigned, TierChanged
from crm_contracts.topics import COREBANK_BALANCES, PROFILE_CUSTOMERS, TIERING_CUSTOMERS
from crm_kit.auth import Principal, Role
from crm_kit.errors import PreconditionFailed, PreconditionRequired, RuleBroken
from crm_kit.fakes import FakeUnitOfWork
from crm_kit.messaging import Incoming
from crm_kit.runtime import Runtime, docs_settings
from crm_profile.adapters.repositories import ProfileRepositories
from crm_profile.adapters.store import SensitiveFields
from crm_profile.entrypoints import subscribers
from crm_profile.schemas import ConsentUpdate, CustomerUpdate, MergeRequest, RelationshipCreate
from crm_profile.service import balances, customers, registration, tiering_events
from crm_profile.service.context import Profile
from crm_profile.settings import ProfileSettings

REGISTERED = "crm.profile.customer.registered.v1"
UPDATED = "crm.profile.customer.updated.v1"
ASSETS = "crm.profile.customer.assets-changed.v1"
CONSENT = "crm.profile.customer.consent-changed.v1"
MERGED = "crm.profile.customer.merged.v1"

RM = Principal("S-RM1", Role.RELATIONSHIP_MANAGER, "BR001")
OTHER_RM = Principal("S-RM2", Role.RELATIONSHIP_MANAGER, "BR001")
MANAGER = Principal("S-BM1", Role.BRANCH_MANAGER, "BR001")
HEAD_OFFICE = Principal("S-HO1", Role.HEAD_OFFICE, None)


@pytest.fixture
def uow() -> FakeUnitOfWork[ProfileRepositories]:
    return FakeUnitOfWork(fake_repositories())


@pytest.fixture
def service(uow: FakeUnitOfWork[ProfileRepositories]) -> Profile:
    # A Runtime builds its database client and broker without connecting to either; nothing here reaches them.
    rt = Runtime(docs_settings(ProfileSettings), topics=[PROFILE_CUSTOMERS, COREBANK_BALANCES, TIERING_CUSTOMERS])
    return Profile(rt=rt, uow=uow, sensitive=SensitiveFields(rt.cipher))


async def _register(service: Profile, data: dict[str, Any], principal: Principal = RM) -> str:
    [outcome] = (await registration.register_batch(service=service, principal=principal, customers=[data]))["results"]
    assert outcome["status"] == "created", outcome
    return str(outcome["id"])


def _snapshot(core_no: str, day: str, aum: str) -> BalanceSnapshot:
    return BalanceSnapshot(core_customer_no=core_no, as_of=date.fromisoformat(day), aum=Decimal(aum))


async def test_registering_seals_the_id_document_and_publishes_registered_then_consents(service, uow, people):
    data = people(consents={"sms": True, "email": False})
    cid = await _register(service, data)

    repos = uow.repositories
    doc = repos.customers.docs[cid]
    assert doc["id_document"]["number"] != data["id_document"]["number"]  # only ciphertext is stored
    assert doc["lookup"]["id"] == service.sensitive.id_lookup("resident_id", data["id_document"]["number"])
    assert (doc["version"], doc["event_seq"], doc["owner"], doc["status"]) == (1, 3, "S-RM1", "active")
    assert repos.outbox.types() == [REGISTERED, CONSENT, CONSENT]
    assert [m.key_seq for m in repos.outbox.messages] == [1, 2, 3]
    assert {m.key for m in repos.outbox.messages} == {cid}
    assert repos.history.actions(cid) == ["registered"]
    shown = await customers.get_customer(service=service, principal=RM, customer_id=cid)
    assert shown["id_document"]["number"] != data["id_document"]["number"]  # masked
    assert shown["id_document"]["number"][-4:] == data["id_document"]["number"][-4:]


async def test_the_same_id_document_registers_once(service, uow, people):
    data = people()
    cid = await _register(service, data)
    published = len(uow.repositories.outbox.messages)

    with pytest.raises(RuleBroken) as refused:
        await registration.register_customer(
            service=service, principal=RM, data=registration.CUSTOMER.validate_python({**data, "name": "其他"})
        )
    assert refused.value.kind == "conflict" and refused.value.extra["existing_id"] == cid
    again = await registration.register_batch(service=service, principal=RM, customers=[data, {"kind": "individual"}])
    assert [(r["status"], r.get("id")) for r in again["results"]] == [("exists", cid), ("rejected", None)]
    assert list(uow.repositories.customers.docs) == [cid]
    assert len(uow.repositories.outbox.messages) == published


async def test_registration_outside_own_branch_is_forbidden(service, uow, people):
    with pytest.raises(RuleBroken) as refused:
        await registration.register_customer(
            service=service, principal=RM, data=registration.CUSTOMER.validate_python(people(branch="BR002"))
        )
    assert refused.value.kind == "forbidden"
    assert uow.repositories.customers.docs == {} and uow.commits == 0


async def test_a_patch_takes_the_next_version_records_history_and_one_event_even_when_rerun(service, uow, people):
    cid = await _register(service, people())
    uow.repositories.outbox.messages.clear()
    uow.retry_once = True  # the transaction conflicts once after the work ran, and runs again

    shown = await customers.update_customer(
        service=service,
        principal=RM,
        customer_id=cid,
        patch=CustomerUpdate(channel="terminal", tags=["vip-candidate"], phones=["13800138000"]),
        if_match='"v1"',
    )

    repos = uow.repositories
    doc = repos.customers.docs[cid]
    assert shown["version"] == 2 and doc["version"] == 2 and doc["event_seq"] == 2
    assert doc["tags"] == ["vip-candidate"]
    assert doc["lookup"]["phones"] == [service.sensitive.phone_lookup("13800138000")]
    assert repos.outbox.types() == [UPDATED]
    assert repos.outbox.messages[0].key_seq == 2
    assert repos.history.actions(cid) == ["registered", "updated"]
    [row] = [row for row in repos.history.rows if row["action"] == "updated"]
    assert sorted(row["fields"]) == ["phones", "tags"]
    assert "phones" not in row["changes"] and row["changes"]["tags"] == {"from": [], "to": ["vip-candidate"]}
    assert uow.commits == 2  # the registration and the patch, the patch once despite its rerun


async def test_a_stale_or_missing_if_match_changes_nothing(service, uow, people):
    cid = await _register(service, people())
    before = uow.repositories.customers.docs[cid]
    patch = CustomerUpdate(channel="terminal", tags=["x"])

    with pytest.raises(PreconditionRequired):
        await customers.update_customer(service=service, principal=RM, customer_id=cid, patch=patch, if_match=None)
    await customers.update_customer(service=service, principal=RM, customer_id=cid, patch=patch, if_match='"v1"')
    with pytest.raises(PreconditionFailed) as stale:
        await customers.update_customer(
            service=service,
            principal=RM,
            customer_id=cid,
            patch=CustomerUpdate(channel="terminal", tags=["y"]),
            if_match='"v1"',
        )

    assert stale.value.extra["current_etag"] == '"v2"'
    assert uow.rollbacks == 1
    doc = uow.repositories.customers.docs[cid]
    assert doc["tags"] == ["x"] and doc["version"] == before["version"] + 1
    assert uow.repositories.outbox.types().count(UPDATED) == 1


async def test_linking_a_core_number_held_by_another_customer_is_a_conflict_naming_it(service, uow, people):
    first = await _register(service, people())
    second = await _register(service, people())
    held = uow.repositories.customers.docs[first]["core_customer_no"]
    published = list(uow.repositories.outbox.types())

    with pytest.raises(RuleBroken) as refused:
        await customers.update_customer(
            service=service,
            principal=HEAD_OFFICE,
            customer_id=second,
            patch=CustomerUpdate(channel="terminal", core_customer_no=held),
            if_match="*",
        )
    assert refused.value.kind == "conflict" and refused.value.extra["existing_id"] == first
    assert uow.repositories.customers.docs[second]["version"] == 1
    assert uow.repositories.history.actions(second) == ["registered"]
    assert uow.repositories.outbox.types() == published
    # A relationship manager may not link at all.
    with pytest.raises(RuleBroken) as forbidden:
        await customers.update_customer(
            service=service,
            principal=RM,
            customer_id=second,
            patch=CustomerUpdate(channel="terminal", core_customer_no="CB000"),
            if_match="*",
        )
    assert forbidden.value.kind == "forbidden"


async def test_reveal_is_audited_and_out_of_scope_reads_as_missing(service, uow, people):
    data = people()
    cid = await _register(service, data)

    with pytest.raises(RuleBroken) as no_purpose:
        await customers.get_customer(service=service, principal=MANAGER, customer_id=cid, reveal=True, purpose=" ")
    assert no_purpose.value.kind == "invalid"
    with pytest.raises(RuleBroken) as not_yours:
        await customers.get_customer(service=service, principal=OTHER_RM, customer_id=cid)
    assert not_yours.value.kind == "not_found"
    assert uow.repositories.audit.rows == []

    shown = await customers.get_customer(
        service=service, principal=MANAGER, customer_id=cid, reveal=True, purpose=" identity check "
    )
    assert shown["revealed"] and shown["id_document"]["number"] == data["id_document"]["number"]
    assert uow.repositories.audit.rows == [
        {
            "staff_id": "S-BM1",
            "role": "branch_manager",
            "action": "reveal",
            "target": cid,
            "detail": {
                "branch": "BR001",
                "fields": ["id_document", "phones", "email", "address", "birthday"],
                "purpose": "identity check",
            },
        }
    ]
    [row] = await customers.audit_log(service=service, customer_id=cid, staff_id=None)
    assert row["action"] == "reveal"


async def test_a_consent_change_publishes_once_and_repeating_it_publishes_nothing(service, uow, people):
    cid = await _register(service, people())
    uow.repositories.outbox.messages.clear()
    body = ConsentUpdate(granted=True, source="terminal")

    consents = await customers.set_consent(service=service, principal=RM, customer_id=cid, channel="sms", body=body)
    again = await customers.set_consent(service=service, principal=RM, customer_id=cid, channel="sms", body=body)

    assert consents["sms"]["granted"] is True and again == consents
    assert uow.repositories.outbox.types() == [CONSENT]
    assert uow.repositories.outbox.messages[0].key_seq == 2
    assert uow.repositories.history.actions(cid) == ["registered", "consent"]
    assert uow.repositories.customers.docs[cid]["version"] == 2


async def test_a_family_link_is_one_link_whichever_side_records_it(service, uow, people):
    first = await _register(service, people())
    second = await _register(service, people())
    body = RelationshipCreate(kind="family", other_customer_id=second, role="spouse")

    link = await customers.add_relationship(service=service, principal=RM, customer_id=first, body=body)
    with pytest.raises(RuleBroken) as duplicate:
        await customers.add_relationship(
            service=service,
            principal=RM,
            customer_id=second,
            body=RelationshipCreate(kind="family", other_customer_id=first),
        )
    with pytest.raises(RuleBroken) as itself:
        await customers.add_relationship(
            service=service,
            principal=RM,
            customer_id=first,
            body=RelationshipCreate(kind="family", other_customer_id=first),
        )

    assert duplicate.value.kind == "conflict" and duplicate.value.extra["existing_id"] == link["id"]
    assert itself.value.kind == "invalid"
    assert list(uow.repositories.relationships.links) == [link["id"]]
    seen_from_second = await customers.list_relationships(service=service, principal=RM, customer_id=second)
    assert [(r["direction"], r["other_customer_id"]) for r in seen_from_second] == [("incoming", first)]
    await customers.remove_relationship(service=service, principal=RM, customer_id=second, relationship_id=link["id"])
    assert uow.repositories.relationships.links == {}
    assert uow.repositories.history.actions(first) == ["registered", "relationship_added"]
    assert uow.repositories.history.actions(second) == ["registered", "relationship_removed"]


async def test_balances_apply_known_customers_reject_the_rest_and_a_rerun_publishes_once(service, uow, people):
    cid = await _register(service, people(core_customer_no="CB100"))
    uow.repositories.outbox.messages.clear()
    uow.retry_once = True

    result = await balances.post_balances(
        service=service,
        snapshots=[
            _snapshot("CB100", "2026-11-02", "1200.00"),
            _snapshot("CB999", "2026-11-02", "10.00"),
            _snapshot("CB100", "2026-11-01", "1000.00"),
        ],
    )

    assert result["accepted"] == 2
    assert result["rejected"] == [
        {"index": 1, "core_customer_no": "CB999", "reason": "core_customer_no: unknown core banking customer CB999"}
    ]
    repos = uow.repositories
    doc = repos.customers.docs[cid]
    assert doc["aum"]["amount"] == Decimal("1200.00") and doc["aum"]["as_of"] == "2026-11-02"
    assert doc["event_seq"] == 3  # registered, then one assets-changed per day
    assert repos.outbox.types() == [ASSETS, ASSETS]
    assert [m.key_seq for m in repos.outbox.messages] == [2, 3]
    days = await customers.balance_history(service=service, principal=RM, customer_id=cid)
    assert [(d["as_of"], d["aum"]) for d in days] == [
        ("2026-11-02", Decimal("1200.00")),
        ("2026-11-01", Decimal("1000.00")),
    ]

    # The same feed again moves nothing and publishes nothing.
    await balances.post_balances(service=service, snapshots=[_snapshot("CB100", "2026-11-02", "1200.00")])
    assert repos.outbox.types() == [ASSETS, ASSETS] and repos.customers.docs[cid]["event_seq"] == 3


async def test_a_merge_hands_link_balances_consents_and_links_to_the_survivor(service, uow, people):
    survivor = await _register(service, people(core_customer_no=None, consents={"sms": False}))
    duplicate_data = people(core_customer_no="CB200", consents={"sms": True}, tags=["x"])
    duplicate = await _register(service, duplicate_data)
    third = await _register(service, people())
    await balances.post_balances(service=service, snapshots=[_snapshot("CB200", "2026-11-02", "500.00")])
    await customers.add_relationship(
        service=service,
        principal=RM,
        customer_id=duplicate,
        body=RelationshipCreate(kind="family", other_customer_id=third),
    )
    await customers.add_relationship(
        service=service,
        principal=RM,
        customer_id=duplicate,
        body=RelationshipCreate(kind="family", other_customer_id=survivor),
    )
    uow.repositories.outbox.messages.clear()
    uow.retry_once = True

    shown = await customers.merge_customers(
        service=service,
        principal=MANAGER,
        survivor_id=survivor,
        body=MergeRequest(duplicate_id=duplicate, reason="same person"),
    )

    repos = uow.repositories
    kept, gone = repos.customers.docs[survivor], repos.customers.docs[duplicate]
    assert (gone["status"], gone["merged_into"], "core_customer_no" in gone, "id" in gone["lookup"]) == (
        "merged",
        survivor,
        False,
        False,
    )
    assert kept["core_customer_no"] == "CB200" and kept["aum"]["amount"] == Decimal("500.00")
    assert kept["merged_ids"] == [duplicate] and kept["tags"] == ["x"] and shown["version"] == 2
    assert repos.outbox.types() == [MERGED, ASSETS, CONSENT]
    assert [m.key_seq for m in repos.outbox.messages] == [
        kept["event_seq"] - 2,
        kept["event_seq"] - 1,
        kept["event_seq"],
    ]
    assert {m.key for m in repos.outbox.messages} == {survivor}
    assert [d["_id"] for d in repos.balances.days.values()] == [f"{survivor}:2026-11-02"]
    # The link to the third customer moved; the one between the two merged records went with them.
    assert [(link["from_id"], link["to_id"]) for link in repos.relationships.links.values()] == [(survivor, third)]
    assert repos.history.actions(survivor)[-1] == "merged_in" and repos.history.actions(duplicate)[-1] == "merged_away"
    # Registering the duplicate's ID document again answers with the survivor.
    again = await registration.register_batch(service=service, principal=RM, customers=[duplicate_data])
    assert again["results"] == [{"index": 0, "status": "exists", "id": survivor}]


async def test_customers_are_listed_within_scope_page_by_page(service, uow, people):
    mine = sorted([await _register(service, people()) for _ in range(3)])
    theirs = await _register(service, people(owner="S-RM2"))

    first, cursor = await customers.list_customers(service=service, principal=RM, limit=2)
    rest, end = await customers.list_customers(service=service, principal=RM, cursor=cursor, limit=2)
    branch, _ = await customers.list_customers(service=service, principal=MANAGER, limit=50)

    assert [c["id"] for c in first + rest] == mine and end is None
    assert sorted(c["id"] for c in branch) == sorted([*mine, theirs])
    with pytest.raises(RuleBroken) as bad_phone:
        await customers.list_customers(service=service, principal=RM, phone="12")
    assert bad_phone.value.kind == "invalid"


def _assigned(customer_id: str, owner: str, at: datetime) -> CloudEvent[OwnerAssigned]:
    data = OwnerAssigned(customer_id=customer_id, new_owner=owner, reason="manual", assigned_by="S-SUP", assigned_at=at)
    return CloudEvent.wrap(data, source="crm/tiering", subject=customer_id)


def _tiered(customer_id: str, tier: str, as_of: date = date(2026, 11, 19)) -> CloudEvent[TierChanged]:
    data = TierChanged(
        customer_id=customer_id,
        from_tier=None,
        to_tier=tier,
        reason="first_tier",
        policy_version=1,
        as_of=as_of,
        basis_amount=Decimal("600000"),
    )
    return CloudEvent.wrap(data, source="crm/tiering", subject=customer_id)


def _from_tiering(event: CloudEvent[Any] | None, sequence: int | None, offset: int = 0) -> Incoming[Any]:
    """A message of tiering's topic as the kit's consumer hands it over: `sequence` is tiering's number for the
    customer's event (ce_sequence), None for an unnumbered one (a hand-made replay)."""
    return Incoming(
        topic=TIERING_CUSTOMERS,
        partition=0,
        offset=offset,
        key=event.subject if event is not None else None,
        value=event.model_dump_json().encode() if event is not None else b"",
        message_id=str(event.id) if event is not None else f"m{offset}",
        payload=event,
        sequence=sequence,
    )


async def test_tiering_decisions_set_owner_and_tier_in_tiering_order_and_publish_nothing(service, uow, people):
    cid = await _register(service, people())
    uow.repositories.outbox.messages.clear()
    t0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    batch = [
        _from_tiering(_assigned(cid, "S-RM2", t0), 2, offset=1),
        _from_tiering(_assigned(cid, "S-RM3", t0 - timedelta(seconds=1)), 1, offset=2),  # taken before: skipped
        _from_tiering(_assigned("C-unknown", "S-RM9", t0), 1, offset=3),
        _from_tiering(_tiered(cid, "vip"), 3, offset=4),
    ]

    async def consume(repos: ProfileRepositories) -> list[tuple[int, str]]:
        rejected = await tiering_events.apply_tiering_events(service=service, repos=repos, items=batch)
        return [(r.item.offset, r.reason) for r in rejected]

    uow.retry_once = True
    rejected = await uow.run(consume)

    assert rejected == [(3, "customer_id: unknown customer C-unknown")]
    doc = uow.repositories.customers.docs[cid]
    assert (doc["owner"], doc["tier"], doc["tier_since"], doc["tier_policy_version"]) == (
        "S-RM2",
        "vip",
        "2026-11-19",
        1,
    )
    assert doc["tiering_seq"] == 3  # the last of tiering's events applied, saved with them
    assert (doc["version"], doc["event_seq"]) == (1, 1)  # tiering's decisions take neither
    assert uow.repositories.outbox.messages == []
    assert uow.repositories.history.actions(cid) == ["registered", "owner_assigned", "tier_changed"]
    # Data scope follows the owner at once.
    new_owner = Principal("S-RM2", Role.RELATIONSHIP_MANAGER, "BR001")
    assert (await customers.get_customer(service=service, principal=new_owner, customer_id=cid))["owner"] == "S-RM2"
    with pytest.raises(RuleBroken):
        await customers.get_customer(service=service, principal=RM, customer_id=cid)
    # The same decisions again change nothing.
    assert await uow.run(consume) == [(3, "customer_id: unknown customer C-unknown")]
    assert uow.repositories.history.actions(cid) == ["registered", "owner_assigned", "tier_changed"]
    assert uow.repositories.customers.docs[cid] == doc


async def test_each_tiering_decision_reaches_its_own_function_and_other_types_are_passed_over(
    service, uow, people, monkeypatch
):
    cid = await _register(service, people())
    reached: list[tuple[str, str]] = []

    async def owner_assigned(_batch: Any, _item: Any, decision: OwnerAssigned) -> None:
        reached.append(("owner_assigned", decision.new_owner))

    async def tier_changed(_batch: Any, _item: Any, decision: TierChanged) -> None:
        reached.append(("tier_changed", decision.to_tier))

    handlers = {OwnerAssigned: owner_assigned, TierChanged: tier_changed}
    for event_type, function in handlers.items():
        monkeypatch.setitem(
            tiering_events.TIERING_EVENTS.handlers,
            event_type,
            replace(tiering_events.TIERING_EVENTS.handlers[event_type], apply=function),
        )
    lifecycle = CloudEvent.wrap(
        LifecycleChanged(customer_id=cid, to_stage="growing", as_of=date(2026, 11, 20), policy_version=1),
        source="crm/tiering",
        subject=cid,
    )
    assert tiering_events.parse_tiering_event(lifecycle.model_dump_json().encode()) is None  # not the archive's
    batch = [
        _from_tiering(_tiered(cid, "vip"), 1),
        _from_tiering(None, 2),  # a type the archive does not act on, as the parser hands it over
        _from_tiering(lifecycle, 3),  # and one that reached the handlers all the same
        _from_tiering(_assigned(cid, "S-RM2", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)), 4),
    ]

    assert (
        await uow.run(lambda repos: tiering_events.apply_tiering_events(service=service, repos=repos, items=batch))
        == []
    )
    assert reached == [("tier_changed", "vip"), ("owner_assigned", "S-RM2")]
    assert uow.repositories.customers.docs[cid].get("tiering_seq") is None  # the functions saved nothing


async def test_an_older_or_redelivered_tiering_decision_changes_nothing(service, uow, people):
    cid = await _register(service, people())
    t0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    latest = _assigned(cid, "S-RM2", t0)

    async def consume(items: list[Incoming[Any]]) -> list[Any]:
        return await uow.run(
            lambda repos: tiering_events.apply_tiering_events(service=service, repos=repos, items=items)
        )

    assert await consume([_from_tiering(latest, 5), _from_tiering(_tiered(cid, "vip"), 6)]) == []
    doc = uow.repositories.customers.docs[cid]
    history = uow.repositories.history.actions(cid)
    assert (doc["owner"], doc["tier"], doc["tiering_seq"]) == ("S-RM2", "vip", 6)

    # Tiering's earlier decisions delivered late (a dead letter replayed), each newer by its own stamps, and the
    # last one redelivered: by tiering's order they are all behind what the archive holds.
    late = [
        _from_tiering(_assigned(cid, "S-RM3", t0 + timedelta(hours=1)), 4),
        _from_tiering(_tiered(cid, "key", as_of=date(2026, 11, 20)), 3),
        _from_tiering(_tiered(cid, "vip"), 6),
    ]
    assert await consume(late) == []
    assert uow.repositories.customers.docs[cid] == doc
    assert uow.repositories.history.actions(cid) == history


async def test_an_unnumbered_tiering_event_is_applied_as_it_comes_and_leaves_the_numbering_alone(service, uow, people):
    # A hand-made replay carries no ce_sequence: the kit's rule applies it, whatever it decided; the next numbered
    # event is compared with the last numbered one. Repeated, it writes no second history row.
    cid = await _register(service, people())
    t0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    async def consume(items: list[Incoming[Any]]) -> list[Any]:
        return await uow.run(
            lambda repos: tiering_events.apply_tiering_events(service=service, repos=repos, items=items)
        )

    assert await consume([_from_tiering(_assigned(cid, "S-RM2", t0), 4)]) == []
    replay = _from_tiering(_assigned(cid, "S-RM3", t0 - timedelta(days=1)), None)
    assert await consume([replay, replay]) == []
    doc = uow.repositories.customers.docs[cid]
    assert (doc["owner"], doc["tiering_seq"]) == ("S-RM3", 4)
    assert uow.repositories.history.actions(cid) == ["registered", "owner_assigned", "owner_assigned"]
    assert await consume([_from_tiering(_assigned(cid, "S-RM4", t0), 4)]) == []  # tiering's 4 again: applied before
    assert uow.repositories.customers.docs[cid]["owner"] == "S-RM3"


async def test_a_tiering_decision_for_a_merged_record_is_passed_over(service, uow, people):
    cid = await _register(service, people())
    uow.repositories.customers.docs[cid]["status"] = "merged"
    before = copy.deepcopy(uow.repositories.customers.docs[cid])
    items = [_from_tiering(_assigned(cid, "S-RM2", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)), 1)]

    assert (
        await uow.run(lambda repos: tiering_events.apply_tiering_events(service=service, repos=repos, items=items))
        == []
    )
    assert uow.repositories.customers.docs[cid] == before
    assert uow.repositories.history.actions(cid) == ["registered"]


async def test_the_balances_consumer_dead_letters_what_it_cannot_apply_and_names_the_cause(service, uow, people):
    cid = await _register(service, people(core_customer_no="CB300"))
    uow.repositories.outbox.messages.clear()

    def incoming(snapshot: BalanceSnapshot, offset: int) -> Incoming[BalanceSnapshot]:
        return Incoming(
            topic="corebank.balances",
            partition=0,
            offset=offset,
            key=snapshot.core_customer_no,
            value=snapshot.model_dump_json().encode(),
            message_id=f"m{offset}",
            payload=snapshot,
            correlation_id=f"c{offset}",
        )

    parts_wrong = BalanceSnapshot(
        core_customer_no="CB300", as_of=date(2026, 11, 4), aum=Decimal("10"), breakdown={"deposit": Decimal("5")}
    )
    items = [
        incoming(_snapshot("CB300", "2026-11-03", "80.00"), 1),
        incoming(parts_wrong, 2),
        incoming(_snapshot("CB404", "2026-11-03", "1.00"), 3),
    ]

    rejections = await subscribers.balances_handler(service)(None, items)

    assert [(r.item.message_id, r.reason.split(":")[0]) for r in rejections] == [
        ("m2", "breakdown"),
        ("m3", "core_customer_no"),
    ]
    [message] = uow.repositories.outbox.messages
    event = json.loads(message.value)
    assert (event["type"], event["causationid"], event["correlationid"]) == (ASSETS, "m1", "c1")
    assert (message.key, message.key_seq) == (cid, 2)
    assert uow.repositories.customers.docs[cid]["aum"]["as_of"] == "2026-11-03"
    assert uow.commits == 2  # the registration, and the batch as one unit of work
