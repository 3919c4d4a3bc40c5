"""Tiering's application functions on the fake unit of work (crm_kit.fakes): the same functions the HTTP routes,
the consumers and the background jobs call, with in-memory repositories (tests/unit/tiering/fakes.py) instead of
MongoDB. What was saved, which events went to the outbox and which audit rows were written; a refused request
leaves everything as it was; a run the database retries gives the same result once."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from tiering_fakes import fake_repositories, fake_service

from crm_contracts.complaints import ComplaintClosed, ComplaintOpened
from crm_contracts.envelope import CloudEvent, EventData
from crm_contracts.profile import AssetsChanged, CustomerRegistered
from crm_kit.auth import Principal, Role
from crm_kit.errors import RuleBroken
from crm_kit.messaging import Incoming
from crm_tiering.adapters.repositories import TieringRepositories
from crm_tiering.domain.policy import DEFAULT_POLICY
from crm_tiering.schemas import StaffUpsert
from crm_tiering.service import complaint_events, customers, engagement_events, policies, profile_events, staff, sweep

D0 = date(2026, 3, 2)
TIER_CHANGED = "crm.tiering.customer.tier-changed.v1"
OWNER_ASSIGNED = "crm.tiering.customer.owner-assigned.v1"
LIFECYCLE_CHANGED = "crm.tiering.customer.lifecycle-changed.v1"
FIRST = [TIER_CHANGED, LIFECYCLE_CHANGED, OWNER_ASSIGNED]
"""A new customer's first balance: their tier, their lifecycle stage (new), their responsible owner."""
CHURN_RAISED = "crm.tiering.customer.churn-risk-raised.v1"
CHURN_CLEARED = "crm.tiering.customer.churn-risk-cleared.v1"
SUPERVISOR = Principal("S-SUP", Role.RM_SUPERVISOR, "BR001")
ADMIN = Principal("S-ADMIN", Role.ADMIN, None)
_offsets = count()


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def incoming(data: EventData, subject: str, *, sequence: int | None = None) -> Incoming[CloudEvent[Any] | None]:
    event = CloudEvent.wrap(data, source="crm/profile", subject=subject)
    offset = next(_offsets)
    return Incoming("crm.profile.customers", 0, offset, subject, b"", f"m-{offset}", event, f"corr-{offset}", sequence)


def registered(customer_id: str, *, owner: str = "S-TELLER", branch: str = "BR001") -> CustomerRegistered:
    return CustomerRegistered(
        customer_id=customer_id,
        kind="individual",
        branch=branch,
        owner=owner,
        registered_at=datetime(2024, 1, 2, 9, tzinfo=UTC),
        registered_by=owner,
        channel="service_process",
    )


def assets(customer_id: str, on: date, aum: str) -> AssetsChanged:
    return AssetsChanged(customer_id=customer_id, core_customer_no=f"C{customer_id}", as_of=on, aum=Decimal(aum))


class World:
    """The service on fake repositories, with the bank's BR001 staff in the directory."""

    def __init__(self) -> None:
        self.service, self.uow = fake_service(fake_repositories())
        directory = self.repos.staff
        directory.put("S-RM1", "BR001", ["relationship_manager"])
        directory.put("S-RM2", "BR001", ["relationship_manager"])
        directory.put("S-RM9", "BR002", ["relationship_manager"])

    @property
    def repos(self) -> TieringRepositories:
        return self.uow.repositories

    @property
    def types(self) -> list[str]:
        return self.repos.outbox.types()

    def customer(self, customer_id: str) -> Any:
        return self.repos.customers.get(customer_id)

    def doc(self, customer_id: str) -> dict[str, Any]:
        return self.repos.customers.docs[customer_id]

    def owned(self) -> dict[str, int]:
        return self.repos.staff.owned()

    def snapshot(self) -> dict[str, Any]:
        """Everything the repositories hold, to compare before and after."""
        return copy.deepcopy({name: vars(part) for name, part in vars(self.repos).items()})

    async def profile(self, *items: Incoming[CloudEvent[Any] | None]) -> None:
        async def work(repos: TieringRepositories) -> None:
            await profile_events.apply_profile_events(service=self.service, repos=repos, items=list(items))

        await self.uow.run(work)

    async def complaints(self, *items: Incoming[CloudEvent[Any] | None]) -> None:
        async def work(repos: TieringRepositories) -> None:
            await complaint_events.apply_complaint_events(service=self.service, repos=repos, items=list(items))

        await self.uow.run(work)

    async def engagement(self, *items: Incoming[CloudEvent[Any] | None]) -> None:
        async def work(repos: TieringRepositories) -> None:
            await engagement_events.apply_engagement_events(service=self.service, repos=repos, items=list(items))

        await self.uow.run(work)

    async def potential_customer(self, customer_id: str = "C1") -> None:
        """A customer registered with a teller, whose balance makes them a potential customer (an RM's)."""
        await self.profile(
            incoming(registered(customer_id), customer_id, sequence=1),
            incoming(assets(customer_id, day(0), "300000.00"), customer_id, sequence=2),
        )


