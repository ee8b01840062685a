"""One frozen settings object. Environment prefix TRIPGUARD_; CLI flags mirror the fields."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tripguard.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIPGUARD_", frozen=True, extra="forbid")

    # Kafka
    bootstrap: str | None = Field(None, description="HOST:PORT of a Kafka broker; none = start the embedded one.")
    group: str = "tripguard"
    pings_topic: str = "tripguard.pings"
    trips_topic: str = "tripguard.trips"
    alerts_topic: str = "tripguard.alerts"
    verdicts_topic: str = "tripguard.verdicts"
    dlq_topic: str = "tripguard.dlq"
    decisions_topic: str = "tripguard.decisions"
    changelog_topic: str = Field(
        "tripguard.state-changelog",
        description="Compacted topic holding each input "
        "partition's live trip state (one per group, like Kafka Streams' changelogs).",
    )
    # the driver-risk stage (`tripguard risk`, docs/risk.md)
    risk_group: str = Field(
        "tripguard.risk",
        description="Consumer group of the driver-risk stage (its repartitioner uses this + '.repartition').",
    )
    by_driver_topic: str = Field("tripguard.by-driver", description="Verdicts and decisions keyed by driver_id.")
    driver_risk_topic: str = "tripguard.driver-risk"
    risk_changelog_topic: str = Field(
        "tripguard.risk-changelog", description="Compacted topic holding each by-driver partition's driver histories."
    )
    partitions: int = Field(4, ge=1)
    idempotent_producer: bool = Field(False, description="Tansu rejects InitProducerId; turn on against Apache Kafka.")
    batch_max_records: int = Field(10_000, ge=1)
    batch_max_ms: int = Field(200, ge=1)
    pause_close_s: float = Field(10.0, ge=0.0, description="Wall-clock pause after which ended trips close early.")
    state_dir: Path = Field(
        Path(".tripguard/state"), description="Local cache of partition state (the changelog topic is the truth)."
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address of the worker's /metrics and /healthz; 0.0.0.0 "
        "for a scraper on another host (docker-compose sets it).",
    )
    metrics_port: int = Field(9464, ge=0, le=65535)
    checkpoint_interval_s: float = Field(5.0, gt=0.0, description="Wall-clock time between worker checkpoints.")
    poison_attempts: int = Field(
        3, ge=1, description="Times a message may make the engine raise before it is dead-lettered."
    )
    engine_retry_s: float = Field(
        1.0,
        ge=0.0,
        description="First wait before a partition whose engine raised is rebuilt and retried (doubling, up to 60 s).",
    )
    create_topics: bool = Field(
        False,
        description="The worker creates missing topics (at start and after a broker "
        "restart); always on with the embedded broker.",
    )

    # Engine
    tariffs: Path | None = Field(None, description="TOML tariffs overriding the shipped ones.")
    cities: Path | None = Field(None, description="TOML city parameters overriding the shipped ones.")
    corridors: Path | None = Field(None, description="Learned-corridor model (tripguard fit-corridors).")
    end_grace_s: float = Field(120.0, ge=0.0, description="Event time a trip stays open after trip_ended.")
    idle_timeout_s: float = Field(1800.0, gt=0.0, description="Event time without news after which a trip closes.")

    # Review service
    db: Path = Path("tripguard.db")
    forwarded_allow_ips: str | None = Field(
        None,
        description="Comma-separated addresses or CIDR ranges of the reverse proxies whose X-Forwarded-Proto "
        "and X-Forwarded-For `serve` believes ('*': any peer); none = those headers are ignored.",
    )
    cookie_secure: bool = Field(
        False,
        description="Always mark the review page's cookies Secure (behind a TLS "
        "proxy); otherwise only when the request came over https.",
    )

    # Numba
    numba_cache_dir: Path | None = Field(
        None,
        description="Numba's compile cache (NUMBA_CACHE_DIR); applied by "
        "apply_numba_cache, since Numba reads it when it is imported.",
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, v: str | None) -> str | None:
        if v is None:
            return v
        entries = [e.strip() for e in v.split(",")]
        for entry in entries:
            if entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"{entry!r} is not an IP address or CIDR range (or '*')") from None
        return ",".join(entries)


def load_settings(**overrides) -> Settings:
    """Settings from the environment, with explicitly given values (CLI flags) on top."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise ConfigError(f"setting {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def apply_numba_cache() -> None:
    """Point Numba's compile cache at TRIPGUARD_NUMBA_CACHE_DIR, when set. Numba reads
    NUMBA_CACHE_DIR once, when it is imported, so this runs first: the CLI calls it before any
    command (the environment is read directly, so a bad unrelated setting fails only the command
    that uses it). Child processes (the kernel compile) inherit it."""
    directory = os.environ.get("TRIPGUARD_NUMBA_CACHE_DIR")
    if directory:
        os.environ["NUMBA_CACHE_DIR"] = directory
