"""Validation of Chinese identity numbers: resident IDs, mobile numbers, USCCs.

Pure functions with no I/O so they can back Pydantic validators, the demo
data generator and tests alike. Every failure raises ``ValueError`` with an
English message that names the problem, because these messages surface in
API error responses and import reports.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

__all__ = [
    "birthday_from_resident_id",
    "gender_from_resident_id",
    "resident_id_check_digit",
    "uscc_check_char",
    "validate_mobile",
    "validate_resident_id",
    "validate_uscc",
]

# --- Resident ID (GB 11643-1999) -------------------------------------------

_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# Index is the weighted sum mod 11; value is the check character (ISO 7064 MOD 11-2).
_RESIDENT_ID_CHECK_MAP = "10X98765432"
# Explicit ASCII classes: str.isdigit() would also accept e.g. full-width digits.
_RESIDENT_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_DIGITS_17 = re.compile(r"[0-9]{17}")
# Oldest birth year accepted; earlier dates in practice mean a typo.
_MIN_BIRTH_YEAR = 1900


def resident_id_check_digit(first17: str) -> str:
    """Return the check character ("0"-"9" or "X") for the first 17 digits of a resident ID."""
    if not isinstance(first17, str) or not _DIGITS_17.fullmatch(first17):
        raise ValueError("resident ID body must be exactly 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, _RESIDENT_ID_WEIGHTS, strict=True))
    return _RESIDENT_ID_CHECK_MAP[total % 11]


def _parse_birth_date(digits: str) -> date:
    # Digits 7-14 hold YYYYMMDD; date() rejects impossible days such as Feb 30.
    try:
        return date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise ValueError("resident ID birth date (digits 7-14) is not a real date") from None


def validate_resident_id(value: str, *, today: date | None = None) -> str:
    """Validate an 18-character resident ID and return it normalised (trimmed, upper-case X).

    ``today`` is only for tests that need a fixed "now" for the future-birth check.
    """
    if not isinstance(value, str):
        raise ValueError("resident ID must be a string")
    normalised = value.strip().upper()
    if len(normalised) != 18:
        raise ValueError(f"resident ID must be 18 characters long, got {len(normalised)}")
    if not _RESIDENT_ID_SHAPE.fullmatch(normalised):
        raise ValueError("resident ID must be 17 digits followed by a digit or X")

    # First digit of the administrative division code is a macro region (1-8);
    # 0 and 9 are never assigned, so they indicate a typo or a fake number.
    if normalised[0] not in "12345678":
        raise ValueError(f"resident ID region code {normalised[:6]} is not plausible: first digit must be 1-8")

    birth = _parse_birth_date(normalised[6:14])
    if birth.year < _MIN_BIRTH_YEAR:
        raise ValueError(f"resident ID birth date {birth.isoformat()} is before {_MIN_BIRTH_YEAR}")
    if birth > (today or date.today()):
        raise ValueError("resident ID birth date (digits 7-14) is in the future")

    # Checksum last: a wrong region or date is the more useful message to show.
    expected = resident_id_check_digit(normalised[:17])
    if normalised[17] != expected:
        raise ValueError(f"resident ID check digit is wrong: expected {expected}, got {normalised[17]}")
    return normalised


def birthday_from_resident_id(value: str) -> date:
    """Return the birth date encoded in a (validated) resident ID."""
    normalised = validate_resident_id(value)
    return _parse_birth_date(normalised[6:14])


def gender_from_resident_id(value: str) -> Literal["male", "female"]:
    """Return the gender encoded in the 17th digit (odd = male, even = female)."""
    normalised = validate_resident_id(value)
    return "male" if int(normalised[16]) % 2 == 1 else "female"


# --- Mainland mobile numbers -----------------------------------------------

# Users type numbers with spaces or hyphens ("138-1234-5678"); they carry no meaning.
_MOBILE_SEPARATORS = re.compile(r"[\s\-]+")
_MOBILE_SHAPE = re.compile(r"1[3-9][0-9]{9}")


def validate_mobile(value: str) -> str:
    """Validate a mainland mobile number and return its bare 11 digits.

    Accepts an optional "+86"/"86" country prefix and space/hyphen separators.
    """
    if not isinstance(value, str):
        raise ValueError("mobile number must be a string")
    compact = _MOBILE_SEPARATORS.sub("", value)
    if compact.startswith("+86"):
        compact = compact[3:]
    elif compact.startswith("86") and len(compact) == 13:
        # Only strip a bare "86" when 11 digits remain: a mainland mobile never
        # starts with 8, so this cannot eat part of a real number.
        compact = compact[2:]
    if not compact:
        raise ValueError("mobile number is empty")
    if not compact.isascii() or not compact.isdigit():
        raise ValueError("mobile number may contain only digits, spaces, hyphens and a +86 prefix")
    if len(compact) != 11:
        raise ValueError(f"mobile number must have 11 digits, got {len(compact)}")
    if not _MOBILE_SHAPE.fullmatch(compact):
        raise ValueError(f"mobile number must start with 13-19, got {compact[:2]}")
    return compact


# --- Unified social credit code (GB 32100-2015) -----------------------------

# I, O, Z, S and V are excluded to avoid confusion with 1, 0, 2, 5 and U.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {ch: i for i, ch in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    """Return the check character for the first 17 characters of a USCC."""
    if not isinstance(first17, str) or len(first17) != 17:
        raise ValueError("USCC body must be exactly 17 characters")
    first17 = first17.upper()
    bad = sorted({ch for ch in first17 if ch not in _USCC_VALUES})
    if bad:
        raise ValueError(f"USCC contains characters outside its alphabet: {''.join(bad)}")
    total = sum(_USCC_VALUES[ch] * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> str:
    """Validate an 18-character unified social credit code and return it upper-cased."""
    if not isinstance(value, str):
        raise ValueError("USCC must be a string")
    normalised = value.strip().upper()
    if len(normalised) != 18:
        raise ValueError(f"USCC must be 18 characters long, got {len(normalised)}")
    bad = sorted({ch for ch in normalised if ch not in _USCC_VALUES})
    if bad:
        raise ValueError(
            f"USCC contains characters outside its alphabet: {''.join(bad)} (letters I, O, S, V and Z are never used)"
        )
    expected = uscc_check_char(normalised[:17])
    if normalised[17] != expected:
        raise ValueError(f"USCC check character is wrong: expected {expected}, got {normalised[17]}")
    return normalised
