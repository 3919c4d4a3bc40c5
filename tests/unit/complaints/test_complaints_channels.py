"""The intake channels are a closed, documented vocabulary: every value has its meaning, and the API documents it."""

from typing import get_args

import pytest
from pydantic import ValidationError

from crm_complaints.schemas import ComplaintCreate
from crm_contracts.complaints import COMPLAINT_CHANNELS, ComplaintChannel


def test_every_channel_is_documented():
    assert list(COMPLAINT_CHANNELS) == list(get_args(ComplaintChannel))
    assert {"letter", "counter", "regulator_forwarded"} <= set(COMPLAINT_CHANNELS)
    described = ComplaintCreate.model_json_schema()["properties"]["channel"]
    assert set(described["enum"]) == set(COMPLAINT_CHANNELS)
    assert "信函" in described["description"] and "`counter`" in described["description"]


@pytest.mark.parametrize("channel", sorted(COMPLAINT_CHANNELS))
def test_each_channel_is_taken_in(channel):
    assert (
        ComplaintCreate.model_validate(
            {"customer_id": "C1", "channel": channel, "category": "fees", "description": "x"}
        ).channel
        == channel
    )


def test_an_unknown_channel_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as caught:
        ComplaintCreate.model_validate({"customer_id": "C1", "channel": "fax", "category": "fees", "description": "x"})
    [error] = caught.value.errors()
    assert error["loc"] == ("channel",) and "letter" in error["msg"]
