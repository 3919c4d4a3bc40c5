"""Contact rules (避免过度营销, BRIEF §4.6): may this customer be contacted on this channel, for this
purpose, at this moment? Checked when a task is planned and again when the contact is made.

In order, the first rule that blocks names the answer:
1. do_not_contact — the record was merged into another one (or closed);
2. consent.opt_out — the customer opted out of the channel: nothing more on it, service or marketing;
3. consent.missing — marketing on a channel the customer never agreed to (PIPL consent);
4. quiet_hours / public_holiday — no marketing calls or SMS 21:00–08:00 local time, nor on public holidays;
5. cap.short / cap.long — at most 2 marketing contacts in any 7 days and 4 in any 30 (the contact being made
   counts; for a contact logged after the fact, the ones after it count too).
A visit has no consent channel (the customer is met in person); its marketing still counts against the caps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from crm_contracts.engagement import ContactChannel, ContactRule, Purpose
from crm_engagement.domain.policy import ContactRules

# Contact channel -> the profile's consent channel (None: no consent channel, e.g. a visit).
CONSENT_CHANNEL: dict[str, str | None] = {
    "call": "phone",
    "sms": "sms",
    "email": "email",
    "wechat": "wechat",
    "app": "app",
    "visit": None,
}


@dataclass(frozen=True)
class Blocked:
    rule: ContactRule
    detail: str


def check(
    *,
    channel: ContactChannel,
    purpose: Purpose,
    at: datetime,
    consents: Mapping[str, bool],
    marketing_contacts: Iterable[datetime],
    rules: ContactRules,
    is_public_holiday: Callable[..., bool],
    do_not_contact: bool = False,
    check_time: bool = True,
) -> Blocked | None:
    """None when the contact may be made; otherwise the rule that blocks it. `consents` is the latest decision
    per consent channel (absent: never asked); `marketing_contacts` the times of earlier marketing contacts.
    `check_time=False` at planning time, when only the day is known (quiet hours apply at the moment of contact)."""
    if do_not_contact:
        return Blocked("do_not_contact", "the customer's record is merged or closed: contact the surviving record")
    consent_channel = CONSENT_CHANNEL[channel]
    if consent_channel is not None:
        granted = consents.get(consent_channel)
        if granted is False:
            return Blocked("consent.opt_out", f"the customer opted out of {consent_channel}")
        if purpose == "marketing" and rules.marketing_needs_consent and granted is not True:
            return Blocked("consent.missing", f"no marketing consent on {consent_channel}")
    if purpose != "marketing":
        return None
    local = at.astimezone(ZoneInfo(rules.timezone))
    if check_time and channel in rules.quiet_channels:
        if in_quiet_hours(local.time(), rules):
            return Blocked(
                "quiet_hours",
                f"no marketing {channel} between {rules.quiet_from:%H:%M} and "
                f"{rules.quiet_until:%H:%M} ({rules.timezone}); it is {local:%H:%M}",
            )
        if rules.no_marketing_on_public_holidays and is_public_holiday(local.date()):
            return Blocked("public_holiday", f"no marketing {channel} on a public holiday ({local.date()})")
    times = list(marketing_contacts)
    short = busiest_window(times, at, timedelta(days=rules.short_window_days))
    if short + 1 > rules.short_window_max:
        return Blocked(
            "cap.short",
            f"{short} other marketing contact(s) within {rules.short_window_days} days; "
            f"at most {rules.short_window_max}",
        )
    long = busiest_window(times, at, timedelta(days=rules.long_window_days))
    if long + 1 > rules.long_window_max:
        return Blocked(
            "cap.long",
            f"{long} other marketing contact(s) within {rules.long_window_days} days; at most {rules.long_window_max}",
        )
    return None


def busiest_window(times: list[datetime], at: datetime, width: timedelta) -> int:
    """The most other contacts in any window of `width` that contains `at`. For a contact made now that is the
    contacts of the last `width`; for one logged after the fact, later contacts count too, so back-dating a
    contact cannot slip it between two others."""
    near = sorted(t for t in times if at - width < t < at + width)
    best = 0
    for start in [t for t in near if t <= at] + [at]:
        if start + width <= at:
            continue
        best = max(best, sum(1 for t in near if start <= t < start + width))
    return best


def in_quiet_hours(moment: time, rules: ContactRules) -> bool:
    """Quiet hours may span midnight (21:00–08:00) or not (13:00–14:00); the end is exclusive."""
    start, end = rules.quiet_from, rules.quiet_until
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end


def window_start(at: datetime, rules: ContactRules) -> datetime:
    """How far back marketing contacts matter for the caps."""
    return at - timedelta(days=rules.long_window_days)
