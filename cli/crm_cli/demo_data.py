"""Realistic, reproducible demo data for the bank CRM: branches, staff, customers, balances, the product
catalogue and a few complaints.

All randomness flows from a caller-supplied ``random.Random`` and a seeded
``Faker("zh_CN")`` so the same seed always yields the same data set. Identity
numbers are built with the real check algorithms so they pass the profile
service's validators. Money is ``decimal.Decimal`` rendered as strings,
computed from integer cents so sums are exact.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from faker import Faker

from crm_profile.domain.identity import resident_id_check_digit, uscc_check_char

__all__ = [
    "COMPLAINTS",
    "COMPLAINT_CHANNELS",
    "DEFAULT_ROLES_PER_BRANCH",
    "PRODUCTS",
    "REGIONS",
    "make_balance",
    "make_branches",
    "make_complaints",
    "make_corporate",
    "make_dataset",
    "make_faker",
    "make_individual",
    "make_products",
    "make_staff",
]

# (6-digit administrative division code, city, district short name). Real
# codes so IDs, USCCs and branch names agree with each other.
REGIONS: tuple[tuple[str, str, str], ...] = (
    ("110105", "北京", "朝阳"),
    ("310115", "上海", "浦东"),
    ("440305", "深圳", "南山"),
    ("330106", "杭州", "西湖"),
    ("510107", "成都", "武侯"),
    ("420106", "武汉", "武昌"),
    ("110108", "北京", "海淀"),
    ("310104", "上海", "徐汇"),
    ("440304", "深圳", "福田"),
    ("440106", "广州", "天河"),
    ("320106", "南京", "鼓楼"),
    ("110101", "北京", "东城"),
)
# District suffix for addresses ("浦东" is a 新区, the rest are plain 区).
_DISTRICT_SUFFIX = {"浦东": "新区"}

DEFAULT_ROLES_PER_BRANCH: Mapping[str, int] = {
    "high_counter_teller": 2,
    "low_counter_staff": 2,
    "lobby_manager": 1,
    "relationship_manager": 3,
    "rm_supervisor": 1,
    "branch_manager": 1,
    "complaint_handler": 1,
}

# Prefixes actually allocated to the three mainland carriers, so numbers look real.
_MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "186",
    "187",
    "188",
    "189",
    "198",
    "199",
)
_EDUCATION = ("high_school", "associate", "bachelor", "master", "doctorate")
_EDUCATION_WEIGHTS = (15, 25, 40, 15, 5)
_INTERESTS = (
    "理财",
    "旅游",
    "高尔夫",
    "亲子教育",
    "健康养生",
    "汽车",
    "收藏",
    "摄影",
    "美食",
    "运动健身",
    "海外留学",
    "养老规划",
    "艺术品",
    "茶文化",
)
# Company-name keyword -> industry (GB/T 4754 section), so name and industry agree.
_COMPANY_KINDS = (
    ("科技", "信息传输、软件和信息技术服务业"),
    ("电子", "制造业"),
    ("机械", "制造业"),
    ("贸易", "批发和零售业"),
    ("物流", "交通运输、仓储和邮政业"),
    ("建设", "建筑业"),
    ("医药", "卫生和社会工作"),
    ("食品", "制造业"),
    ("置业", "房地产业"),
    ("餐饮", "住宿和餐饮业"),
)
_CORPORATE_SIZES = ("sme", "large", "multinational")
_CORPORATE_SIZE_WEIGHTS = (80, 15, 5)
_CN_ORDINALS = "一二三四五六七八九十"

# AUM buckets on a 1-2-5 series from 100 to 20,000,000 CNY. Picking a bucket
# uniformly, then a uniform amount inside it, approximates a log-uniform
# distribution, so every service tier (1k/50k/200k/500k/3M) gets customers.
_AUM_BOUNDS = (
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
)


# The engagement service's product catalogue (PUT /v1/products/{code}): (code, name, type, risk level R1-R5).
# Risk levels as a Chinese bank grades them (R1 lowest); suitability matches them against the customer's
# risk assessment (C1-C5), so every level has at least one product.
PRODUCTS: tuple[tuple[str, str, str, str], ...] = (
    ("P-DEP-01", "活期存款", "deposit", "R1"),
    ("P-DEP-02", "三年期定期存款", "deposit", "R1"),
    ("P-DEP-03", "大额存单", "deposit", "R1"),
    ("P-BND-01", "储蓄国债（电子式）", "bond", "R1"),
    ("P-WM-01", "现金管理类理财", "wealth", "R1"),
    ("P-WM-02", "稳健理财", "wealth", "R2"),
    ("P-INS-01", "年金保险", "insurance", "R2"),
    ("P-FND-01", "债券基金", "fund", "R3"),
    ("P-PM-01", "黄金积存", "precious_metal", "R3"),
    ("P-FND-02", "混合基金", "fund", "R4"),
    ("P-FND-03", "股票基金", "fund", "R5"),
)


def make_products() -> list[dict[str, Any]]:
    """The demo product catalogue: ``code`` plus the body of engagement's ``PUT /v1/products/{code}``."""
    return [
        {"code": code, "name": name, "type": kind, "risk_level": risk, "active": True}
        for code, name, kind, risk in PRODUCTS
    ]


