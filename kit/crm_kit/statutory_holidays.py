"""The public holidays the law fixes, for a year no official schedule covers yet (pure rules, no I/O).

《全国年节及纪念日放假办法》 as amended in 2024 (in force from 2025), Article 2 — holidays of all citizens:
元旦 1 day (January 1), 春节 4 days (除夕 and 正月初一 to 初三), 清明节 1 day (the day of the solar term),
劳动节 2 days (May 1 and 2), 端午节 1 day (五月初五), 中秋节 1 day (八月十五), 国庆节 3 days (October 1 to 3).

Article 6: a holiday of all citizens that falls on a Saturday or Sunday is given back on a working day (补假).
The provisional calendar gives each such day back on the first working day after the holiday, as the statute
says; a statutory day that falls on another holiday (中秋 on 1–3 October) is given back the same way, since a day
off cannot be taken twice. What it does not do is the State Council's yearly rearrangement (调休: weekend days
worked to join holidays into a week): that is decided each year in the notice and cannot be computed.

Lunar dates from `lunardate` (1900–2099); 清明 from chinesecalendar's solar-term formula (寿星公式 with the
published corrections, 1900–2100).
"""

from __future__ import annotations

import datetime as dt

import chinese_calendar
from lunardate import LunarDate

__all__ = ["FIRST_YEAR", "HOLIDAY_NAMES", "LAST_YEAR", "statutory_holidays", "statutory_rest_days"]

FIRST_YEAR, LAST_YEAR = 1901, 2099  # what the lunar table covers (除夕 of 1900 falls in 1899's lunar year)
STATUTE_FROM = 2025  # the 2024 amendment: 春节 and 劳动节 gained a day each

# The names chinesecalendar uses, so a provisional day reads like an official one.
NEW_YEAR, SPRING, TOMB_SWEEPING, LABOUR, DRAGON_BOAT, MID_AUTUMN, NATIONAL = (
    "New Year's Day",
    "Spring Festival",
    "Tomb-sweeping Day",
    "Labour Day",
    "Dragon Boat Festival",
    "Mid-autumn Festival",
    "National Day",
)
HOLIDAY_NAMES = {
    NEW_YEAR: "元旦",
    SPRING: "春节",
    TOMB_SWEEPING: "清明节",
    LABOUR: "劳动节",
    DRAGON_BOAT: "端午节",
    MID_AUTUMN: "中秋节",
    NATIONAL: "国庆节",
}


def _lunar(year: int, month: int, day: int) -> dt.date:
    solar: dt.date = LunarDate(year, month, day).to_solar_date()
    return solar


def _qingming(year: int) -> dt.date:
    terms = chinese_calendar.get_solar_terms(dt.date(year, 4, 1), dt.date(year, 4, 30))
    qingming: dt.date = next(day for day, name in terms if name == "清明")
    return qingming


def statutory_holidays(year: int) -> list[tuple[str, list[dt.date]]]:
    """Each holiday of all citizens with its statutory days, in the order of the year."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"statutory holidays are computed for {FIRST_YEAR}-{LAST_YEAR}, not {year}")
    new_year = _lunar(year, 1, 1)
    return [
        (NEW_YEAR, [dt.date(year, 1, 1)]),
        (SPRING, [new_year + dt.timedelta(days=offset) for offset in (-1, 0, 1, 2)]),  # 除夕, 初一 … 初三
        (TOMB_SWEEPING, [_qingming(year)]),
        (LABOUR, [dt.date(year, 5, 1), dt.date(year, 5, 2)]),
        (DRAGON_BOAT, [_lunar(year, 5, 5)]),
        (MID_AUTUMN, [_lunar(year, 8, 15)]),
        (NATIONAL, [dt.date(year, 10, day) for day in (1, 2, 3)]),
    ]


def statutory_rest_days(year: int) -> dict[dt.date, str]:
    """Every day off the statute gives in `year` (weekends aside): the holidays' own days and the days given back
    (补假) for those that fell on a weekend or on another holiday, each with its holiday's name."""
    rest: dict[dt.date, str] = {}
    for name, days in sorted(statutory_holidays(year), key=lambda holiday: holiday[1][0]):
        owed = 0
        for day in days:
            if day.weekday() >= 5 or day in rest:
                owed += 1
            rest.setdefault(day, name)
        given = max(days)
        while owed:
            given += dt.timedelta(days=1)
            if given.weekday() < 5 and given not in rest:
                rest[given] = name
                owed -= 1
    return rest
