"""campaigns

Revision ID: 0005
Revises: 0004

Versioned test plans, campaigns, their jobs (the work queue), sample starts (to count re-runs) and
sample results; a submission's at-risk flag.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import predeploy.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "test_plans",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("declared_duration_seconds", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_plans")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_test_plans_name")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("submission_id", sa.String(length=36), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("seeds", sa.JSON(), nullable=False),
        sa.Column("estimated_seconds", sa.Float(), nullable=False),
        sa.Column("estimate_source", sa.String(length=100), nullable=False),
        sa.Column("at_risk", sa.Boolean(), nullable=False),
        sa.Column("log_root", sa.String(length=2000), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("transcripts_deleted_at", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["test_plans.id"], name=op.f("fk_campaigns_plan_id_test_plans")
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_campaigns_submission_id_submissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index("ix_campaigns_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_campaigns_submission_created", ["submission_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "campaign_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("item_index", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=500), nullable=False),
        sa.Column("model_label", sa.String(length=100), nullable=False),
        sa.Column("variant_id", sa.String(length=36), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("log_dir", sa.String(length=2000), nullable=False),
        sa.Column("samples_total", sa.Integer(), nullable=True),
        sa.Column("samples_running", sa.Integer(), nullable=False),
        sa.Column("reruns", sa.Integer(), nullable=False),
        sa.Column("retried_failures", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_jobs_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["access_variants.id"],
            name=op.f("fk_campaign_jobs_variant_id_access_variants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_jobs")),
        sa.UniqueConstraint(
            "campaign_id", "item_index", "model_label", name=op.f("uq_campaign_jobs_campaign_id")
        ),
    )
    with op.batch_alter_table("campaign_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_jobs_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index("ix_campaign_jobs_claim", ["state", "not_before"], unique=False)

    op.create_table(
        "job_sample_starts",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.String(length=300), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("started_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["campaign_jobs.id"], name=op.f("fk_job_sample_starts_job_id_campaign_jobs")
        ),
        sa.PrimaryKeyConstraint(
            "job_id", "attempt", "sample_id", "epoch", name=op.f("pk_job_sample_starts")
        ),
    )
    op.create_table(
        "sample_results",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("item_index", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=500), nullable=False),
        sa.Column("sample_id", sa.String(length=300), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("model_label", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=300), nullable=False),
        sa.Column("family", sa.String(length=100), nullable=True),
        sa.Column("category", sa.String(length=50), nullable=True),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("score_value", sa.JSON(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("total_time", sa.Float(), nullable=True),
        sa.Column("working_time", sa.Float(), nullable=True),
        sa.Column("error_class", sa.String(length=20), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("ingested_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_sample_results_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["campaign_jobs.id"], name=op.f("fk_sample_results_job_id_campaign_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample_results")),
        sa.UniqueConstraint(
            "campaign_id",
            "item_index",
            "sample_id",
            "epoch",
            "model_label",
            name=op.f("uq_sample_results_campaign_id"),
        ),
    )
    with op.batch_alter_table("sample_results", schema=None) as batch_op:
        batch_op.create_index("ix_sample_results_job", ["job_id"], unique=False)

    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("at_risk", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("at_risk_reason", sa.Text(), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_column("at_risk_reason")
        batch_op.drop_column("at_risk")

    with op.batch_alter_table("sample_results", schema=None) as batch_op:
        batch_op.drop_index("ix_sample_results_job")

    op.drop_table("sample_results")
    op.drop_table("job_sample_starts")
    with op.batch_alter_table("campaign_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_jobs_claim")
        batch_op.drop_index(batch_op.f("ix_campaign_jobs_campaign_id"))

    op.drop_table("campaign_jobs")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_submission_created")
        batch_op.drop_index("ix_campaigns_created")

    op.drop_table("campaigns")
    op.drop_table("test_plans")