# The complaints service's intake (POST /v1/complaints): channel -> weight, as complaints reach a retail bank
# (most by phone, at the counter or online; a few by letter, through the suggestion box, social media or the
# regulator). The vocabulary is crm_contracts.complaints.COMPLAINT_CHANNELS.
COMPLAINT_CHANNELS: Mapping[str, int] = {
    "hotline": 30,
    "counter": 15,
    "branch": 10,
    "online": 18,
    "email": 8,
    "letter": 3,
    "suggestion_box": 7,
    "social_media": 6,
    "regulator_forwarded": 6,
}
# (category of the complaints policy's default taxonomy, description, severity).
COMPLAINTS: tuple[tuple[str, str, str], ...] = (
    ("service_attitude", "柜员办理业务时态度冷淡，询问问题时很不耐烦。", "low"),
    ("service_attitude", "大堂经理对老年客户解释不清，语气生硬。", "medium"),
    ("fees", "账户被扣取小额账户管理费，事先没有收到任何通知。", "medium"),
    ("fees", "跨行转账收取的手续费与网点公示的标准不一致。", "low"),
    ("wealth_mis_selling", "客户经理推荐理财时称保本保收益，到期却出现亏损。", "high"),
    ("wealth_mis_selling", "风险评估为稳健型，却被推荐购买高风险的股票基金。", "high"),
    ("cards", "信用卡年费未按办卡时的承诺减免，要求退还。", "medium"),
    ("cards", "借记卡在自助取款机被吞，三天后仍未退还。", "medium"),
    ("loans", "提前还贷被收取违约金，合同中没有看到相关条款。", "medium"),
    ("loans", "房贷审批迟迟没有答复，多次询问客户经理无果。", "low"),
    ("deposits", "定期存款到期自动转存，利率与当初约定的不符。", "medium"),
    ("deposits", "大额存单提前支取时利息计算有误。", "medium"),
    ("app", "手机银行转账显示成功，但对方账户一直未到账。", "high"),
    ("app", "手机银行升级后无法登录，人脸识别反复失败。", "low"),
    ("queueing", "网点只开一个窗口，排队等候超过一个小时。", "low"),
    ("queueing", "线上预约取号后到网点仍需重新排队。", "low"),
    ("other", "网点门口的无障碍通道被占用，轮椅无法通行。", "low"),
)
_CHINA_TIME = timezone(timedelta(hours=8))