@pytest.fixture
def world() -> World:
    return World()


async def test_a_balance_tiers_the_customer_and_hands_them_to_a_relationship_manager(world: World):
    await world.potential_customer()

    customer = world.customer("C1")
    assert customer.tier == "potential"
    assert customer.owner in {"S-RM1", "S-RM2"}
    assert world.types == FIRST
    assert world.doc("C1")["event_seq"] == 3
    # The new owner's counter moved with the assignment; the teller is not in the directory, so nothing to move.
    assert world.owned()[customer.owner] == 1
    assert await world.repos.clock.business_date() == day(0)
    assert world.uow.commits == 1
    messages = world.repos.outbox.messages
    assert [m.key_seq for m in messages] == [1, 2, 3]
    assert {m.key for m in messages} == {"C1"}


async def test_a_redelivered_batch_changes_nothing(world: World):
    first = [
        incoming(registered("C1"), "C1", sequence=1),
        incoming(assets("C1", day(0), "300000.00"), "C1", sequence=2),
    ]
    await world.profile(*first)
    before = world.snapshot()

    await world.profile(*first)

    assert world.snapshot() == before
    assert world.types == FIRST


async def test_a_retried_batch_has_its_effects_once(world: World):
    other = World()
    await other.potential_customer()

    world.uow.retry_once = True  # the database retries the transaction after the work ran once
    await world.potential_customer()

    assert world.uow.commits == 1
    assert world.types == other.types == FIRST
    assert world.doc("C1")["event_seq"] == other.doc("C1")["event_seq"] == 3
    assert world.customer("C1").owner == other.customer("C1").owner
    assert world.owned() == other.owned()
    assert world.repos.clock.docs == other.repos.clock.docs


async def test_a_supervisor_reassigns_a_customer_with_its_event_and_audit_row(world: World):
    await world.potential_customer()
    previous = world.customer("C1").owner
    new_owner = "S-RM2" if previous == "S-RM1" else "S-RM1"

    result = await staff.reassign(
        service=world.service, principal=SUPERVISOR, customer_id="C1", new_owner=new_owner, reason="moved house"
    )

    assert result == {"customer_id": "C1", "previous_owner": previous, "owner": new_owner}
    assert world.customer("C1").owner == new_owner
    assert world.types[-1] == OWNER_ASSIGNED
    assert world.owned()[previous] == 0
    assert world.owned()[new_owner] == 1
    assert world.repos.audit.rows == [
        {
            "staff_id": "S-SUP",
            "role": "rm_supervisor",
            "action": "owner.reassigned",
            "target": "C1",
            "detail": {"from": previous, "to": new_owner, "reason": "moved house"},
        }
    ]
    assert await world.repos.audit.read(target="C1", staff_id=None, limit=10) == world.repos.audit.rows


async def test_reassigning_to_an_inactive_member_is_refused_and_leaves_everything_as_it_was(world: World):
    await world.potential_customer()
    world.repos.staff.put("S-GONE", "BR001", ["relationship_manager"], active=False)
    before = world.snapshot()

    with pytest.raises(RuleBroken) as refused:
        await staff.reassign(
            service=world.service, principal=SUPERVISOR, customer_id="C1", new_owner="S-GONE", reason="x"
        )

    assert refused.value.kind == "invalid"
    assert "S-GONE is not an active staff member" in str(refused.value)
    assert world.snapshot() == before
    assert world.uow.rollbacks == 1


async def test_reassigning_a_customer_of_another_branch_is_not_found(world: World):
    await world.potential_customer()
    elsewhere = Principal("S-SUP2", Role.RM_SUPERVISOR, "BR002")

    with pytest.raises(RuleBroken) as refused:
        await staff.reassign(
            service=world.service, principal=elsewhere, customer_id="C1", new_owner="S-RM9", reason="x"
        )

    assert refused.value.kind == "not_found"
    assert world.types == FIRST
    assert world.repos.audit.rows == []


async def test_deactivating_an_owner_hands_their_customers_to_a_colleague(world: World):
    await world.potential_customer("C1")
    await world.potential_customer("C2")
    leaver = world.customer("C1").owner
    colleague = "S-RM2" if leaver == "S-RM1" else "S-RM1"
    theirs = [cid for cid in ("C1", "C2") if world.customer(cid).owner == leaver]

    result = await staff.put_staff(
        service=world.service,
        principal=ADMIN,
        staff_id=leaver,
        data=StaffUpsert(name=leaver, branch="BR001", roles=["relationship_manager"], active=False),
    )

    assert result["active"] is False
    assert result["reassigned"] == len(theirs)
    assert result["unassigned"] == 0
    assert result["customers"] == 0
    assert all(world.customer(cid).owner == colleague for cid in ("C1", "C2"))
    assert world.owned()[colleague] == 2
    assert [row["action"] for row in world.repos.audit.rows] == ["staff.changed"]
    assert world.types.count(OWNER_ASSIGNED) == 2 + len(theirs)
    assert world.types[-len(theirs) :] == [OWNER_ASSIGNED] * len(theirs)


