from pydantic import AliasChoices, Field

from crm_kit.settings import ServiceSettings


class ProfileSettings(ServiceSettings):
    service_name: str = "profile"
    port: int = Field(default=8001, validation_alias=AliasChoices("PROFILE_PORT", "port"))
    mongodb_database: str = "crm_profile"
    balance_batch_size: int = Field(default=500, ge=1, description="snapshots consumed per transaction")
