"""Unit tests for crm_kit.masking."""

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_kit.masking import (
    mask_address,
    mask_birthday,
    mask_email,
    mask_id_number,
    mask_name,
    mask_phone,
    redact_text,
)


def test_mask_phone():
    assert mask_phone("13812345678") == "138****5678"


@pytest.mark.parametrize("value", ["", "1", "1234567"])
def test_mask_phone_too_short_is_all_stars(value):
    assert mask_phone(value) == "*" * len(value)


def test_mask_id_number_resident_id():
    assert mask_id_number("110101199003071234") == "110***********1234"
    assert mask_id_number("11010519491231002X") == "110***********002X"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("12345678", "123*5678"),
        ("123456789", "123**6789"),
        ("91350100M000100Y43", "913***********0Y43"),
        ("1234567", "*******"),
        ("E12", "***"),
        ("", ""),
    ],
)
def test_mask_id_number_any_length(value, expected):
    assert mask_id_number(value) == expected


@settings(database=None)
@given(st.text(alphabet="0123456789ABCDEFX", min_size=0, max_size=40))
def test_mask_id_number_keeps_length_and_hides_the_middle(value):
    masked = mask_id_number(value)
    assert len(masked) == len(value)
    if len(value) >= 8:
        assert masked[:3] == value[:3]
        assert masked[-4:] == value[-4:]
        assert set(masked[3:-4]) == {"*"}
    else:
        assert set(masked) <= {"*"}


@pytest.mark.parametrize(
    "value, expected",
    [
        ("zhangsan@example.com", "z*******@example.com"),
        ("a@example.com", "*@example.com"),
        ("@example.com", "*@example.com"),
        ("ab@x.cn", "a*@x.cn"),
        ("first.last@sub.bank.cn", "f*********@sub.bank.cn"),
        ("not-an-email", "************"),
        ("", ""),
    ],
)
def test_mask_email(value, expected):
    assert mask_email(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("北京市朝阳区建国路88号", "北京市朝阳区****"),
        ("上海市浦东新区世纪大道100号", "上海市浦东新****"),
        ("1234567", "123456****"),
        ("北京市朝阳", "北京****"),  # too short: keep at most half
        ("", ""),
    ],
)
def test_mask_address(value, expected):
    assert mask_address(value) == expected


@pytest.mark.parametrize("value", [date(1990, 3, 7), "1990-03-07", None])
def test_mask_birthday_hides_everything(value):
    assert mask_birthday(value) == "****-**-**"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("张三丰", "张**"),
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("John", "J***"),
        ("John Smith", "J*********"),
        ("张", "*"),
        ("", ""),
    ],
)
def test_mask_name(value, expected):
    assert mask_name(value) == expected


# --- redact_text ---------------------------------------------------------------


def test_redact_text_masks_resident_id_and_mobile():
    text = "customer 110101199003071234 called from 13812345678 today"
    assert redact_text(text) == "customer 110***********1234 called from 138****5678 today"


def test_redact_text_masks_id_ending_in_x_either_case():
    assert redact_text("id=11010519491231002X;") == "id=110***********002X;"
    assert redact_text("id=11010519491231002x;") == "id=110***********002x;"


def test_redact_text_masks_values_glued_to_chinese_text():
    assert redact_text("客户手机13812345678已验证") == "客户手机138****5678已验证"
    assert redact_text("身份证号110101199003071234。") == "身份证号110***********1234。"


def test_redact_text_masks_mobile_with_country_prefix():
    assert redact_text("tel +86 13812345678") == "tel +86 138****5678"
    assert redact_text("tel +8613812345678") == "tel +86138****5678"
    assert redact_text("tel 008613812345678") == "tel 0086138****5678"
    assert redact_text("tel 8613812345678") == "tel 86138****5678"


def test_redact_text_leaves_longer_digit_runs_alone():
    card = "6222021234567890123456"  # 22 digits: neither an ID nor a mobile
    order = "213812345678"  # 12 digits containing a mobile-like run
    assert redact_text(f"card {card} order {order}") == f"card {card} order {order}"
    # 19 digits: an ID-like prefix inside a longer run is not an ID.
    assert redact_text("1101011990030712345") == "1101011990030712345"


def test_redact_text_leaves_non_mobile_11_digit_numbers_alone():
    assert redact_text("ref 12812345678 and 10012345678") == "ref 12812345678 and 10012345678"


def test_redact_text_masks_multiple_occurrences():
    text = "13812345678,13912345678 110101199003071234/11010519491231002X"
    assert redact_text(text) == "138****5678,139****5678 110***********1234/110***********002X"


@pytest.mark.parametrize("value", ["", "plain text with no numbers", "amount 12345.67"])
def test_redact_text_is_identity_without_sensitive_values(value):
    assert redact_text(value) == value


@settings(database=None)
@given(
    st.text(alphabet="abc ,;:-", max_size=10),
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.text(alphabet="abc ,;:-", max_size=10),
)
def test_redact_text_never_leaks_a_mobile(before, mobile, after):
    redacted = redact_text(before + mobile + after)
    assert mobile not in redacted
    assert mobile[:3] + "****" + mobile[-4:] in redacted
