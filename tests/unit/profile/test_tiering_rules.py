"""Which decision of tiering the archive keeps when events arrive late or twice."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from crm_contracts.envelope import CloudEvent
from crm_contracts.tiering import ChurnRiskCleared, OwnerAssigned, TierChanged
from crm_profile.domain.customer import TierStamp, supersedes
from crm_profile.service.tiering_events import _as_stored, parse_tiering_event

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_a_later_owner_assignment_supersedes_an_earlier_one_only():
    assert supersedes(T0, None)
    assert supersedes(T0 + timedelta(seconds=1), T0)
    assert not supersedes(T0, T0)  # a repeat changes nothing
    assert not supersedes(T0 - timedelta(seconds=1), T0)


def test_a_newer_policy_outranks_a_later_day_under_the_old_one():
    held = TierStamp(2, date(2026, 11, 20), T0)
    assert not supersedes(TierStamp(1, date(2026, 11, 21), T0 + timedelta(hours=1)), held)
    assert supersedes(TierStamp(3, date(2026, 11, 19), T0 - timedelta(hours=1)), held)


def test_under_one_policy_the_later_day_then_the_later_decision_wins():
    held = TierStamp(2, date(2026, 11, 20), T0)
    assert supersedes(TierStamp(2, date(2026, 11, 21), T0 - timedelta(hours=1)), held)
    assert not supersedes(TierStamp(2, date(2026, 11, 19), T0 + timedelta(hours=1)), held)
    assert supersedes(TierStamp(2, date(2026, 11, 20), T0 + timedelta(milliseconds=1)), held)
    assert not supersedes(TierStamp(2, date(2026, 11, 20), T0), held)
    assert supersedes(held, None)


def test_times_compare_as_the_database_keeps_them():
    # MongoDB keeps milliseconds: a repeat of a stored decision must not look newer than itself.
    assert _as_stored(T0.replace(microsecond=123456)) == T0.replace(microsecond=123000)
    assert _as_stored(datetime(2026, 11, 20, 9, 0)) == T0  # no zone given: UTC


def _event(data):
    return CloudEvent.wrap(data, source="crm/tiering", subject=data.customer_id).model_dump_json().encode()


def test_parse_takes_owner_and_tier_events_and_ignores_other_tiering_events():
    owner = parse_tiering_event(
        _event(OwnerAssigned(customer_id="C1", new_owner="S-RM2", reason="manual", assigned_by="S-SUP", assigned_at=T0))
    )
    assert isinstance(owner.data, OwnerAssigned) and owner.data.new_owner == "S-RM2"
    tier = parse_tiering_event(
        _event(
            TierChanged(
                customer_id="C1",
                from_tier=None,
                to_tier="vip",
                reason="first_tier",
                policy_version=1,
                as_of=date(2026, 11, 20),
                basis_amount="600000.00",
            )
        )
    )
    assert isinstance(tier.data, TierChanged) and tier.data.to_tier == "vip"
    assert (
        parse_tiering_event(_event(ChurnRiskCleared(customer_id="C1", as_of=date(2026, 11, 20), resolved=[]))) is None
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1]",
        b'{"data": {}}',
        json.dumps(
            {"type": OwnerAssigned.event_type, "source": "crm/tiering", "subject": "C1", "data": {"customer_id": "C1"}}
        ).encode(),
    ],
)
def test_parse_refuses_what_cannot_be_read_so_it_goes_to_the_dead_letters(raw):
    with pytest.raises(ValueError):  # pydantic's ValidationError is a ValueError
        parse_tiering_event(raw)
