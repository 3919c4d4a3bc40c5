"""Tiering's three consumers in the kit's shape (crm_kit.event_handlers), on the fake unit of work: each event type
reaches its function, an older or redelivered event of an ordered type (the profile's, complaints') changes
nothing, and the types tiering does not handle are passed over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from test_tiering_service_layer import CHURN_CLEARED, CHURN_RAISED, FIRST, World, assets, day, incoming, registered

from crm_contracts.complaints import ComplaintClosed, ComplaintOpened, ComplaintStatusChanged
from crm_contracts.engagement import PointsChanged, SurveyAnswered
from crm_contracts.profile import ConsentChanged, CustomerMerged, CustomerUpdated
from crm_tiering.service.complaint_events import COMPLAINT_EVENTS
from crm_tiering.service.engagement_events import ENGAGEMENT_EVENTS
from crm_tiering.service.profile_events import PROFILE_EVENTS

AT = datetime(2026, 3, 3, 10, tzinfo=UTC)


@pytest.fixture
def world() -> World:
    return World()


def updated(customer_id: str, *, income_band: str = "1m_plus") -> CustomerUpdated:
    return CustomerUpdated.model_validate(
        {
            "customer_id": customer_id,
            "version": 2,
            "changed_fields": ["income"],
            "channel": "service_process",
            "changed_by": "S-TELLER",
            "changed_at": AT,
            "income_band": income_band,
        }
    )


def consent(customer_id: str) -> ConsentChanged:
    return ConsentChanged.model_validate(
        {
            "customer_id": customer_id,
            "channel": "sms",
            "granted": False,
            "changed_at": AT,
            "source": "service_process",
            "changed_by": "S-TELLER",
        }
    )


def opened(complaint_id: str = "K1", customer_id: str = "C1") -> ComplaintOpened:
    return ComplaintOpened(complaint_id=complaint_id, customer_id=customer_id, opened_at=AT)


def closed(complaint_id: str = "K1", customer_id: str = "C1") -> ComplaintClosed:
    return ComplaintClosed(complaint_id=complaint_id, customer_id=customer_id, closed_at=AT + timedelta(days=2))


def answered(customer_id: str = "C1", *, csat: int = 1) -> SurveyAnswered:
    return SurveyAnswered(
        survey_id="SV1", customer_id=customer_id, trigger="interaction_sample", csat=csat, answered_at=AT
    )


def test_each_consumer_declares_its_types_and_which_are_ordered():
    assert {kind: h.ordered for kind, h in PROFILE_EVENTS.handlers.items()} == {
        type(registered("C1")): True,
        CustomerUpdated: True,
        type(assets("C1", day(0), "1.00")): True,
        CustomerMerged: True,
    }
    assert {kind: h.ordered for kind, h in COMPLAINT_EVENTS.handlers.items()} == {
        ComplaintOpened: True,
        ComplaintClosed: True,
    }
    # Engagement's events are not numbered yet: nothing to order them by.
    assert {kind: h.ordered for kind, h in ENGAGEMENT_EVENTS.handlers.items()} == {SurveyAnswered: False}


# -- the profile's events ------------------------------------------------------------------------------------------


async def test_each_profile_event_type_reaches_its_function(world: World):
    await world.profile(
        incoming(registered("C1"), "C1", sequence=1),
        incoming(updated("C1", income_band="1m_plus"), "C1", sequence=2),
        incoming(assets("C1", day(0), "300000.00"), "C1", sequence=3),
        incoming(registered("C2"), "C2", sequence=1),
        incoming(CustomerMerged(survivor_id="C1", merged_id="C2", merged_by="S-OPS", merged_at=AT), "C2", sequence=2),
    )

    first, second = world.customer("C1"), world.customer("C2")
    assert first.branch == "BR001"  # registered
    assert first.income_band == "1m_plus"  # updated
    assert first.tier == "potential"  # its balance
    assert second.merged_into == "C1"  # merged
    assert (first.profile_seq, second.profile_seq) == (3, 2)
    assert world.types == FIRST


async def test_an_older_or_redelivered_profile_event_changes_nothing(world: World):
    await world.potential_customer()  # registration 1, balance 2
    before = world.snapshot()

    await world.profile(
        incoming(assets("C1", day(1), "5000000.00"), "C1", sequence=2),  # the number of the balance applied
        incoming(updated("C1", income_band="under_100k"), "C1", sequence=1),  # older than what was applied
    )

    assert world.snapshot() == before


async def test_a_balance_that_overtook_its_registration_in_one_batch_takes_no_number_before_it(world: World):
    # The registration (1) was replayed late and arrives after its balance (2): both count, in the profile's order.
    await world.profile(
        incoming(assets("C1", day(0), "300000.00"), "C1", sequence=2),
        incoming(registered("C1"), "C1", sequence=1),
    )

    customer = world.customer("C1")
    assert customer.registered
    assert customer.tier == "potential"
    assert customer.profile_seq == 2
    assert world.types == FIRST
    before = world.snapshot()
    await world.profile(incoming(assets("C1", day(0), "300000.00"), "C1", sequence=2))  # the balance again
    assert world.snapshot() == before


async def test_an_update_for_an_unknown_customer_does_not_hold_back_its_registration(world: World):
    await world.profile(
        incoming(updated("C1", income_band="1m_plus"), "C1", sequence=3),  # nothing kept: C1 is not known
        incoming(registered("C1"), "C1", sequence=1),
        incoming(assets("C1", day(0), "300000.00"), "C1", sequence=2),
    )

    customer = world.customer("C1")
    assert customer.tier == "potential"
    assert customer.income_band is None
    assert customer.profile_seq == 2
    assert world.types == FIRST


async def test_profile_types_tiering_does_not_handle_are_passed_over(world: World):
    await world.potential_customer()
    before = world.snapshot()

    await world.profile(incoming(consent("C1"), "C1", sequence=9))

    assert world.snapshot() == before
    # Its number was not taken: the next event is applied.
    await world.profile(incoming(updated("C1", income_band="1m_plus"), "C1", sequence=3))
    assert world.customer("C1").income_band == "1m_plus"


# -- complaints' events --------------------------------------------------------------------------------------------


async def test_each_complaint_event_type_reaches_its_function_and_its_number_is_kept(world: World):
    await world.potential_customer()

    await world.complaints(incoming(opened("K1"), "C1", sequence=1), incoming(opened("K2"), "C1", sequence=2))
    assert world.customer("C1").open_complaints == ["K1", "K2"]
    assert world.types[-1] == CHURN_RAISED

    await world.complaints(incoming(closed("K1"), "C1", sequence=3), incoming(closed("K2"), "C1", sequence=4))
    assert world.customer("C1").open_complaints == []
    assert world.types[-1] == CHURN_CLEARED
    assert world.doc("C1")["complaints_seq"] == 4


async def test_an_opening_replayed_late_from_the_dead_letters_does_not_bring_the_warning_back(world: World):
    await world.potential_customer()
    # The opening (1) went to the dead letters; the closing (2) was applied: no complaint is open.
    await world.complaints(incoming(closed("K1"), "C1", sequence=2))
    assert world.customer("C1").open_complaints == []
    before = world.snapshot()

    await world.complaints(incoming(opened("K1"), "C1", sequence=1))  # replayed

    assert world.snapshot() == before
    assert CHURN_RAISED not in world.types


async def test_a_redelivered_complaint_event_changes_nothing(world: World):
    await world.potential_customer()
    await world.complaints(incoming(opened("K1"), "C1", sequence=1), incoming(closed("K1"), "C1", sequence=2))
    before = world.snapshot()

    await world.complaints(incoming(opened("K1"), "C1", sequence=1), incoming(closed("K1"), "C1", sequence=2))

    assert world.snapshot() == before


async def test_complaint_types_tiering_does_not_handle_are_passed_over(world: World):
    await world.potential_customer()
    before = world.snapshot()
    status = ComplaintStatusChanged(complaint_id="K1", customer_id="C1", to_state="assigned", by="S-CC", at=AT)

    await world.complaints(incoming(status, "C1", sequence=5))

    assert world.snapshot() == before
    await world.complaints(incoming(opened("K1"), "C1", sequence=1))  # its number was not taken
    assert world.customer("C1").open_complaints == ["K1"]


# -- engagement's events -------------------------------------------------------------------------------------------


async def test_a_survey_answer_reaches_its_function(world: World):
    await world.potential_customer()

    await world.engagement(incoming(answered("C1", csat=1), "C1"))

    assert world.customer("C1").satisfaction is not None
    assert world.types[-1] == CHURN_RAISED


async def test_engagement_types_tiering_does_not_handle_are_passed_over(world: World):
    await world.potential_customer()
    before = world.snapshot()
    points = PointsChanged(customer_id="C1", entry_id="P1", change=10, balance=10, reason="survey", at=AT)

    await world.engagement(incoming(points, "C1"))

    assert world.snapshot() == before
