"""Unit tests for crm_profile.domain.identity."""

from datetime import date, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crm_profile.domain.identity import (
    birthday_from_resident_id,
    gender_from_resident_id,
    resident_id_check_digit,
    uscc_check_char,
    validate_mobile,
    validate_resident_id,
    validate_uscc,
)

# Independent reference implementations, written straight from the standards,
# so the tests do not merely compare the module with itself.
_RID_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]  # ISO 7064 MOD 11-2 weights
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = [3**i % 31 for i in range(17)]  # GB 32100: 3^(i) mod 31


def _ref_rid_check(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _RID_WEIGHTS, strict=True))
    # Check value c satisfies (total + c) % 11 == 1, with 10 written as X.
    c = (12 - total % 11) % 11
    return "X" if c == 10 else str(c)


def _ref_uscc_check(first17: str) -> str:
    total = sum(_USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def test_reference_weights_match_the_standard_tables():
    assert _RID_WEIGHTS == [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    assert _USCC_WEIGHTS == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


# --- resident ID -------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "11010519491231002X",  # the sample printed in GB 11643-1999
        "110101199003074514",
        "440305198001010013",
    ],
)
def test_known_good_resident_ids_validate(value):
    assert _ref_rid_check(value[:17]) == value[17]
    assert validate_resident_id(value) == value


def test_lowercase_x_is_accepted_and_normalised():
    assert validate_resident_id("11010519491231002x") == "11010519491231002X"


def test_surrounding_whitespace_is_trimmed():
    assert validate_resident_id("  110101199003074514 ") == "110101199003074514"


def test_wrong_check_digit_names_expected_and_actual():
    with pytest.raises(ValueError, match="check digit is wrong: expected 3, got 4"):
        validate_resident_id("110101199003071234")


@pytest.mark.parametrize(
    "value, message",
    [
        ("", "18 characters long, got 0"),
        ("11010519491231002", "18 characters long, got 17"),
        ("11010519491231002X1", "18 characters long, got 19"),
        ("1101051949123100XX", "17 digits followed by a digit or X"),
        ("11010519491231002Y", "17 digits followed by a digit or X"),
        ("AB0105194912310021", "17 digits followed by a digit or X"),
        ("１１0105194912310021", "17 digits followed by a digit or X"),  # noqa: RUF001 - full-width digits, on purpose
        ("010105199003071234", "region code 010105 is not plausible"),
        ("910105199003071234", "region code 910105 is not plausible"),
        ("110105199002301234", "birth date .digits 7-14. is not a real date"),
        ("110105199013011234", "birth date .digits 7-14. is not a real date"),
        ("110105189912311234", "before 1900"),
    ],
)
def test_malformed_resident_ids_are_rejected_with_reason(value, message):
    with pytest.raises(ValueError, match=message):
        validate_resident_id(value)


def test_non_string_resident_id_is_rejected():
    with pytest.raises(ValueError, match="must be a string"):
        validate_resident_id(110101199003074514)  # type: ignore[arg-type]


def test_future_birth_date_is_rejected():
    tomorrow = date.today() + timedelta(days=1)
    first17 = f"110105{tomorrow:%Y%m%d}001"
    value = first17 + _ref_rid_check(first17)
    with pytest.raises(ValueError, match="in the future"):
        validate_resident_id(value)


def test_today_parameter_pins_the_future_check():
    value = "110101199003074514"  # born 1990-03-07
    assert validate_resident_id(value, today=date(1990, 3, 7)) == value
    with pytest.raises(ValueError, match="in the future"):
        validate_resident_id(value, today=date(1990, 3, 6))


def test_birth_date_1900_01_01_is_the_lower_bound():
    first17 = "11010519000101001"
    value = first17 + _ref_rid_check(first17)
    assert validate_resident_id(value) == value


def test_birthday_and_gender_are_decoded():
    assert birthday_from_resident_id("11010519491231002X") == date(1949, 12, 31)
    assert gender_from_resident_id("11010519491231002X") == "female"  # 17th digit 2
    assert birthday_from_resident_id("110101199003074514") == date(1990, 3, 7)
    assert gender_from_resident_id("110101199003074514") == "male"  # 17th digit 1


def test_decoders_reject_invalid_ids():
    with pytest.raises(ValueError):
        birthday_from_resident_id("110101199003071234")
    with pytest.raises(ValueError):
        gender_from_resident_id("110101199003071234")


