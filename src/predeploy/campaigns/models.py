"""Tables: test plans (versioned), campaigns, their jobs, sample starts and sample results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..db import ID, Base, new_id


class TestPlan(Base):
    """One version of a named test plan; a plan's versions are never changed, only added."""

    __tablename__ = "test_plans"
    __table_args__ = (UniqueConstraint("name", "version"),)
    __test__ = False  # not a pytest test class, despite its name

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    # The validated plan (`schemas.PlanDocument`) as canonical JSON, and its SHA-256: importing
    # the same document again is recognised and does not make a new version.
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))
    declared_duration_seconds: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str | None] = mapped_column(ID, default=None)
    created_at: Mapped[datetime]


class Campaign(Base):
    """One run of a test plan against one submission."""

    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_submission_created", "submission_id", "created_at", "id"),
        Index("ix_campaigns_created", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"))
    plan_id: Mapped[str] = mapped_column(ForeignKey("test_plans.id"))
    state: Mapped[str] = mapped_column(String(20))
    # Seeds drawn for each suite item (by item index), recorded before any job runs.
    seeds: Mapped[dict[str, Any]] = mapped_column(JSON)
    estimated_seconds: Mapped[float] = mapped_column(Float)
    estimate_source: Mapped[str] = mapped_column(String(100))
    at_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    log_root: Mapped[str] = mapped_column(String(2000))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(ID, default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    transcripts_deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class Job(Base):
    """One plan item against one model: one Inspect `eval_set` into its own log dir.

    Claimed by a worker under a lease that heartbeats extend; an expired lease lets another
    worker claim it again, and `eval_set` then resumes from what the log holds.
    """

    __tablename__ = "campaign_jobs"
    __table_args__ = (
        UniqueConstraint("campaign_id", "item_index", "model_label"),
        Index("ix_campaign_jobs_claim", "state", "not_before"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    item_index: Mapped[int] = mapped_column(Integer)
    task: Mapped[str] = mapped_column(String(500))
    # The access variant's label, or `reference:<name>` for a reference model.
    model_label: Mapped[str] = mapped_column(String(100))
    variant_id: Mapped[str | None] = mapped_column(ForeignKey("access_variants.id"), default=None)
    # Everything the runner needs except the API key: task args (with seeds), limits, model.
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    # The worker of the latest attempt (kept after the lease ends, for operators and audits).
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    log_dir: Mapped[str] = mapped_column(String(2000))
    samples_total: Mapped[int | None] = mapped_column(Integer, default=None)
    samples_running: Mapped[int] = mapped_column(Integer, default=0)
    reruns: Mapped[int] = mapped_column(Integer, default=0)
    # Model-call failures that Inspect retried, by class (e.g. {"rate_limit": 3}).
    retried_failures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class SampleStart(Base):
    """A sample (and epoch) starting in one attempt of a job: the evidence for counting re-runs."""

    __tablename__ = "job_sample_starts"

    job_id: Mapped[str] = mapped_column(ForeignKey("campaign_jobs.id"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime]


class SampleResult(Base):
    """One sample and epoch of one job, as flushed to its Inspect log; final once stored."""

    __tablename__ = "sample_results"
    __table_args__ = (
        # The plan item stands for the task: one plan may run the same task twice (other args).
        UniqueConstraint("campaign_id", "item_index", "sample_id", "epoch", "model_label"),
        Index("ix_sample_results_job", "job_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    job_id: Mapped[str] = mapped_column(ForeignKey("campaign_jobs.id"))
    item_index: Mapped[int] = mapped_column(Integer)
    task: Mapped[str] = mapped_column(String(500))
    sample_id: Mapped[str] = mapped_column(String(300))
    epoch: Mapped[int] = mapped_column(Integer)
    model_label: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(300))
    family: Mapped[str | None] = mapped_column(String(100), default=None)
    category: Mapped[str | None] = mapped_column(String(50), default=None)
    level: Mapped[int | None] = mapped_column(Integer, default=None)
    seed: Mapped[int | None] = mapped_column(BigInteger, default=None)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    score_value: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)
    answer: Mapped[str | None] = mapped_column(Text, default=None)
    score_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """The score's metadata, as the log's sample summary holds it (Inspect shortens long
    values there): safeguard labels, identity answer hashes."""
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_cost: Mapped[float | None] = mapped_column(Float, default=None)
    """US dollars, as Inspect priced the sample's model calls; None when a model is unpriced."""
    total_time: Mapped[float | None] = mapped_column(Float, default=None)
    working_time: Mapped[float | None] = mapped_column(Float, default=None)
    error_class: Mapped[str] = mapped_column(String(20))
    error_message: Mapped[str] = mapped_column(Text, default="")
    attempt: Mapped[int] = mapped_column(Integer)
    ingested_at: Mapped[datetime]
