"""Settings, read from `PREDEPLOY_*` environment variables (or a `.env` file)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime settings for the server, the workers and the CLI."""

    model_config = SettingsConfigDict(env_prefix="PREDEPLOY_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path(".predeploy"),
        description="Where the embedded database, keys and artifacts live.",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite in the data dir."
    )

    report_buffer_days: float = Field(
        default=2.0, ge=0, description="The report is due this long before the planned release."
    )
    max_window_days: float = Field(
        default=30.0, gt=0, description="Testing starts at the earliest this long before release."
    )
    max_release_ahead_days: float = Field(
        default=365.0, gt=0, description="A planned release further ahead is rejected."
    )
    min_window_days: float = Field(
        default=7.0, ge=0, description="A shorter testing window is accepted but flagged."
    )
    scope_min_training_flop: float = Field(
        default=1e26,
        gt=0,
        description="Models at or above this declared compute are in scope for priority testing.",
    )

    capability_scale_file: Path | None = Field(
        default=None,
        description="The agency's capability scale (YAML, docs/capability-scale.md) that report "
        "drafts determine the level against; default: the scale shipped with predeploy.",
    )
    determination_max_error_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Above this share of infrastructure errors among the target's samples, a "
        "report's determination is inconclusive.",
    )
    determination_confidence: float = Field(
        default=0.95,
        gt=0,
        lt=1,
        description="Confidence level of the intervals a report's determination is made with.",
    )

    max_request_bytes: int = Field(
        default=1_048_576,
        gt=0,
        description="Largest accepted request body (attachment uploads: max_attachment_bytes).",
    )
    http_threads: int = Field(
        default=8, ge=1, le=200, description="Threads that run sync routes in one server process."
    )
    max_attachment_bytes: int = Field(
        default=10 * 1_048_576, gt=0, description="Largest accepted model card or system card."
    )
    max_import_bytes: int = Field(
        default=256 * 1_048_576,
        gt=0,
        description="Largest advisory import upload (a record file or a zip bundle of them).",
    )
    taxii_max_content_length: int = Field(
        default=10 * 1_048_576,
        gt=0,
        description="Largest TAXII request body (the API root's max_content_length).",
    )
    session_idle_minutes: float = Field(
        default=30.0, gt=0, description="A web session ends after this long without a request."
    )
    session_max_hours: float = Field(
        default=12.0, gt=0, description="A web session ends this long after sign-in, active or not."
    )
    cookie_secure: bool = Field(
        default=False,
        description="Send the session cookie only over HTTPS (set it whenever users reach the "
        "server through TLS; the cookie is then named with the __Host- prefix).",
    )
    login_max_failures: int = Field(
        default=10,
        ge=1,
        description="Failed sign-ins in a row after which an account is locked for a while.",
    )
    login_lockout_minutes: float = Field(
        default=15.0, gt=0, description="How long an account stays locked after too many failures."
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The URL users reach this server at: the CSAF publisher namespace.",
    )
    csaf_provider_role: Literal["csaf_publisher", "csaf_provider", "csaf_trusted_provider"] = Field(
        default="csaf_trusted_provider",
        description="The CSAF 2.0 role stated in provider-metadata.json. Documents are "
        "hashed and signed, as a trusted provider's must be; the role also needs TLS "
        "(an https public_url).",
    )
    csaf_list_on_aggregators: bool = Field(
        default=True, description="Whether CSAF aggregators may list this provider."
    )
    csaf_mirror_on_aggregators: bool = Field(
        default=True, description="Whether CSAF aggregators may mirror this provider's documents."
    )
    csaf_openpgp_home: Path | None = Field(
        default=None,
        description="GNUPGHOME of the OpenPGP key that signs CSAF documents; default: "
        "`openpgp` in the data dir.",
    )
    cve_cna_org_id: str | None = Field(
        default=None,
        description="The CVE Program's UUID of the agency as a CNA (CVE 5 exports); "
        "default: the agency org's id.",
    )
    cve_cna_short_name: str | None = Field(
        default=None, description="The agency's CNA short name; default: from its org name."
    )
    vuln_rate_limit_per_hour: int = Field(
        default=100, gt=0, description="Vulnerability reports one org may file per hour."
    )
    token_default_ttl_days: int = Field(
        default=90, gt=0, description="Lifetime of an API token when none is given."
    )

    webhook_max_attempts: int = Field(default=8, gt=0)
    webhook_backoff_seconds: float = Field(default=30.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)

    artifact_store: str | None = Field(
        default=None,
        description="Where eval logs go: a directory or any fsspec URL Inspect accepts (e.g. "
        "s3://bucket/predeploy); default: `artifacts` in the data dir.",
    )
    transcript_retention_days: float = Field(
        default=365.0,
        gt=0,
        description="Transcripts and proofs of concept are deleted this long after the report.",
    )
    worker_lease_seconds: float = Field(
        default=60.0, gt=0, description="A job whose worker stops heartbeating is claimed again."
    )
    worker_heartbeat_seconds: float = Field(default=5.0, gt=0)
    worker_ingest_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often a running job's flushed results are stored (and at its end).",
    )
    worker_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often an idle worker looks for a job."
    )
    job_max_attempts: int = Field(default=5, ge=1, le=100)
    job_retry_backoff_seconds: float = Field(default=30.0, ge=0)
    model_max_connections: int = Field(
        default=16, ge=1, le=1000, description="Concurrent calls to one model endpoint per job."
    )
    model_attempt_timeout_seconds: float = Field(
        default=300.0, gt=0, description="One model call longer than this is retried."
    )
    sample_error_retries: int = Field(
        default=3, ge=0, le=20, description="Times a sample that errored is run again."
    )
    log_flush_samples: int = Field(
        default=2,
        ge=1,
        le=1000,
        description="Samples buffered before they are written to the eval log (what a re-claimed "
        "job can resume from).",
    )

    @cached_property
    def resolved_artifact_store(self) -> str:
        """The artifact store: a local directory (absolute) or an fsspec URL."""
        if self.artifact_store:
            if "://" in self.artifact_store:
                return self.artifact_store.rstrip("/")
            return str(Path(self.artifact_store).resolve())
        return str((self.data_dir / "artifacts").resolve())

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'predeploy.db').resolve()}"

    @property
    def secret_key_path(self) -> Path:
        """Fernet key that encrypts secrets at rest (created on first use, mode 0600)."""
        return self.data_dir / "secret.key"

    @property
    def signing_key_path(self) -> Path:
        """The agency's Ed25519 private key (created on first use, mode 0600)."""
        return self.data_dir / "signing.key"

    @property
    def retired_signing_keys_dir(self) -> Path:
        """Public keys of signing keys retired by rotations (`KEY_ID.pem`): old signatures verify."""
        return self.data_dir / "retired-signing-keys"

    @property
    def openpgp_home(self) -> Path:
        """GNUPGHOME of the CSAF signing key (created on first use, mode 0700)."""
        return self.csaf_openpgp_home or self.data_dir / "openpgp"
