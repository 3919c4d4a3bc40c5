import json

import pytest

from crm_cli.dlt import dead_letter_topic, masked_value, parse_coordinates


def test_coordinates_name_topic_partition_and_offset():
    assert parse_coordinates("t1.corebank.balances.dlt:3:120") == ("t1.corebank.balances.dlt", 3, 120)
    for bad in ("corebank.balances.dlt", "corebank.balances.dlt:3", "x:a:1", ":1:2"):
        with pytest.raises(ValueError):
            parse_coordinates(bad)


def test_a_topic_is_named_with_or_without_prefix_and_suffix():
    assert dead_letter_topic("corebank.balances", "t1.") == "t1.corebank.balances.dlt"
    assert dead_letter_topic("t1.corebank.balances.dlt", "t1.") == "t1.corebank.balances.dlt"


def test_personal_data_in_a_value_is_masked():
    value = {
        "name": "张三丰",
        "id_document": {"type": "resident_id", "number": "110101199003074578"},
        "phones": ["13812345678"],
        "email": "zhang@example.com",
        "address": "北京市东城区景山前街4号",
        "note": "called back on 13987654321",
        "aum": "100.00",
    }
    shown = masked_value(json.dumps(value, ensure_ascii=False).encode())
    for secret in ("张三丰", "110101199003074578", "13812345678", "zhang@", "景山前街", "13987654321"):
        assert secret not in shown
    masked = json.loads(shown)
    assert masked["phones"] == ["138****5678"] and masked["id_document"]["number"] == "110***********4578"
    assert masked["aum"] == "100.00" and masked["id_document"]["type"] == "resident_id"


def test_a_value_that_is_not_json_is_masked_as_text():
    assert masked_value(b"garbage 110101199003074578") == "garbage 110***********4578"
