"""Unit tests for crm_cli.demo_data."""

import random
import re
from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from crm_cli.demo_data import (
    DEFAULT_ROLES_PER_BRANCH,
    PRODUCTS,
    REGIONS,
    make_balance,
    make_branches,
    make_corporate,
    make_dataset,
    make_faker,
    make_individual,
    make_products,
    make_staff,
)
from crm_contracts.corebank import BalanceSnapshot
from crm_profile.domain.identity import (
    birthday_from_resident_id,
    gender_from_resident_id,
    validate_mobile,
    validate_resident_id,
    validate_uscc,
)

AS_OF = date(2025, 6, 30)
REGION_CODES = {code for code, _, _ in REGIONS}
MONEY = re.compile(r"^[0-9]+\.[0-9]{2}$")


@pytest.fixture(scope="module")
def branches():
    return make_branches(3)


@pytest.fixture(scope="module")
def individuals(branches):
    rng, faker = random.Random(7), make_faker(7)
    return [make_individual(rng, faker, branches[i % 3], "S0001", today=AS_OF) for i in range(300)]


@pytest.fixture(scope="module")
def corporates(branches):
    rng, faker = random.Random(8), make_faker(8)
    return [make_corporate(rng, faker, branches[i % 3], "S0002") for i in range(200)]


# --- branches and staff ----------------------------------------------------------


def test_branches_have_sequential_codes_and_real_names():
    branches = make_branches(3)
    assert [b["code"] for b in branches] == ["BR001", "BR002", "BR003"]
    assert branches[0]["name"] == "北京朝阳支行"
    assert branches[0]["city"] == "北京"
    for b in branches:
        assert b["name"].startswith(b["city"]) and b["name"].endswith("支行")
        assert b["region_code"] in REGION_CODES


def test_many_branches_have_unique_codes_and_names():
    branches = make_branches(40)
    assert len({b["code"] for b in branches}) == 40
    assert len({b["name"] for b in branches}) == 40
    assert branches[-1]["code"] == "BR040"


def test_zero_and_negative_branch_counts():
    assert make_branches(0) == []
    with pytest.raises(ValueError):
        make_branches(-1)


def test_staff_default_roles_per_branch(branches):
    staff = make_staff(branches, faker=make_faker(1))
    assert len(staff) == 11 * 3
    assert [s["staff_id"] for s in staff[:3]] == ["S0001", "S0002", "S0003"]
    assert len({s["staff_id"] for s in staff}) == len(staff)
    for branch in branches:
        counts = Counter(s["role"] for s in staff if s["branch"] == branch["code"])
        assert counts == Counter(DEFAULT_ROLES_PER_BRANCH)
    assert counts["relationship_manager"] == 3
    assert counts["high_counter_teller"] == 2
    assert all(s["name"] for s in staff)


def test_staff_custom_roles(branches):
    staff = make_staff(branches[:2], {"relationship_manager": 2, "branch_manager": 1})
    assert len(staff) == 6
    assert Counter(s["role"] for s in staff) == {"relationship_manager": 4, "branch_manager": 2}


# --- individuals -------------------------------------------------------------------


def test_individual_ids_are_valid_and_consistent(individuals):
    for c in individuals:
        number = c["id_document"]["number"]
        assert c["id_document"]["type"] == "resident_id"
        assert validate_resident_id(number) == number
        assert number[:6] in REGION_CODES
        assert birthday_from_resident_id(number).isoformat() == c["birthday"]
        assert gender_from_resident_id(number) == c["gender"]


def test_individuals_are_adults_relative_to_today(individuals):
    for c in individuals:
        age_years = AS_OF.year - date.fromisoformat(c["birthday"]).year
        assert 18 <= age_years <= 80


def test_individual_payload_shape(individuals, branches):
    both_genders = {c["gender"] for c in individuals}
    assert both_genders == {"male", "female"}
    for c in individuals:
        assert c["kind"] == "individual"
        assert c["name"]
        assert c["phones"] and all(validate_mobile(p) == p for p in c["phones"])
        assert "@" in c["email"]
        assert c["branch"] in {b["code"] for b in branches}
        assert c["owner"] == "S0001"
        assert re.fullmatch(r"CB[0-9]{10}", c["core_customer_no"])
        branch = next(b for b in branches if b["code"] == c["branch"])
        assert c["address"].startswith(branch["city"])
        assert c["education"] in {"high_school", "associate", "bachelor", "master", "doctorate"}
        assert isinstance(c["interests"], list)
        assert len(set(c["interests"])) == len(c["interests"])
        if "income" in c:
            assert c["income"]["currency"] == "CNY"
            assert isinstance(c["income"]["annual"], str)
            assert MONEY.match(c["income"]["annual"])
            assert Decimal(c["income"]["annual"]) > 0
    # Income is optional: some customers have it, some do not.
    with_income = sum("income" in c for c in individuals)
    assert 0 < with_income < len(individuals)


# --- corporates --------------------------------------------------------------------


def test_corporate_usccs_are_valid(corporates):
    for c in corporates:
        number = c["id_document"]["number"]
        assert c["id_document"]["type"] == "uscc"
        assert validate_uscc(number) == number
        assert number[2:8] in REGION_CODES


