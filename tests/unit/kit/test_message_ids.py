from crm_kit.messaging import _identify


def _message_id(value, key, topic, headers):
    return _identify(value, key, topic, headers)[0]


def test_cloudevents_are_identified_by_their_id():
    assert _message_id(b'{"specversion":"1.0","id":"e-1"}', b"C1", "t", {}) == "e-1"
    assert _message_id(b"{}", b"C1", "t", {"ce_id": "e-2"}) == "e-2"


def test_raw_feed_records_are_identified_by_content_not_offset():
    # A recreated topic starts its offsets again: a new snapshot at an old offset is new, a repeat is not.
    a = _message_id(b'{"aum":"1.00"}', b"CB1", "corebank.balances", {})
    assert a == _message_id(b'{"aum":"1.00"}', b"CB1", "corebank.balances", {})
    assert a != _message_id(b'{"aum":"2.00"}', b"CB1", "corebank.balances", {})
    assert a != _message_id(b'{"aum":"1.00"}', b"CB2", "corebank.balances", {})
