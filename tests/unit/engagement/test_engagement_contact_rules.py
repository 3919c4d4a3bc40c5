"""crm_engagement.domain.contact: consent, opt-out, quiet hours, public holidays, caps, do-not-contact."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_engagement.domain.contact import CONSENT_CHANNEL, Blocked, check, in_quiet_hours, window_start
from crm_engagement.domain.policy import ContactRules

RULES = ContactRules()
# 2026-06-10 is a Wednesday; 10:00 in Shanghai (UTC+8) is 02:00 UTC: outside quiet hours.
NOON_LOCAL = datetime(2026, 6, 10, 4, 0, tzinfo=UTC)  # 12:00 Asia/Shanghai
ALL_GRANTED = {"phone": True, "sms": True, "email": True, "wechat": True, "app": True}


def no_holiday(_d: date) -> bool:
    return False


def run(
    *,
    channel: str = "call",
    purpose: str = "marketing",
    at: datetime = NOON_LOCAL,
    consents: Mapping[str, bool] | None = None,
    marketing_contacts: Iterable[datetime] = (),
    rules: ContactRules = RULES,
    is_public_holiday: Any = no_holiday,
    **kw: Any,
) -> Blocked | None:
    return check(
        channel=channel,
        purpose=purpose,
        at=at,  # type: ignore[arg-type]
        consents=ALL_GRANTED if consents is None else consents,
        marketing_contacts=marketing_contacts,
        rules=rules,
        is_public_holiday=is_public_holiday,
        **kw,
    )


def rule_of(result: Blocked | None) -> str | None:
    return None if result is None else result.rule


def local(y: int, m: int, d: int, hh: int, mm: int) -> datetime:
    """A Shanghai wall-clock time given as a UTC datetime (Shanghai is UTC+8, no DST)."""
    return datetime(y, m, d, hh, mm, tzinfo=UTC) + timedelta(hours=-8)


# -- the happy path ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["call", "sms", "email", "wechat", "app", "visit"])
@pytest.mark.parametrize("purpose", ["service", "marketing"])
def test_allowed_with_consent_at_noon_and_no_history(channel: str, purpose: str) -> None:
    assert run(channel=channel, purpose=purpose) is None


def test_consent_channel_mapping() -> None:
    assert CONSENT_CHANNEL == {
        "call": "phone",
        "sms": "sms",
        "email": "email",
        "wechat": "wechat",
        "app": "app",
        "visit": None,
    }


# -- do_not_contact ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["call", "sms", "email", "wechat", "app", "visit"])
@pytest.mark.parametrize("purpose", ["service", "marketing"])
def test_do_not_contact_blocks_everything(channel: str, purpose: str) -> None:
    result = run(channel=channel, purpose=purpose, do_not_contact=True)
    assert rule_of(result) == "do_not_contact"
    assert result is not None and result.detail


def test_do_not_contact_comes_first() -> None:
    # Opted out, quiet hours, a public holiday and over the caps: do_not_contact still names the answer.
    at = local(2026, 10, 1, 23, 0)
    result = run(
        channel="sms",
        consents={"sms": False},
        at=at,
        marketing_contacts=[at - timedelta(hours=i) for i in range(1, 6)],
        is_public_holiday=lambda _d: True,
        do_not_contact=True,
    )
    assert rule_of(result) == "do_not_contact"


# -- consent -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "consent_channel"),
    [("call", "phone"), ("sms", "sms"), ("email", "email"), ("wechat", "wechat"), ("app", "app")],
)
@pytest.mark.parametrize("purpose", ["service", "marketing"])
def test_opt_out_blocks_service_and_marketing_on_that_channel(channel: str, consent_channel: str, purpose: str) -> None:
    consents = {**ALL_GRANTED, consent_channel: False}
    result = run(channel=channel, purpose=purpose, consents=consents)
    assert rule_of(result) == "consent.opt_out"
    assert result is not None and consent_channel in result.detail


@pytest.mark.parametrize("purpose", ["service", "marketing"])
def test_opt_out_does_not_block_other_channels(purpose: str) -> None:
    consents = {**ALL_GRANTED, "phone": False}
    assert rule_of(run(channel="call", purpose=purpose, consents=consents)) == "consent.opt_out"
    for channel in ("sms", "email", "wechat", "app", "visit"):
        assert run(channel=channel, purpose=purpose, consents=consents) is None, channel


def test_opt_out_blocks_even_when_marketing_needs_no_consent() -> None:
    rules = ContactRules(marketing_needs_consent=False)
    assert rule_of(run(channel="sms", consents={"sms": False}, rules=rules)) == "consent.opt_out"
    assert rule_of(run(channel="sms", purpose="service", consents={"sms": False}, rules=rules)) == "consent.opt_out"


@pytest.mark.parametrize(
    ("channel", "consent_channel"),
    [("call", "phone"), ("sms", "sms"), ("email", "email"), ("wechat", "wechat"), ("app", "app")],
)
def test_marketing_without_consent_is_missing(channel: str, consent_channel: str) -> None:
    result = run(channel=channel, consents={})
    assert rule_of(result) == "consent.missing"
    assert result is not None and consent_channel in result.detail
    # granted on another channel only: still missing on this one
    others = {k: True for k in ALL_GRANTED if k != consent_channel}
    assert rule_of(run(channel=channel, consents=others)) == "consent.missing"


def test_marketing_allowed_once_consent_granted() -> None:
    assert rule_of(run(channel="sms", consents={})) == "consent.missing"
    assert run(channel="sms", consents={"sms": True}) is None


def test_service_needs_no_consent() -> None:
    for channel in ("call", "sms", "email", "wechat", "app", "visit"):
        assert run(channel=channel, purpose="service", consents={}) is None, channel


def test_marketing_needs_consent_false_lifts_missing_consent() -> None:
    rules = ContactRules(marketing_needs_consent=False)
    for channel in ("call", "sms", "email", "wechat", "app"):
        assert run(channel=channel, consents={}, rules=rules) is None, channel


def test_a_visit_needs_no_consent() -> None:
    opted_out_everywhere = {k: False for k in ALL_GRANTED}
    assert run(channel="visit", purpose="marketing", consents={}) is None
    assert run(channel="visit", purpose="marketing", consents=opted_out_everywhere) is None
    assert run(channel="visit", purpose="service", consents=opted_out_everywhere) is None


def test_a_marketing_visit_still_counts_against_the_caps() -> None:
    earlier = [NOON_LOCAL - timedelta(days=1), NOON_LOCAL - timedelta(days=2)]
    assert rule_of(run(channel="visit", consents={}, marketing_contacts=earlier)) == "cap.short"


# -- quiet hours ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "blocked"),
    [
        (datetime(2026, 6, 10, 12, 59, tzinfo=UTC), False),  # 20:59 Shanghai
        (datetime(2026, 6, 10, 13, 0, tzinfo=UTC), True),  # 21:00
        (datetime(2026, 6, 10, 15, 59, tzinfo=UTC), True),  # 23:59
        (datetime(2026, 6, 10, 16, 0, tzinfo=UTC), True),  # 00:00 next day
        (datetime(2026, 6, 10, 23, 59, tzinfo=UTC), True),  # 07:59 next day
        (datetime(2026, 6, 11, 0, 0, tzinfo=UTC), False),  # 08:00
        (datetime(2026, 6, 11, 4, 0, tzinfo=UTC), False),  # 12:00
    ],
)
@pytest.mark.parametrize("channel", ["call", "sms"])
def test_quiet_hours_for_marketing_calls_and_sms(at: datetime, blocked: bool, channel: str) -> None:
    result = run(channel=channel, at=at)
    assert rule_of(result) == ("quiet_hours" if blocked else None)
    if result is not None:
        assert "21:00" in result.detail and "08:00" in result.detail and "Asia/Shanghai" in result.detail


def test_quiet_hours_use_the_local_time_of_any_aware_datetime() -> None:
    from zoneinfo import ZoneInfo

    shanghai = ZoneInfo("Asia/Shanghai")
    assert rule_of(run(at=datetime(2026, 6, 10, 21, 0, tzinfo=shanghai))) == "quiet_hours"
    assert run(at=datetime(2026, 6, 10, 20, 59, tzinfo=shanghai)) is None


@pytest.mark.parametrize("at", [local(2026, 6, 10, 21, 0), local(2026, 6, 10, 23, 30), local(2026, 6, 10, 7, 59)])
def test_quiet_hours_do_not_apply_to_service(at: datetime) -> None:
    for channel in ("call", "sms"):
        assert run(channel=channel, purpose="service", at=at) is None


@pytest.mark.parametrize("at", [local(2026, 6, 10, 21, 0), local(2026, 6, 10, 23, 30), local(2026, 6, 10, 7, 59)])
@pytest.mark.parametrize("channel", ["email", "wechat", "app", "visit"])
def test_quiet_hours_do_not_apply_to_other_channels(at: datetime, channel: str) -> None:
    assert run(channel=channel, at=at) is None


def test_quiet_channels_are_configurable() -> None:
    rules = ContactRules(quiet_channels=["email"])
    at = local(2026, 6, 10, 22, 0)
    assert rule_of(run(channel="email", at=at, rules=rules)) == "quiet_hours"
    assert run(channel="call", at=at, rules=rules) is None


@pytest.mark.parametrize(
    ("hh", "mm", "blocked"),
    [(12, 59, False), (13, 0, True), (13, 30, True), (13, 59, True), (14, 0, False), (22, 0, False), (3, 0, False)],
)
def test_quiet_hours_that_do_not_span_midnight(hh: int, mm: int, blocked: bool) -> None:
    rules = ContactRules(quiet_from=time(13, 0), quiet_until=time(14, 0))
    assert rule_of(run(at=local(2026, 6, 10, hh, mm), rules=rules)) == ("quiet_hours" if blocked else None)
    assert in_quiet_hours(time(hh, mm), rules) is blocked


@pytest.mark.parametrize(
    ("t", "quiet"),
    [(time(20, 59), False), (time(21, 0), True), (time(0, 0), True), (time(7, 59, 59), True), (time(8, 0), False)],
)
def test_in_quiet_hours_spanning_midnight(t: time, quiet: bool) -> None:
    assert in_quiet_hours(t, RULES) is quiet


def test_quiet_hours_in_another_timezone() -> None:
    rules = ContactRules(timezone="Europe/London")
    at = datetime(2026, 1, 10, 21, 30, tzinfo=UTC)  # 21:30 in London (winter), 05:30 in Shanghai
    assert rule_of(run(at=at, rules=rules)) == "quiet_hours"
    assert run(at=datetime(2026, 1, 10, 13, 0, tzinfo=UTC), rules=rules) is None  # 13:00 London, 21:00 Shanghai


# -- public holidays -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["call", "sms"])
def test_public_holiday_blocks_marketing_calls_and_sms(channel: str) -> None:
    national_day = local(2026, 10, 1, 10, 0)
    result = run(channel=channel, at=national_day, is_public_holiday=lambda d: d == date(2026, 10, 1))
    assert rule_of(result) == "public_holiday"
    assert result is not None and "2026-10-01" in result.detail


def test_public_holiday_does_not_block_service_or_other_channels() -> None:
    at = local(2026, 10, 1, 10, 0)
    assert run(channel="call", purpose="service", at=at, is_public_holiday=lambda _d: True) is None
    assert run(channel="sms", purpose="service", at=at, is_public_holiday=lambda _d: True) is None
    for channel in ("email", "wechat", "app", "visit"):
        assert run(channel=channel, at=at, is_public_holiday=lambda _d: True) is None, channel


def test_public_holiday_is_asked_about_the_local_date() -> None:
    asked: list[date] = []

    def holiday(d: date) -> bool:
        asked.append(d)
        return d == date(2026, 10, 1)

    # never quiet (an empty interval): 2026-09-30 20:00 UTC is 2026-10-01 04:00 in Shanghai
    rules = ContactRules(quiet_from=time(0, 0), quiet_until=time(0, 0))
    assert (
        rule_of(run(at=datetime(2026, 9, 30, 20, 0, tzinfo=UTC), rules=rules, is_public_holiday=holiday))
        == "public_holiday"
    )
    assert asked == [date(2026, 10, 1)]


def test_public_holiday_rule_can_be_switched_off() -> None:
    rules = ContactRules(no_marketing_on_public_holidays=False)
    assert run(at=local(2026, 10, 1, 10, 0), rules=rules, is_public_holiday=lambda _d: True) is None


def test_quiet_hours_named_before_public_holiday() -> None:
    assert rule_of(run(at=local(2026, 10, 1, 22, 0), is_public_holiday=lambda _d: True)) == "quiet_hours"


# -- check_time ----------------------------------------------------------------------------------------------


def test_check_time_false_skips_quiet_hours_and_holidays_but_not_the_rest() -> None:
    night = local(2026, 10, 1, 23, 0)
    assert rule_of(run(at=night, is_public_holiday=lambda _d: True)) == "quiet_hours"
    assert run(at=night, is_public_holiday=lambda _d: True, check_time=False) is None
    assert run(at=local(2026, 10, 1, 10, 0), is_public_holiday=lambda _d: True, check_time=False) is None
    # consent and caps still apply when planning
    assert rule_of(run(at=night, consents={}, check_time=False)) == "consent.missing"
    assert rule_of(run(at=night, consents={"phone": False}, check_time=False)) == "consent.opt_out"
    earlier = [night - timedelta(days=1), night - timedelta(days=2)]
    assert rule_of(run(at=night, marketing_contacts=earlier, check_time=False)) == "cap.short"


def test_holiday_callable_not_consulted_when_time_not_checked() -> None:
    def boom(_d: date) -> bool:
        raise AssertionError("should not be asked")

    assert run(is_public_holiday=boom, check_time=False) is None
    assert run(purpose="service", is_public_holiday=boom) is None


# -- caps ----------------------------------------------------------------------------------------------------


def days_ago(*days: float, at: datetime = NOON_LOCAL) -> list[datetime]:
    return [at - timedelta(days=d) for d in days]


def test_default_caps_two_in_seven_days() -> None:
    assert run(marketing_contacts=[]) is None
    assert run(marketing_contacts=days_ago(1)) is None  # the 2nd in a week
    result = run(marketing_contacts=days_ago(1, 3))  # the 3rd in a week
    assert rule_of(result) == "cap.short"
    assert result is not None and "7 days" in result.detail and "at most 2" in result.detail


def test_default_caps_four_in_thirty_days() -> None:
    assert run(marketing_contacts=days_ago(8, 15, 22)) is None  # the 4th in 30 days
    result = run(marketing_contacts=days_ago(8, 15, 22, 29))  # the 5th in 30 days
    assert rule_of(result) == "cap.long"
    assert result is not None and "30 days" in result.detail and "at most 4" in result.detail


def test_short_cap_named_before_long_cap() -> None:
    assert rule_of(run(marketing_contacts=days_ago(1, 2, 10, 20))) == "cap.short"


def test_a_contact_exactly_seven_days_earlier_no_longer_counts() -> None:
    assert run(marketing_contacts=days_ago(1, 7)) is None
    almost = [NOON_LOCAL - timedelta(days=7) + timedelta(seconds=1), NOON_LOCAL - timedelta(days=1)]
    assert rule_of(run(marketing_contacts=almost)) == "cap.short"


def test_a_contact_exactly_thirty_days_earlier_no_longer_counts() -> None:
    assert run(marketing_contacts=days_ago(8, 15, 22, 30)) is None
    assert rule_of(run(marketing_contacts=days_ago(8, 15, 22, 29.99))) == "cap.long"


def test_later_contacts_count_for_a_contact_logged_after_the_fact() -> None:
    # Logged at noon after two later contacts within the week: it cannot slip in between them.
    later = [NOON_LOCAL + timedelta(hours=1), NOON_LOCAL + timedelta(days=1)]
    assert rule_of(run(marketing_contacts=later)) == "cap.short"
    # A week or more away on either side does not share a window with it.
    assert run(marketing_contacts=[NOON_LOCAL + timedelta(days=7), NOON_LOCAL - timedelta(days=7)]) is None
    # One before and one after, 8 days apart: no 7-day window holds all three.
    apart = [NOON_LOCAL - timedelta(days=4), NOON_LOCAL + timedelta(days=4)]
    assert run(marketing_contacts=apart) is None


def test_a_contact_at_the_same_moment_counts() -> None:
    assert rule_of(run(marketing_contacts=[NOON_LOCAL, NOON_LOCAL])) == "cap.short"


def test_marketing_contacts_may_be_a_generator() -> None:
    assert rule_of(run(marketing_contacts=(t for t in days_ago(1, 2)))) == "cap.short"
    assert rule_of(run(marketing_contacts=(t for t in days_ago(8, 9, 10, 11)))) == "cap.long"


@pytest.mark.parametrize("channel", ["call", "sms", "email", "visit"])
def test_service_contacts_are_never_capped(channel: str) -> None:
    many = [NOON_LOCAL - timedelta(hours=h) for h in range(1, 50)]
    assert run(channel=channel, purpose="service", marketing_contacts=many) is None


def test_custom_caps() -> None:
    rules = ContactRules(short_window_days=1, short_window_max=1, long_window_days=7, long_window_max=2)
    assert run(rules=rules, marketing_contacts=days_ago(1)) is None  # exactly a day ago: out of the short window
    assert rule_of(run(rules=rules, marketing_contacts=days_ago(0.5))) == "cap.short"
    assert rule_of(run(rules=rules, marketing_contacts=days_ago(2, 3))) == "cap.long"


def test_a_zero_cap_blocks_all_marketing() -> None:
    rules = ContactRules(short_window_max=0)
    assert rule_of(run(rules=rules)) == "cap.short"
    assert run(rules=rules, purpose="service") is None


def test_window_start() -> None:
    assert window_start(NOON_LOCAL, RULES) == NOON_LOCAL - timedelta(days=30)
    assert window_start(NOON_LOCAL, ContactRules(long_window_days=60)) == NOON_LOCAL - timedelta(days=60)


def _most_in_a_window(offsets: list[int], width: int) -> int:
    """Brute force: other contacts (minutes before noon, negative = after) in the busiest window of `width` minutes
    that contains noon, trying every minute as the window's start."""
    return max(sum(1 for m in offsets if start <= -m < start + width) for start in range(-width + 1, 1))


@settings(max_examples=60, deadline=None)
@given(offsets=st.lists(st.integers(min_value=-40 * 24 * 60, max_value=40 * 24 * 60), max_size=6))
def test_caps_count_the_busiest_window_around_the_contact(offsets: list[int]) -> None:
    contacts = [NOON_LOCAL - timedelta(minutes=m) for m in offsets]
    short = _most_in_a_window(offsets, 7 * 24 * 60)
    long = _most_in_a_window(offsets, 30 * 24 * 60)
    expected = "cap.short" if short >= 2 else "cap.long" if long >= 4 else None
    assert rule_of(run(marketing_contacts=contacts)) == expected
