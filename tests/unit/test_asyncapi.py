"""AsyncAPI per service, generated the way ops do it: `faststream docs gen`."""

import json
import subprocess
import sys

import pytest


def generate(service: str, tmp_path) -> dict:
    out = tmp_path / f"{service}.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "faststream",
            "docs",
            "gen",
            "--factory",
            f"crm_{service}.main:asyncapi",
            "-o",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return json.loads(out.read_text())


@pytest.mark.parametrize("service", ["profile"])
def test_asyncapi_document_names_topics_and_event_types(service, tmp_path):
    doc = generate(service, tmp_path)
    channels = list(doc["channels"])
    assert any("corebank.balances" in c for c in channels)
    assert "crm.profile.customers" in channels
    text = json.dumps(doc)
    for event in ("registered", "updated", "assets-changed", "consent-changed", "merged"):
        assert f"crm.profile.customer.{event}.v1" in text
    assert "core_customer_no" in text  # payload schemas are there, not just names


def test_tiering_asyncapi_names_what_it_consumes_and_publishes(tmp_path):
    doc = generate("tiering", tmp_path)
    channels = list(doc["channels"])
    for topic in ("crm.tiering.customers", "crm.profile.customers", "crm.complaints.cases"):
        assert any(topic in c for c in channels), (topic, channels)
    text = json.dumps(doc)
    for event in ("tier-changed", "owner-assigned", "lifecycle-changed", "churn-risk-raised", "churn-risk-cleared"):
        assert f"crm.tiering.customer.{event}.v1" in text
    assert "policy_version" in text


def test_engagement_asyncapi_names_what_it_consumes_and_publishes(tmp_path):
    doc = generate("engagement", tmp_path)
    channels = list(doc["channels"])
    for topic in ("crm.engagement.tasks", "crm.profile.customers", "crm.tiering.customers", "crm.complaints.cases"):
        assert any(topic in c for c in channels), (topic, channels)
    for group in ("crm-engagement.profile", "crm-engagement.tiering", "crm-engagement.complaints"):
        assert any(group in c for c in channels), (group, channels)
    text = json.dumps(doc)
    for event in (
        "task.created",
        "task.completed",
        "task.reassigned",
        "task.cancelled",
        "task.overdue",
        "interaction.logged",
        "contact.blocked",
        "recommendation.recorded",
        "survey.answered",
        "points.changed",
    ):
        assert f"crm.engagement.{event}.v1" in text
    assert "due_on" in text  # payload schemas are there, not just names


def test_complaints_asyncapi_names_what_it_consumes_and_publishes(tmp_path):
    doc = generate("complaints", tmp_path)
    channels = list(doc["channels"])
    for topic in ("crm.complaints.cases", "crm.profile.customers", "crm.tiering.customers"):
        assert any(topic in c for c in channels), (topic, channels)
    for group in ("crm-complaints.profile", "crm-complaints.tiering"):
        assert any(group in c for c in channels), (group, channels)
    text = json.dumps(doc)
    for event in ("opened", "closed", "status-changed", "deadline-approaching", "sla-breached"):
        assert f"crm.complaints.complaint.{event}.v1" in text
    assert "decision_due" in text  # payload schemas are there, not just names
