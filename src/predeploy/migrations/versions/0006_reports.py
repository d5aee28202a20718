"""reports

Revision ID: 0006
Revises: 0005

Report versions (drafts and signed issues), evaluators' findings, and agency settings (the
two-person rule for issuing reports).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import predeploy.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agency_settings",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=36), nullable=True),
        sa.Column("updated_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_agency_settings")),
    )
    op.create_table(
        "report_findings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("submission_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("transcripts", sa.JSON(), nullable=False),
        sa.Column("vuln_id", sa.String(length=36), nullable=True),
        sa.Column("author_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_report_findings_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_report_findings_submission_id_submissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_findings")),
    )
    with op.batch_alter_table("report_findings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_findings_submission_created", ["submission_id", "created_at"], unique=False
        )

    op.create_table(
        "reports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("submission_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("supersedes_id", sa.String(length=36), nullable=True),
        sa.Column("amendment_reason", sa.Text(), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("signed_bytes", sa.LargeBinary(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("signature", sa.String(length=100), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("author_id", sa.String(length=36), nullable=False),
        sa.Column("approver_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_at", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("issued_at", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["approver_id"], ["users.id"], name=op.f("fk_reports_approver_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_reports_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"], name=op.f("fk_reports_submission_id_submissions")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"], ["reports.id"], name=op.f("fk_reports_supersedes_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("submission_id", "version", name=op.f("uq_reports_submission_id")),
    )


def downgrade() -> None:
    op.drop_table("reports")
    with op.batch_alter_table("report_findings", schema=None) as batch_op:
        batch_op.drop_index("ix_report_findings_submission_created")

    op.drop_table("report_findings")
    op.drop_table("agency_settings")
