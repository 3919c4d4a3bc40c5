"""Event contracts shared by the CRM services: topics, the CloudEvents envelope and payloads."""

from crm_contracts import topics
from crm_contracts.envelope import CloudEvent

__all__ = ["CloudEvent", "topics"]
