"""The stack's map of who consumes what (used by the fault suite and the recovery benchmark) names the groups the
services' subscribers declare, so a renamed group cannot leave the fault suite watching a group nobody uses."""

import importlib

import pytest

from crm_cli.stack import CONSUMER_GROUPS


@pytest.mark.parametrize("service", sorted(CONSUMER_GROUPS))
def test_the_consumer_groups_are_the_ones_the_subscribers_declare(service):
    subscribers = importlib.import_module(f"crm_{service}.entrypoints.subscribers")
    declared = {value for name, value in vars(subscribers).items() if name.endswith("_GROUP")}
    assert declared == set(CONSUMER_GROUPS[service].values())
