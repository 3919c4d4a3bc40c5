from pydantic import AliasChoices, Field

from crm_kit.settings import ServiceSettings


class TieringSettings(ServiceSettings):
    service_name: str = "tiering"
    port: int = Field(default=8002, validation_alias=AliasChoices("TIERING_PORT", "port"))
    mongodb_database: str = "crm_tiering"
    rollout_chunk_size: int = Field(
        default=500, ge=1, description="customers re-tiered per transaction after a policy change"
    )
    sweep_interval_seconds: float = Field(
        default=5.0, gt=0, description="how often due re-evaluations (grace ends, dormancy) are looked for"
    )