def test_check_digit_function():
    assert resident_id_check_digit("11010519491231002") == "X"
    assert resident_id_check_digit("11010119900307451") == "4"
    with pytest.raises(ValueError):
        resident_id_check_digit("1101051949123100")
    with pytest.raises(ValueError):
        resident_id_check_digit("1101051949123100A")


_first17 = st.builds(
    lambda first, region, birth, seq: f"{first}{region:05d}{birth:%Y%m%d}{seq:03d}",
    st.integers(1, 8),
    st.integers(0, 99_999),
    st.dates(min_value=date(1900, 1, 1), max_value=date.today()),
    st.integers(0, 999),
)


@settings(database=None)
@given(_first17)
def test_property_computed_check_digit_always_validates(first17):
    check = resident_id_check_digit(first17)
    assert check == _ref_rid_check(first17)
    assert validate_resident_id(first17 + check) == first17 + check
    assert birthday_from_resident_id(first17 + check) == date(
        int(first17[6:10]), int(first17[10:12]), int(first17[12:14])
    )


@settings(database=None)
@given(_first17, st.sampled_from("0123456789X"))
def test_property_any_other_check_digit_fails(first17, wrong):
    assume(wrong != resident_id_check_digit(first17))
    with pytest.raises(ValueError, match="check digit is wrong"):
        validate_resident_id(first17 + wrong)


# --- mobile ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "13812345678",
        "+8613812345678",
        "+86 138 1234 5678",
        "8613812345678",
        "86-138-1234-5678",
        "138-1234-5678",
        " 13812345678 ",
    ],
)
def test_valid_mobiles_are_normalised_to_11_digits(value):
    assert validate_mobile(value) == "13812345678"


@pytest.mark.parametrize("prefix", ["13", "14", "15", "16", "17", "18", "19"])
def test_all_mobile_prefixes_13_to_19_accepted(prefix):
    number = prefix + "912345678"
    assert validate_mobile(number) == number


@pytest.mark.parametrize(
    "value, message",
    [
        ("", "empty"),
        ("1381234567", "11 digits, got 10"),
        ("138123456789", "11 digits, got 12"),
        ("12812345678", "start with 13-19, got 12"),
        ("23812345678", "start with 13-19, got 23"),
        ("1381234567a", "only digits"),
        ("(138)12345678", "only digits"),
        ("+85213812345678", "only digits"),
        ("8613812345678901", "11 digits, got 16"),
        ("１３８１２３４５６７８", "only digits"),  # noqa: RUF001 - full-width digits, on purpose
    ],
)
def test_invalid_mobiles_are_rejected_with_reason(value, message):
    with pytest.raises(ValueError, match=message):
        validate_mobile(value)


# --- USCC --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "91350100M000100Y43",  # sample from GB 32100-2015
        "91110000600037341L",
        "91440300708461136T",
    ],
)
def test_known_good_usccs_validate(value):
    assert _ref_uscc_check(value[:17]) == value[17]
    assert validate_uscc(value) == value
    assert uscc_check_char(value[:17]) == value[17]


def test_uscc_is_upper_cased():
    assert validate_uscc("91350100m000100y43") == "91350100M000100Y43"


def test_uscc_wrong_check_char_names_expected_and_actual():
    with pytest.raises(ValueError, match="check character is wrong: expected 3, got 4"):
        validate_uscc("91350100M000100Y44")


@pytest.mark.parametrize(
    "value, message",
    [
        ("91350100M000100Y4", "18 characters long, got 17"),
        ("91350100M000100Y433", "18 characters long, got 19"),
        ("91350100I000100Y43", "outside its alphabet: I"),
        ("91350100O000100Y43", "outside its alphabet: O"),
        ("91350100S000100Z43", "outside its alphabet: SZ"),
        ("91350100V000100Y43", "outside its alphabet: V"),
        ("91350100-000100Y43", "outside its alphabet: -"),
    ],
)
def test_malformed_usccs_are_rejected_with_reason(value, message):
    with pytest.raises(ValueError, match=message):
        validate_uscc(value)


@settings(database=None)
@given(st.text(alphabet=_USCC_ALPHABET, min_size=17, max_size=17))
def test_property_uscc_check_char_matches_reference(first17):
    check = uscc_check_char(first17)
    assert check == _ref_uscc_check(first17)
    assert validate_uscc(first17 + check) == first17 + check
    for wrong in _USCC_ALPHABET.replace(check, "")[:3]:
        with pytest.raises(ValueError, match="check character is wrong"):
            validate_uscc(first17 + wrong)
