"""Settings every service shares. Each service subclasses `ServiceSettings` once.

Variable names are unprefixed and identical across services (KAFKA_BOOTSTRAP_SERVERS,
MONGODB_URI, CRM_JWT_SECRET …) so one environment file configures the whole stack.
"""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    service_name: str
    host: str = "127.0.0.1"
    port: int
    # Every service names its settings the same way: EVENT_BATCH_SIZE for its consumers of other services' events,
    # <JOB>_INTERVAL_SECONDS and <JOB>_CHUNK_SIZE for its background jobs, CLOCK_DATE to pin the business date.
    event_batch_size: int = Field(default=500, ge=1, description="events consumed per transaction")
    clock_date: date | None = Field(
        default=None,
        description="pin the business date (demos, replays, tests); default: today in the bank's time zone",
    )

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # The embedded Tansu broker does not implement the idempotent producer; real Kafka does.
    kafka_idempotent_producer: bool = True
    kafka_topic_partitions: int = 6
    # Kafka's minimum: a killed process's membership lingers this long and holds up its successor's join
    # (Tansu also holds every join for half of it), so a restart is back at work within seconds.
    kafka_session_timeout_ms: int = Field(default=6_000, ge=6_000)
    kafka_replication_factor: int = Field(default=1, ge=1, description="for topics this service creates")
    # A consumer's fetch waits up to this long for this many bytes: under load a poll brings a full batch
    # (fewer transactions and round trips per event); when quiet, a message waits at most the wait.
    kafka_fetch_min_bytes: int = Field(default=65_536, ge=1)
    kafka_fetch_max_wait_ms: int = Field(default=200, ge=0, le=5_000)
    # How often each replica checks that its topics (and their .dlt) exist and recreates missing ones: a broker
    # can come back empty. A failed send checks at once.
    kafka_topic_check_seconds: float = Field(default=10.0, gt=0)
    # Prefixes every topic and consumer-group name; lets several environments (or test runs) share one cluster.
    kafka_topic_prefix: str = ""
    mongodb_uri: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongodb_database: str
    # Bounds on every database call, so a stalled database is an error in seconds, not a hang (see crm_kit.db).
    mongodb_server_selection_timeout_ms: int = Field(default=3_000, ge=100)
    mongodb_connect_timeout_ms: int = Field(default=3_000, ge=100)
    mongodb_socket_timeout_ms: int = Field(
        default=30_000, ge=1_000, description="each round trip of consumers and jobs"
    )
    http_database_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="all database calls of one HTTP request; past it the answer is 503 with Retry-After",
    )
    http_bulk_database_timeout_seconds: float = Field(
        default=120.0, gt=0, description="the same for bulk requests (customer batches, balance batches)"
    )
    readiness_database_timeout_seconds: float = Field(default=2.0, gt=0, description="the ping behind /readyz")

    log_format: Literal["json", "console"] = "json"
    log_level: str = "INFO"

    crm_jwt_secret: SecretStr | None = None
    crm_jwt_jwks_url: str | None = None
    crm_jwt_issuer: str | None = None

    crm_data_key: SecretStr = Field(description="base64 of 32 random bytes: AES-256-GCM key for sensitive fields")
    crm_lookup_key: SecretStr = Field(description="base64 of 32 random bytes: HMAC key for exact lookups")

    outbox_relay_enabled: bool = True
    # A commit in this process wakes the relay at once; the poll only picks up other replicas' commits.
    outbox_poll_seconds: float = 1.0
    outbox_batch_size: int = 500
    # How long each consumer group remembers the ids it applied. Longer than the topics' retention (Kafka's
    # default is 7 days), so no record the broker can still redeliver is forgotten (deploy/README.md).
    inbox_retention_seconds: int = Field(default=14 * 24 * 3600, ge=1)
    consumer_max_attempts: int = Field(default=3, ge=1)
    consumer_retry_backoff_seconds: float = 0.2
    shutdown_grace_seconds: float = 10.0
    lease_seconds: float = Field(
        default=15.0,
        ge=1,
        description="how long a leased job's or the outbox relay's lease lasts when not renewed: "
        "how soon another replica takes over from a dead or stopped holder",
    )
    calendar_override_file: Path | None = Field(
        default=None, description="JSON holidays/make-up workdays by year; overrides chinesecalendar (deploy/README.md)"
    )
    calendar_refresh_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how often each replica re-reads the loaded official schedules and the override file",
    )

    def topic(self, name: str) -> str:
        return f"{self.kafka_topic_prefix}{name}"

    @field_validator("crm_data_key", "crm_lookup_key")
    @classmethod
    def _is_32_bytes(cls, v: SecretStr) -> SecretStr:
        try:
            raw = base64.b64decode(v.get_secret_value(), validate=True)
        except Exception as exc:
            raise ValueError("must be base64") from exc
        if len(raw) != 32:
            raise ValueError(f"must decode to 32 bytes, got {len(raw)}")
        return v
