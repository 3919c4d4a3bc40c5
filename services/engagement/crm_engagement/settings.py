from pydantic import AliasChoices, Field

from crm_kit.settings import ServiceSettings


class EngagementSettings(ServiceSettings):
    service_name: str = "engagement"
    port: int = Field(default=8003, validation_alias=AliasChoices("ENGAGEMENT_PORT", "port"))
    mongodb_database: str = "crm_engagement"
    scheduler_interval_seconds: float = Field(
        default=60.0, gt=0, description="how often the scheduler looks for a new day's work"
    )
    scheduler_chunk_size: int = Field(
        default=200, ge=1, description="customers planned per transaction by the scheduler"
    )