async def test_a_branch_manager_may_not_change_another_branchs_staff(world: World):
    before = world.snapshot()
    manager = Principal("S-BM2", Role.BRANCH_MANAGER, "BR002")

    with pytest.raises(RuleBroken) as refused:
        await staff.put_staff(
            service=world.service,
            principal=manager,
            staff_id="S-RM1",
            data=StaffUpsert(name="S-RM1", branch="BR001", roles=["relationship_manager"], active=False),
        )

    assert refused.value.kind == "forbidden"
    assert world.snapshot() == before


async def test_a_new_policy_is_rolled_out_to_every_customer(world: World):
    await world.potential_customer("C1")
    stricter = DEFAULT_POLICY.model_copy(
        update={
            "tiers": [
                rule.model_copy(update={"lower_bound": Decimal("400000.00")}) if rule.name == "potential" else rule
                for rule in DEFAULT_POLICY.tiers
            ]
        }
    )

    started = await policies.publish_new(
        service=world.service, policy=stricter, by="S-HO", role="head_office", note="n"
    )

    assert started["policy_version"] == 2
    assert started["status"] == "running"
    assert started["total"] == 1
    assert [row["action"] for row in world.repos.audit.rows] == ["policy.published"]
    while await policies.rollout_step(world.service):
        pass
    rollout = await policies.rollout(service=world.service, rollout_id=started["id"])
    assert rollout["status"] == "done"
    assert rollout["done"] == 1
    customer = world.customer("C1")
    assert customer.policy_version == 2
    assert customer.tier == "ordinary"  # 300,000 is below the new potential bound
    assert rollout["changed"] == 1
    # Ordinary customers are the low counter's: nobody of it is in the directory, so the customer waits for one.
    assert customer.awaiting_owner
    assert world.types == [*FIRST, TIER_CHANGED]


async def test_a_complaint_raises_the_churn_warning_and_its_closing_clears_it(world: World):
    await world.potential_customer()
    opened_at = datetime(2026, 3, 3, 10, tzinfo=UTC)

    await world.complaints(incoming(ComplaintOpened(complaint_id="K1", customer_id="C1", opened_at=opened_at), "C1"))
    assert world.customer("C1").open_complaints == ["K1"]
    assert world.types[-1] == CHURN_RAISED

    await world.complaints(
        incoming(ComplaintClosed(complaint_id="K1", customer_id="C1", closed_at=opened_at + timedelta(days=2)), "C1")
    )
    assert world.customer("C1").open_complaints == []
    assert world.types[-1] == CHURN_CLEARED
    assert world.doc("C1")["event_seq"] == len(world.types)


async def test_the_sweep_downgrades_when_the_grace_period_ends(world: World):
    await world.potential_customer()
    await world.profile(incoming(assets("C1", day(1), "100000.00"), "C1", sequence=3))
    assert world.customer("C1").tier == "potential"  # below the bound: the downgrade waits for its grace period
    grace = DEFAULT_POLICY.downgrade_grace_days

    async def business_day(on: date) -> None:
        async def work(repos: TieringRepositories) -> None:
            await repos.clock.advance("another-process", on.isoformat())

        await world.uow.run(work)

    await business_day(day(1 + grace + 1))
    while await sweep.sweep_step(world.service):
        pass

    assert world.customer("C1").tier == "ordinary"
    # The drop itself was a churn reason at once; the downgrade came with the sweep, nobody to own it yet.
    assert world.types == [*FIRST, CHURN_RAISED, TIER_CHANGED]
    assert world.customer("C1").awaiting_owner
    assert await world.repos.clock.swept_through() == day(1 + grace).isoformat()
    assert not await sweep.sweep_step(world.service)  # the day is done


async def test_reads_keep_to_the_readers_scope(world: World):
    await world.potential_customer("C1")
    await world.potential_customer("C2")
    owner = world.customer("C1").owner
    rm = Principal(owner, Role.RELATIONSHIP_MANAGER, "BR001")

    page = await customers.list_customers(
        service=world.service,
        principal=rm,
        tier=None,
        owner=None,
        branch=None,
        churn_risk=None,
        stage=None,
        after=None,
        limit=10,
    )
    mine = sorted(cid for cid in ("C1", "C2") if world.customer(cid).owner == owner)
    assert [item["customer_id"] for item in page["items"]] == mine
    assert page["next_after"] is None

    tier = await customers.tier(service=world.service, principal=rm, customer_id="C1")
    assert tier["tier"] == "potential"
    assert tier["history"][0]["to_tier"] == "potential"

    elsewhere = Principal("S-RM9", Role.RELATIONSHIP_MANAGER, "BR002")
    with pytest.raises(RuleBroken) as refused:
        await customers.tier(service=world.service, principal=elsewhere, customer_id="C1")
    assert refused.value.kind == "not_found"

    report = await customers.tier_distribution(service=world.service, principal=SUPERVISOR)
    assert report["total"]["potential"] == {"customers": 2, "aum": Decimal("600000.00")}
