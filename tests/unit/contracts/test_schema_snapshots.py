"""Stored JSON Schema snapshots of every event contract: a breaking change fails here, an additive
one passes. After an intended additive change: UPDATE_SNAPSHOTS=1 pytest tests/unit/contracts."""

import json
import os
from pathlib import Path

import pytest

import crm_contracts
from crm_contracts.corebank import BalanceSnapshot
from crm_contracts.envelope import CloudEvent
from crm_contracts.registry import EVENTS

SNAPSHOTS = Path(crm_contracts.__file__).parent / "schemas"
CONTRACTS = {**{t: CloudEvent[m] for t, m in EVENTS.items()}, "corebank.balance-snapshot.v1": BalanceSnapshot}


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        schema = root["$defs"][name]
    return schema


def breaking_changes(
    old: dict, new: dict, path: str = "", old_root: dict | None = None, new_root: dict | None = None
) -> list[str]:
    old_root, new_root = old_root or old, new_root or new
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    problems = []
    if old.get("type") != new.get("type"):
        problems.append(f"{path or 'root'}: type {old.get('type')} became {new.get('type')}")
    if json.dumps(old.get("anyOf"), sort_keys=True) != json.dumps(new.get("anyOf"), sort_keys=True):
        problems.append(f"{path}: union changed")
    if "enum" in old and set(old["enum"]) - set(new.get("enum", old["enum"])):
        problems.append(f"{path}: enum values removed")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, sub in old_props.items():
        if name not in new_props:
            problems.append(f"{path}.{name}: removed")
        else:
            problems += breaking_changes(sub, new_props[name], f"{path}.{name}", old_root, new_root)
    for name in set(old.get("required", [])) - set(new.get("required", [])):
        problems.append(f"{path}.{name}: no longer required")
    return problems


@pytest.mark.parametrize("event_type", sorted(CONTRACTS))
def test_contract_matches_snapshot(event_type):
    current = CONTRACTS[event_type].model_json_schema(mode="serialization")
    file = SNAPSHOTS / f"{event_type}.json"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not file.exists():
        assert os.environ.get("UPDATE_SNAPSHOTS") == "1", f"no snapshot for {event_type}: run with UPDATE_SNAPSHOTS=1"
        file.write_text(json.dumps(current, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    stored = json.loads(file.read_text())
    assert breaking_changes(stored, current) == []


def test_checker_catches_breaking_changes():
    old = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    assert breaking_changes(old, {**old, "properties": {"a": {"type": "string"}}})  # removed field
    assert breaking_changes(old, {**old, "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}})
    assert breaking_changes(old, {**old, "required": []})
    additive = {**old, "properties": {**old["properties"], "c": {"type": "string"}}}
    assert breaking_changes(old, additive) == []


def test_every_event_type_follows_the_naming_rule():
    for event_type in EVENTS:
        _service, _entity, what, version = event_type.split(".")[1:]
        assert event_type.startswith("crm.") and version == "v1" and what == what.lower()
