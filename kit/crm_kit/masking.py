"""Masking of personal data for display and logging.

Every function is total: it never raises on odd input (empty, short,
malformed) because a masking failure must not break a page or a log call,
and it never returns more of the input than its rule allows.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = [
    "mask_address",
    "mask_birthday",
    "mask_email",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "redact_text",
]

_STAR = "*"


def _keep_ends(value: str, head: int, tail: int) -> str:
    # Values too short to hide anything after keeping head+tail (plus at
    # least one hidden char) are masked completely rather than leaked.
    if len(value) < head + tail + 1:
        return _STAR * len(value)
    return value[:head] + _STAR * (len(value) - head - tail) + value[-tail:]


def mask_phone(phone: str) -> str:
    """Mask a phone number keeping the first 3 and last 4 characters: "138****5678"."""
    return _keep_ends((phone or "").strip(), 3, 4)


def mask_id_number(number: str) -> str:
    """Mask an ID number keeping the first 3 and last 4 characters; under 8 chars → all stars."""
    return _keep_ends((number or "").strip(), 3, 4)


def mask_email(email: str) -> str:
    """Mask the local part of an e-mail except its first character: "z*******@example.com"."""
    value = (email or "").strip()
    local, at, domain = value.rpartition("@")
    if not at:
        # Not an e-mail address; we cannot tell which part is safe, so hide all.
        return _STAR * len(value)
    if len(local) <= 1:
        # Keeping the first character of a one-letter local part would show it all.
        return _STAR * max(len(local), 1) + "@" + domain
    return local[0] + _STAR * (len(local) - 1) + "@" + domain


def mask_address(address: str) -> str:
    """Keep the first 6 characters (province/city/district) and replace the rest with "****"."""
    value = (address or "").strip()
    if not value:
        return ""
    # For very short addresses keeping 6 chars would reveal everything, so keep
    # at most half; the fixed "****" also hides the real length.
    keep = 6 if len(value) > 6 else len(value) // 2
    return value[:keep] + "****"


def mask_birthday(_birthday: date | str | None = None) -> str:
    """Return "****-**-**": the birthday is hidden completely, whatever the input."""
    # Year alone narrows a customer down a lot when combined with branch and
    # name, so nothing of the date is kept.
    return "****-**-**"


def mask_name(name: str) -> str:
    """Keep the first character of a name and star the rest: "张三丰" → "张**", "John" → "J***"."""
    value = (name or "").strip()
    if len(value) <= 1:
        # A single character is the whole name; keeping it would reveal it.
        return _STAR * len(value)
    return value[0] + _STAR * (len(value) - 1)


# Lookarounds use ASCII [0-9] (not \d) and reject neighbouring digits so that
# long numbers such as account or order numbers are not partially masked.
_RESIDENT_ID_TOKEN = r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])"
# A mobile may carry a +86/0086/86 country prefix; masking it as a mobile is safer
# than letting the 13-digit run through untouched.
_MOBILE_TOKEN = r"(?<![0-9])(?P<cc>(?:\+|00)?86[ -]?)?(?P<mobile>1[3-9][0-9]{9})(?![0-9])"
_SENSITIVE = re.compile(f"(?P<rid>{_RESIDENT_ID_TOKEN})|{_MOBILE_TOKEN}")


def _redact_match(match: re.Match[str]) -> str:
    if match.group("rid"):
        return mask_id_number(match.group("rid"))
    return (match.group("cc") or "") + mask_phone(match.group("mobile"))


def redact_text(text: str) -> str:
    """Mask every resident-ID-like token and mainland mobile number inside free text."""
    if not text:
        return text
    # One combined pattern so an already-masked ID can never be re-scanned as a phone.
    return _SENSITIVE.sub(_redact_match, text)
