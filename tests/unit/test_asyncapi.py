"""AsyncAPI per service, generated the way ops do it: `faststream docs gen`."""

import json
import subprocess
import sys

import pytest


@pytest.mark.parametrize("service", ["profile"])
def test_asyncapi_document_names_topics_and_event_types(service, tmp_path):
    out = tmp_path / f"{service}.json"
    subprocess.run(
        [sys.executable, "-m", "faststream", "docs", "gen", "--factory", f"crm_{service}.main:asyncapi", "-o", str(out)],
        check=True, capture_output=True, timeout=120,
    )
    doc = json.loads(out.read_text())
    channels = list(doc["channels"])
    assert any("corebank.balances" in c for c in channels)
    assert "crm.profile.customers" in channels
    text = json.dumps(doc)
    for event in ("registered", "updated", "assets-changed", "consent-changed", "merged"):
        assert f"crm.profile.customer.{event}.v1" in text
    assert "core_customer_no" in text  # payload schemas are there, not just names