def make_complaints(
    rng: random.Random, customers: Sequence[Mapping[str, Any]], *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Bodies of the complaints service's ``POST /v1/complaints``: about one per 20 customers (at least 3, at
    most one per customer), each for a different customer (``id`` and ``branch`` of the profile's
    registration), received one to seven days before ``now`` in China time (+08:00, never in the future)."""
    now = (now or datetime.now(_CHINA_TIME)).astimezone(_CHINA_TIME)
    n = min(len(customers), max(3, round(len(customers) / 20)))
    chosen = rng.sample(list(customers), k=n)
    # Every channel and category once before any repeats, then as often as they occur.
    channels = rng.sample(list(COMPLAINT_CHANNELS), k=min(n, len(COMPLAINT_CHANNELS)))
    channels += rng.choices(list(COMPLAINT_CHANNELS), weights=list(COMPLAINT_CHANNELS.values()), k=n - len(channels))
    by_category: dict[str, list[tuple[str, str]]] = {}
    for category, description, severity in COMPLAINTS:
        by_category.setdefault(category, []).append((description, severity))
    categories = rng.sample(list(by_category), k=len(by_category))
    complaints = []
    for i, (customer, channel) in enumerate(zip(chosen, channels, strict=True)):
        category = categories[i % len(categories)]
        description, severity = rng.choice(by_category[category])
        if channel == "regulator_forwarded" and severity == "low":
            severity = "medium"  # it reached the regulator: not a small matter any more
        # A day one to seven days back, in opening hours (09:00-17:59): always before now.
        day = (now - timedelta(days=rng.randint(1, 7))).date()
        received = datetime(day.year, day.month, day.day, rng.randint(9, 17), rng.randrange(60), tzinfo=_CHINA_TIME)
        complaints.append(
            {
                "customer_id": customer["id"],
                "branch": customer["branch"],
                "channel": channel,
                "category": category,
                "description": description,
                "severity": severity,
                "received_at": received.isoformat(),
            }
        )
    return complaints


def make_faker(seed: int) -> Faker:
    """Return a ``Faker("zh_CN")`` with its own seeded random state."""
    faker = Faker("zh_CN")
    # seed_instance (not Faker.seed) so other Faker users are unaffected.
    faker.seed_instance(seed)
    return faker


def _cents_to_str(cents: int) -> str:
    return format(Decimal(cents).scaleb(-2), "f")


def make_branches(n: int) -> list[dict[str, Any]]:
    """Return ``n`` branches coded BR001..., named after real city districts."""
    if n < 0:
        raise ValueError("number of branches must not be negative")
    branches = []
    for i in range(n):
        region_code, city, district = REGIONS[i % len(REGIONS)]
        round_no = i // len(REGIONS)
        # Second and later branches in a district get an ordinal, as real banks do.
        if round_no == 0:
            ordinal = ""
        elif round_no < len(_CN_ORDINALS):
            ordinal = "第" + _CN_ORDINALS[round_no]
        else:
            ordinal = f"第{round_no + 1}"
        branches.append(
            {
                "code": f"BR{i + 1:03d}",
                "name": f"{city}{district}{ordinal}支行",
                "city": city,
                "district": district + _DISTRICT_SUFFIX.get(district, "区"),
                "region_code": region_code,
            }
        )
    return branches


def make_staff(
    branches: Sequence[Mapping[str, Any]],
    per_branch_roles: Mapping[str, int] | None = None,
    *,
    faker: Faker | None = None,
) -> list[dict[str, Any]]:
    """Return staff for every branch, ``per_branch_roles`` (role -> headcount) each, IDs S0001..."""
    roles = DEFAULT_ROLES_PER_BRANCH if per_branch_roles is None else per_branch_roles
    faker = faker if faker is not None else make_faker(0)
    staff: list[dict[str, Any]] = []
    for branch in branches:
        for role, count in roles.items():
            for _ in range(count):
                staff.append(
                    {
                        "staff_id": f"S{len(staff) + 1:04d}",
                        "name": faker.name(),
                        "role": role,
                        "branch": branch["code"],
                    }
                )
    return staff


def _mobile(rng: random.Random) -> str:
    return rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _core_customer_no(rng: random.Random) -> str:
    return "CB" + f"{rng.randrange(10**10):010d}"


def _branch_region(branch: Mapping[str, Any]) -> tuple[str, str, str]:
    # Branches not made by make_branches may lack region data; fall back to Beijing.
    return (
        branch.get("region_code", REGIONS[0][0]),
        branch.get("city", REGIONS[0][1]),
        branch.get("district", REGIONS[0][2] + "区"),
    )


def _address(rng: random.Random, faker: Faker, city: str, district: str) -> str:
    return (
        f"{city}市{district}{faker.street_name()}{rng.randint(1, 399)}号"
        f"{rng.randint(1, 30)}栋{rng.randint(1, 28)}{rng.randint(1, 4):02d}室"
    )


def _resident_id(rng: random.Random, birthday: date, male: bool) -> str:
    region_code = rng.choice(REGIONS)[0]
    sequence = rng.randrange(100)  # digits 15-16: police-station sequence
    # Digit 17 encodes gender: odd for men, even for women.
    gender_digit = rng.choice("13579" if male else "02468")
    first17 = f"{region_code}{birthday:%Y%m%d}{sequence:02d}{gender_digit}"
    return first17 + resident_id_check_digit(first17)


def make_individual(
    rng: random.Random,
    faker: Faker,
    branch: Mapping[str, Any],
    owner: str,
    *,
    today: date | None = None,
    core_customer_no: str | None = None,
) -> dict[str, Any]:
    """Return an individual-customer payload with a valid resident ID and mobile.

    ``today`` pins the age range (18-80) for reproducible output across days.
    """
    today = today or date.today()
    male = rng.random() < 0.5
    # Age 18-80: adults only, since minors are onboarded through a guardian flow.
    oldest = date(today.year - 80, 1, 1)
    youngest = date(today.year - 18, 1, 1)
    birthday = oldest + timedelta(days=rng.randrange((youngest - oldest).days))
    _, city, district = _branch_region(branch)

    customer: dict[str, Any] = {
        "kind": "individual",
        "name": faker.name_male() if male else faker.name_female(),
        "gender": "male" if male else "female",
        "birthday": birthday.isoformat(),
        "id_document": {"type": "resident_id", "number": _resident_id(rng, birthday, male)},
        "phones": [_mobile(rng) for _ in range(1 if rng.random() < 0.8 else 2)],
        "email": faker.free_email(),
        "address": _address(rng, faker, city, district),
        "branch": branch["code"],
        "owner": owner,
        "core_customer_no": core_customer_no or _core_customer_no(rng),
        "occupation": faker.job(),
        "education": rng.choices(_EDUCATION, weights=_EDUCATION_WEIGHTS)[0],
        "interests": rng.sample(_INTERESTS, k=rng.randint(0, 4)),
    }
    # Income is often not disclosed, so leave it out for some customers.
    if rng.random() < 0.75:
        # Most salaries are modest; a minority of high earners feeds the wealth tiers.
        high_earner = rng.random() < 0.15
        annual_yuan = rng.randrange(300_000, 3_000_000) if high_earner else rng.randrange(30_000, 300_000)
        annual_cents = annual_yuan * 100
        customer["income"] = {"annual": _cents_to_str(annual_cents), "currency": "CNY"}
    return customer


def _org_code(rng: random.Random) -> str:
    # 9-char organisation code (GB 11714): 8 digits plus its own MOD 11 check,
    # so positions 9-17 of the USCC look real too.
    body = f"{rng.randrange(10**8):08d}"
    total = sum(int(d) * w for d, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def _uscc(rng: random.Random, region_code: str) -> str:
    # "9" = registered by market regulation, "1" = enterprise.
    first17 = "91" + region_code + _org_code(rng)
    return first17 + uscc_check_char(first17)


def make_corporate(
    rng: random.Random,
    faker: Faker,
    branch: Mapping[str, Any],
    owner: str,
    *,
    core_customer_no: str | None = None,
) -> dict[str, Any]:
    """Return a corporate-customer payload with a valid USCC and contact mobile."""
    region_code, city, district = _branch_region(branch)
    keyword, industry = rng.choice(_COMPANY_KINDS)
    return {
        "kind": "corporate",
        "name": f"{city}{faker.company_prefix()}{keyword}有限公司",
        "id_document": {"type": "uscc", "number": _uscc(rng, region_code)},
        "phones": [_mobile(rng) for _ in range(rng.randint(1, 2))],
        "email": f"{faker.user_name()}@{faker.domain_name()}",
        "address": _address(rng, faker, city, district),
        "branch": branch["code"],
        "owner": owner,
        "core_customer_no": core_customer_no or _core_customer_no(rng),
        "industry": industry,
        "segment": rng.choices(_CORPORATE_SIZES, weights=_CORPORATE_SIZE_WEIGHTS)[0],
    }


def make_balance(rng: random.Random, core_customer_no: str, as_of: date | str) -> dict[str, Any]:
    """Return an AUM snapshot whose deposit/wealth/fund breakdown (product types of the balance contract,
    crm_contracts.corebank.ProductType) sums exactly to ``aum``."""
    as_of_iso = as_of.isoformat() if isinstance(as_of, date) else date.fromisoformat(as_of).isoformat()
    bucket = rng.randrange(len(_AUM_BOUNDS) - 1)
    aum_cents = rng.randrange(_AUM_BOUNDS[bucket] * 100, _AUM_BOUNDS[bucket + 1] * 100)
    # Split in integer cents so the parts add up to the total with no rounding.
    deposits = aum_cents * rng.randint(20, 100) // 100
    rest = aum_cents - deposits
    wealth = rest * rng.randint(0, 100) // 100
    funds = rest - wealth
    return {
        "core_customer_no": core_customer_no,
        "as_of": as_of_iso,
        "aum": _cents_to_str(aum_cents),
        "breakdown": {
            "deposit": _cents_to_str(deposits),
            "wealth": _cents_to_str(wealth),
            "fund": _cents_to_str(funds),
        },
    }


def make_dataset(
    seed: int,
    *,
    branches: int = 3,
    individuals_per_branch: int = 20,
    corporates_per_branch: int = 5,
    as_of: date | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Return a complete, reproducible data set: branches, staff, customers, balances and products.

    Customers are owned by their branch's relationship managers; core customer
    numbers are unique across the set.
    """
    rng = random.Random(seed)
    faker = make_faker(seed)
    as_of = as_of or date.today()
    branch_list = make_branches(branches)
    staff = make_staff(branch_list, faker=faker)

    used_numbers: set[str] = set()

    def fresh_number() -> str:
        # Random numbers can collide; core_customer_no must be unique.
        while True:
            number = _core_customer_no(rng)
            if number not in used_numbers:
                used_numbers.add(number)
                return number

    customers: list[dict[str, Any]] = []
    for branch in branch_list:
        rms = [s["staff_id"] for s in staff if s["branch"] == branch["code"] and s["role"] == "relationship_manager"]
        if not rms:
            continue
        for _ in range(individuals_per_branch):
            customers.append(
                make_individual(rng, faker, branch, rng.choice(rms), today=as_of, core_customer_no=fresh_number())
            )
        for _ in range(corporates_per_branch):
            customers.append(make_corporate(rng, faker, branch, rng.choice(rms), core_customer_no=fresh_number()))

    balances = [make_balance(rng, c["core_customer_no"], as_of) for c in customers]
    return {
        "branches": branch_list,
        "staff": staff,
        "customers": customers,
        "balances": balances,
        "products": make_products(),
    }
