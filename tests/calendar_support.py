"""A 2027 schedule in the shape of the State Council's notice, for tests. The days are made up (in the style of
the 2026 notice), with every statutory day inside a break; 2027's real schedule is not published yet."""

from __future__ import annotations

import copy
from typing import Any

_NOTICE_2027: dict[str, Any] = {
    "year": 2027,
    "notice": "国务院办公厅关于2027年部分节假日安排的通知 (test)",
    "published_on": "2026-11-12",
    "holidays": [
        {"name": "元旦", "rest": {"from": "2027-01-01", "to": "2027-01-03"}, "make_up_workdays": []},
        {
            "name": "春节",
            "rest": {"from": "2027-02-05", "to": "2027-02-13"},
            "make_up_workdays": ["2027-01-31", "2027-02-20"],
        },
        {"name": "清明节", "rest": {"from": "2027-04-03", "to": "2027-04-05"}, "make_up_workdays": []},
        {"name": "劳动节", "rest": {"from": "2027-05-01", "to": "2027-05-05"}, "make_up_workdays": ["2027-04-25"]},
        {"name": "端午节", "rest": {"from": "2027-06-09", "to": "2027-06-11"}, "make_up_workdays": ["2027-06-12"]},
        {"name": "中秋节", "rest": {"from": "2027-09-15", "to": "2027-09-17"}, "make_up_workdays": ["2027-09-18"]},
        {
            "name": "国庆节",
            "rest": {"from": "2027-10-01", "to": "2027-10-07"},
            "make_up_workdays": ["2027-09-26", "2027-10-09"],
        },
    ],
}


def notice_2027() -> dict[str, Any]:
    return copy.deepcopy(_NOTICE_2027)
