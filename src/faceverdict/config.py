"""One validated settings object: a TOML settings file, overridden by FACEVERDICT_* variables.

Unsafe defaults (the development pseudonym key, no API keys, key files generated into the
data folder, the development deployment id) are refused outside development mode.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from faceverdict.errors import ConfigurationError

DEV_PSEUDONYM_KEY = "development-only-pseudonym-key-change-me"
DEV_DEPLOYMENT_ID = "dev"


class Mode(StrEnum):
    """Development allows unsafe conveniences; production refuses them."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Every setting of the service, validated at start."""

    model_config = SettingsConfigDict(env_prefix="FACEVERDICT_", extra="forbid", frozen=True)

    mode: Mode = Mode.DEVELOPMENT
    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in data_dir"
    )
    migrate_on_start: bool = Field(
        default=True,
        description="bring the database schema to this release at start; false (scale-out): "
        "`faceverdict db upgrade` runs once as a job, and a process whose database is behind "
        "refuses to start",
    )
    policy_file: Path | None = Field(default=None, description="default: the bundled policy")
    pseudonym_key: SecretStr = SecretStr(DEV_PSEUDONYM_KEY)
    api_keys: list[SecretStr] = Field(
        default_factory=list, description="bearer tokens accepted by the API"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_upload_bytes: int = Field(default=25 * 2**20, ge=1024, le=200 * 2**20)
    max_pixels: int = Field(default=60_000_000, ge=10_000, le=400_000_000)
    inline_detectors: list[str] = Field(
        default_factory=lambda: ["provenance", "blending", "synthetic"],
        description="detectors run on every check (fusion.json calibrates this set)",
    )
    detector_threads: int = Field(
        default=2,
        ge=1,
        le=16,
        description="threads that run the detectors of one check side by side (1: in turn)",
    )
    # Fail-safe decisions: a detector that does not answer leaves the check degraded
    inline_deadline_ms: float = Field(
        default=2000.0,
        ge=50.0,
        le=60_000.0,
        description="a check's detectors answer within this or count as timed out "
        "(a flow's deadline_ms in the policy overrides it)",
    )
    assurance_deadline_ms: float = Field(default=60_000.0, ge=100.0, le=600_000.0)
    detector_timeouts_ms: dict[str, float] = Field(
        default_factory=dict,
        description="per detector name, its own timeout (default: the check's deadline)",
    )
    detector_breaker_failures: int = Field(
        default=5, ge=1, le=1000, description="consecutive failures that switch a detector off"
    )
    detector_breaker_reset_seconds: float = Field(
        default=30.0, ge=1.0, le=3600.0, description="after this, one call probes it again"
    )
    max_checks_in_flight: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="checks judged at once per process; beyond, 503 with Retry-After",
    )
    c2pa_trust_anchors_file: Path | None = Field(
        default=None,
        description="PEM bundle of the root CAs whose C2PA signers are trusted (camera makers, "
        "capture SDKs); default: none, every signer is untrusted",
    )
    c2pa_allowed_certificates_file: Path | None = Field(
        default=None, description="PEM bundle of C2PA signer certificates trusted one by one"
    )
    store_captures: bool = True

    # Evidence log
    deployment_id: str = Field(
        default=DEV_DEPLOYMENT_ID,
        pattern=r"^[a-z0-9][a-z0-9.-]{0,62}$",
        description="names this log: checkpoints carry origin faceverdict.local/<deployment_id>",
    )
    evidence_signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 signer key (C2SP PRIVATE+KEY line); development default: "
        "generated into data_dir/keys/evidence-signing.key",
    )
    checkpoint_every_entries: int = Field(default=1000, ge=1, le=10_000_000)
    checkpoint_every_seconds: float = Field(default=60.0, ge=1.0, le=86_400.0)

    # Encryption at rest of raw captures
    keystore: Literal["local", "aws-kms"] = "local"
    kek_file: Path | None = Field(
        default=None,
        description="local key-encryption key (base64 of 32 bytes); development default: "
        "generated into data_dir/keys/kek.b64",
    )
    aws_kms_key_id: str | None = Field(default=None, description="KMS key id, ARN or alias")
    aws_region: str | None = None
    aws_endpoint_url: str | None = Field(default=None, description="e.g. a local KMS emulator")

    # Retention
    retention_sweep_every_seconds: float = Field(default=3600.0, ge=10.0, le=7 * 86_400.0)

    # Human review (the rules themselves are in the policy file's review sections)
    review_lease_minutes: float = Field(default=15.0, ge=1.0, le=240.0)
    review_session_hours: float = Field(default=8.0, ge=0.25, le=24.0)
    review_idle_minutes: float = Field(default=30.0, ge=1.0, le=480.0)
    review_secure_cookies: bool | None = Field(
        default=None, description="Secure flag on UI cookies; default: on in production"
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="bearer token required by /metrics (none: open)"
    )

    # Capture storage: the local data folder (embedded) or S3-compatible object storage
    blob_store: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None
    s3_prefix: str = Field(default="", pattern=r"^([A-Za-z0-9._-]+/)*$")
    s3_endpoint_url: str | None = Field(default=None, description="e.g. MinIO or an emulator")
    s3_create_bucket: bool = Field(default=False, description="create the bucket at start")
    detector_modules: list[str] = Field(
        default_factory=list,
        description="extra modules imported at start so that their detectors register",
    )
    detector_options: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="per detector name, string options its factory receives "
        "(DetectorContext.options; environment: JSON)",
    )

    # Background jobs (assurance, webhooks, re-scans); see docs/decisions/0005
    job_queue: Literal["sqlite", "redis"] = Field(
        default="sqlite",
        description="sqlite: durable jobs in data_dir/jobs.db (embedded); redis: scale-out",
    )
    job_queue_file: Path | None = Field(default=None, description="default: data_dir/jobs.db")
    redis_url: str = "redis://127.0.0.1:6379/0"
    job_queue_name: str = Field(default="faceverdict", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    embedded_worker: bool = Field(
        default=True, description="serve runs a job worker in its own process"
    )
    worker_threads: int = Field(default=1, ge=1, le=64)
    assurance_sweep_every_seconds: float = Field(default=30.0, ge=0.5, le=86_400.0)
    assurance_detectors: list[str] | None = Field(
        default=None, description="default: every registered assurance detector"
    )

    # Periodic re-scan (faceverdict rescan on a schedule, run by the workers)
    rescan_every_hours: float | None = Field(
        default=None, ge=0.01, le=24 * 366, description="none: no scheduled re-scan"
    )
    rescan_model: str | None = Field(
        default=None, description="model version the scheduled re-scan requires"
    )
    rescan_window_days: float | None = Field(
        default=None, ge=0.01, le=36_500, description="re-scan captures stored this recently"
    )

    # Webhooks (Standard Webhooks); see docs/webhooks.md
    webhook_timeout_seconds: float = Field(default=10.0, ge=0.5, le=60.0)
    webhook_retry_window_seconds: float = Field(
        default=86_400.0, ge=1.0, le=7 * 86_400.0, description="retry for this long, then dead"
    )
    webhook_backoff_base_seconds: float = Field(default=5.0, ge=0.01, le=3600.0)
    webhook_backoff_max_seconds: float = Field(default=3600.0, ge=0.01, le=86_400.0)
    webhook_rotation_overlap_seconds: float = Field(default=86_400.0, ge=0.0, le=30 * 86_400.0)
    allow_private_webhook_targets: bool = Field(
        default=False,
        description="development only: allow http and loopback/private webhook targets",
    )

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Self:
        if self.mode is Mode.PRODUCTION:
            problems = []
            if self.pseudonym_key.get_secret_value() == DEV_PSEUDONYM_KEY:
                problems.append("FACEVERDICT_PSEUDONYM_KEY is the development default")
            elif len(self.pseudonym_key.get_secret_value()) < 32:
                problems.append("FACEVERDICT_PSEUDONYM_KEY must be at least 32 characters")
            if not self.api_keys:
                problems.append("FACEVERDICT_API_KEYS is empty: the API would be open")
            if any(len(k.get_secret_value()) < 24 for k in self.api_keys):
                problems.append("every API key must be at least 24 characters")
            if self.deployment_id == DEV_DEPLOYMENT_ID:
                problems.append("FACEVERDICT_DEPLOYMENT_ID is the development default")
            if self.evidence_signing_key_file is None:
                problems.append("FACEVERDICT_EVIDENCE_SIGNING_KEY_FILE is not set")
            if self.allow_private_webhook_targets:
                problems.append("FACEVERDICT_ALLOW_PRIVATE_WEBHOOK_TARGETS is development only")
            if self.keystore == "local" and self.kek_file is None:
                problems.append("FACEVERDICT_KEK_FILE is not set (keystore 'local')")
            if problems:
                raise ValueError("unsafe settings in production mode: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _s3_needs_its_bucket(self) -> Self:
        if self.blob_store == "s3" and not self.s3_bucket:
            raise ValueError("blob_store 's3' needs FACEVERDICT_S3_BUCKET")
        return self

    @model_validator(mode="after")
    def _schedule_needs_its_model(self) -> Self:
        if self.rescan_every_hours is not None and not self.rescan_model:
            raise ValueError("rescan_every_hours needs FACEVERDICT_RESCAN_MODEL")
        return self

    @model_validator(mode="after")
    def _keystore_needs_its_key(self) -> Self:
        if self.keystore == "aws-kms" and not self.aws_kms_key_id:
            raise ValueError("keystore 'aws-kms' needs FACEVERDICT_AWS_KMS_KEY_ID")
        return self

    @property
    def development(self) -> bool:
        """True in development mode (key files may be generated on first start)."""
        return self.mode is Mode.DEVELOPMENT

    @property
    def evidence_origin(self) -> str:
        """The log's checkpoint origin, ``faceverdict.local/<deployment id>``."""
        return f"faceverdict.local/{self.deployment_id}"

    @property
    def resolved_signing_key_file(self) -> Path:
        """The checkpoint signing key file (the development default lives in data_dir)."""
        return self.evidence_signing_key_file or self.data_dir / "keys" / "evidence-signing.key"

    @property
    def resolved_kek_file(self) -> Path:
        """The local key-encryption key file (the development default lives in data_dir)."""
        return self.kek_file or self.data_dir / "keys" / "kek.b64"

    @property
    def resolved_job_queue_file(self) -> Path:
        """The SQLite job store of the embedded default."""
        return self.job_queue_file or self.data_dir / "jobs.db"

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside ``data_dir``."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'faceverdict.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Precedence: explicit arguments, then environment, then the settings file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        settings_file = os.environ.get("FACEVERDICT_SETTINGS_FILE")
        if settings_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(settings_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Build and validate settings; any problem becomes one ConfigurationError line."""
    settings_file = os.environ.get("FACEVERDICT_SETTINGS_FILE")
    if settings_file and not Path(settings_file).is_file():
        raise ConfigurationError(f"settings file {settings_file} does not exist")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigurationError(f"invalid setting {where}: {first['msg']}") from None
    except ValueError as exc:  # e.g. a malformed TOML settings file
        raise ConfigurationError(f"invalid settings: {exc}") from None
