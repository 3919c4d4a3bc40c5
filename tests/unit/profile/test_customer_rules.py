import pytest

from crm_profile.domain.customer import MergeParty, RuleBroken, changed_fields, check_merge, check_relationship


def test_changed_fields_names_only_what_differs():
    assert changed_fields({"a": 1, "b": [1]}, {"a": 1, "b": [2], "c": None}) == ["b"]


def test_family_links_need_two_individuals():
    check_relationship("family", from_id="A", to_id="B", from_kind="individual", to_kind="individual")
    with pytest.raises(RuleBroken):
        check_relationship("family", from_id="A", to_id="B", from_kind="individual", to_kind="corporate")


def test_corporate_individual_link_needs_one_of_each():
    check_relationship("corporate_individual", from_id="A", to_id="B", from_kind="corporate", to_kind="individual")
    with pytest.raises(RuleBroken):
        check_relationship("corporate_individual", from_id="A", to_id="B", from_kind="individual", to_kind="individual")


def test_no_self_links():
    with pytest.raises(RuleBroken):
        check_relationship("referred_by", from_id="A", to_id="A", from_kind="individual", to_kind="individual")


def party(i, kind="individual", status="active", core=None):
    return MergeParty(i, kind, status, core)


def test_merge_rules():
    check_merge(party("A", core="1"), party("B"))
    check_merge(party("A", core="1"), party("B", core="1"))
    for survivor, duplicate in [
        (party("A"), party("A")),
        (party("A"), party("B", status="merged")),
        (party("A"), party("B", kind="corporate")),
        (party("A", core="1"), party("B", core="2")),
    ]:
        with pytest.raises(RuleBroken):
            check_merge(survivor, duplicate)


def test_patch_cannot_touch_identity_owner_or_the_other_kinds_fields():
    from crm_profile.domain.customer import fields_not_patchable

    assert fields_not_patchable("individual", ["tags", "phones", "risk"]) == []
    assert fields_not_patchable("individual", ["industry", "owner", "id_document", "kind"]) == [
        "id_document",
        "industry",
        "kind",
        "owner",
    ]
    assert fields_not_patchable("corporate", ["industry", "gender", "birthday"]) == ["birthday", "gender"]


def test_patch_schema_and_editable_fields_agree():
    from crm_profile.domain.customer import EDITABLE_FIELDS
    from crm_profile.schemas import CustomerUpdate

    assert set(CustomerUpdate.model_fields) - {"channel"} == set(EDITABLE_FIELDS)


def test_patch_refuses_null_for_fields_a_customer_must_have():
    from pydantic import ValidationError

    from crm_profile.schemas import CustomerUpdate

    for field in ("name", "phones", "tags", "segment"):
        with pytest.raises(ValidationError, match=field):
            CustomerUpdate.model_validate({"channel": "terminal", field: None})
    assert CustomerUpdate.model_validate({"channel": "terminal", "email": None}).changes() == {"email": None}


def test_segments_belong_to_a_kind():
    from crm_profile.domain.customer import check_segment

    check_segment("individual", "vip")
    check_segment("corporate", "sme")
    with pytest.raises(RuleBroken):
        check_segment("individual", "sme")


def test_merged_consents_keep_the_latest_decision_and_never_lose_an_opt_out():
    from datetime import datetime

    from crm_profile.domain.customer import merged_consents

    def c(granted, day):
        return {"granted": granted, "changed_at": datetime(2026, 11, day), "source": "terminal", "changed_by": "S"}

    survivor = {"sms": c(True, 1), "email": c(True, 5), "phone": c(True, 3)}
    duplicate = {"sms": c(False, 2), "email": c(False, 4), "phone": c(False, 3), "app": c(True, 1)}
    merged = merged_consents(survivor, duplicate)
    assert merged["sms"]["granted"] is False  # the later opt-out on the duplicate
    assert merged["email"]["granted"] is True  # the survivor decided later
    assert merged["phone"]["granted"] is False  # same moment: the refusal wins
    assert merged["app"]["granted"] is True
