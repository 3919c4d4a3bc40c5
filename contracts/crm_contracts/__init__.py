"""Event contracts shared by the CRM services: topics, the CloudEvents envelope and payloads."""

from crm_contracts.envelope import CloudEvent
from crm_contracts import topics

__all__ = ["CloudEvent", "topics"]