def test_corporate_payload_shape(corporates):
    assert {c["segment"] for c in corporates} == {"sme", "large", "multinational"}
    for c in corporates:
        assert c["kind"] == "corporate"
        assert c["name"].endswith("有限公司")
        assert c["phones"] and all(validate_mobile(p) == p for p in c["phones"])
        assert "@" in c["email"]
        assert c["owner"] == "S0002"
        assert c["industry"]
        assert re.fullmatch(r"CB[0-9]{10}", c["core_customer_no"])


# --- balances ----------------------------------------------------------------------


def _balances(seed, n):
    rng = random.Random(seed)
    return [make_balance(rng, f"CB{i:010d}", AS_OF) for i in range(n)]


def test_balance_breakdown_sums_exactly_to_aum():
    for b in _balances(1, 2000):
        assert b["as_of"] == "2025-06-30"
        parts = b["breakdown"]
        assert set(parts) == {"deposit", "wealth", "fund"}
        BalanceSnapshot.model_validate(b)  # the contract's product types
        for value in [b["aum"], *parts.values()]:
            assert isinstance(value, str) and MONEY.match(value), value
            assert Decimal(value) >= 0
        assert sum(Decimal(v) for v in parts.values()) == Decimal(b["aum"])


def test_balance_aum_covers_every_tier():
    aums = [Decimal(b["aum"]) for b in _balances(2, 2000)]
    assert min(aums) >= Decimal("100")
    assert max(aums) <= Decimal("20000000")
    bounds = [Decimal(x) for x in ("0", "1000", "50000", "200000", "500000", "3000000", "1e12")]
    tiers = Counter(next(i for i in range(len(bounds) - 1) if bounds[i] <= a < bounds[i + 1]) for a in aums)
    # Below 1k, then the five tier bands 1k/50k/200k/500k/3M+; each well populated.
    assert set(tiers) == set(range(6))
    assert min(tiers.values()) >= 50


def test_balance_accepts_iso_string_date():
    b = make_balance(random.Random(0), "CB0000000001", "2025-01-31")
    assert b["as_of"] == "2025-01-31"
    assert b["core_customer_no"] == "CB0000000001"
    with pytest.raises(ValueError):
        make_balance(random.Random(0), "CB0000000001", "2025-02-30")


# --- products ----------------------------------------------------------------------


def test_products_are_a_realistic_catalogue_for_engagement():
    products = make_products()
    assert 8 <= len(products) <= 15
    codes = [p["code"] for p in products]
    assert len(set(codes)) == len(codes)
    for p in products:
        assert set(p) == {"code", "name", "type", "risk_level", "active"}
        # engagement's PUT /v1/products/{code}: code matches the path pattern, the body its ProductUpsert.
        assert re.fullmatch(r"P-[A-Z]+-[0-9]{2}", p["code"]), p
        assert 1 <= len(p["name"]) <= 100 and 1 <= len(p["type"]) <= 40
        assert p["risk_level"] in {"R1", "R2", "R3", "R4", "R5"}
        assert p["active"] is True
    # Every risk level has a product, so suitability has something to offer each customer.
    assert {p["risk_level"] for p in products} == {"R1", "R2", "R3", "R4", "R5"}
    assert {"deposit", "bond", "wealth", "fund", "insurance", "precious_metal"} <= {p["type"] for p in products}
    by_name = {p["name"]: p for p in products}
    assert (by_name["活期存款"]["type"], by_name["活期存款"]["risk_level"]) == ("deposit", "R1")
    assert by_name["股票基金"]["risk_level"] == "R5"
    assert by_name["黄金积存"]["type"] == "precious_metal"


def test_products_bodies_are_valid_for_the_engagement_api():
    schemas = pytest.importorskip("crm_engagement.schemas")
    for p in make_products():
        body = {k: v for k, v in p.items() if k != "code"}
        assert schemas.ProductUpsert.model_validate(body).risk_level == p["risk_level"]


def test_make_products_returns_fresh_copies():
    first = make_products()
    first[0]["active"] = False
    assert make_products()[0]["active"] is True
    assert len(make_products()) == len(PRODUCTS)


# --- determinism -------------------------------------------------------------------


def test_seeded_generation_is_deterministic(branches):
    def run(seed):
        rng, faker = random.Random(seed), make_faker(seed)
        return (
            [make_individual(rng, faker, branches[0], "S0001", today=AS_OF) for _ in range(20)],
            [make_corporate(rng, faker, branches[1], "S0002") for _ in range(10)],
            [make_balance(rng, "CB0000000001", AS_OF) for _ in range(10)],
            make_staff(branches, faker=faker),
        )

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_make_dataset_is_deterministic_and_consistent():
    first = make_dataset(5, branches=2, individuals_per_branch=10, corporates_per_branch=3, as_of=AS_OF)
    second = make_dataset(5, branches=2, individuals_per_branch=10, corporates_per_branch=3, as_of=AS_OF)
    assert first == second
    assert first["products"] == make_products()

    customers = first["customers"]
    assert len(customers) == 2 * (10 + 3)
    numbers = [c["core_customer_no"] for c in customers]
    assert len(set(numbers)) == len(numbers)
    assert [b["core_customer_no"] for b in first["balances"]] == numbers

    rms = {(s["staff_id"], s["branch"]) for s in first["staff"] if s["role"] == "relationship_manager"}
    for c in customers:
        assert (c["owner"], c["branch"]) in rms
