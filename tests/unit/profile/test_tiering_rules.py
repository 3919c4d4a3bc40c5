"""Which of tiering's events the archive reads: owner and tier, nothing else; what cannot be read is refused.
(Which decision it keeps when events arrive late or twice is tiering's order: test_profile_service_layer.py.)"""

import json
from datetime import UTC, date, datetime

import pytest

from crm_contracts.envelope import CloudEvent
from crm_contracts.tiering import ChurnRiskCleared, OwnerAssigned, TierChanged
from crm_profile.service.tiering_events import parse_tiering_event

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


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
