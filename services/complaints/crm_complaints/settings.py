from pydantic import AliasChoices, Field

from crm_kit.settings import ServiceSettings


class ComplaintsSettings(ServiceSettings):
    service_name: str = "complaints"
    port: int = Field(default=8004, validation_alias=AliasChoices("COMPLAINTS_PORT", "port"))
    mongodb_database: str = "crm_complaints"
    scheduler_interval_seconds: float = Field(default=60.0, gt=0, description="how often deadlines are checked")
    routing_interval_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how often cases waiting for their customer are checked against the unverified wait",
    )
    scheduler_chunk_size: int = Field(default=200, ge=1, description="cases checked per transaction")
