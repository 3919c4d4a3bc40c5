from crm_kit import dead_letters
from crm_kit.messaging import _identify


def test_a_replay_is_identified_by_its_letter_not_by_the_original_message():
    headers = {"ce_id": "e-1", dead_letters.REPLAY_ID: dead_letters.replay_id("t.dlt", 1, 42)}
    assert _identify(b'{"specversion":"1.0","id":"e-1"}', b"C1", "t", headers)[0] == "replay:t.dlt/1/42"
    # Without the mark it is the original message again, which the inbox remembers.
    assert _identify(b'{"specversion":"1.0","id":"e-1"}', b"C1", "t", {"ce_id": "e-1"})[0] == "e-1"


def test_only_the_group_that_rejected_a_message_applies_its_replay():
    headers = {dead_letters.REPLAY_GROUP: "crm-profile.balances"}
    assert not dead_letters.for_another_group(headers, "crm-profile.balances")
    assert dead_letters.for_another_group(headers, "crm-tiering.profile")
    assert not dead_letters.for_another_group({"ce_id": "e-1"}, "crm-tiering.profile")


def test_a_letter_keeps_the_messages_own_headers_only():
    headers = {"ce_id": "e-1", "ce_sequence": "4", dead_letters.ERROR: "boom", dead_letters.REPLAY_ID: "replay:x/0/1"}
    assert dead_letters.original_headers(headers) == {"ce_id": "e-1", "ce_sequence": "4"}
