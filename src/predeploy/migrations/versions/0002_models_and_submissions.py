"""models and submissions

Revision ID: 0002
Revises: 0001

Submission history is append-only from the start: triggers refuse UPDATE and DELETE on it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import predeploy.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _created_at() -> sa.Column[object]:
    return sa.Column("created_at", predeploy.db.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "ai_models",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("weights_digest", sa.String(length=200), nullable=True),
        sa.Column("modalities", sa.JSON(), nullable=False),
        sa.Column("training_flop", sa.Float(), nullable=True),
        sa.Column("declared_frontier", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_ai_models_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_models")),
        sa.UniqueConstraint("org_id", "name", "version", name=op.f("uq_ai_models_org_id")),
    )
    with op.batch_alter_table("ai_models", schema=None) as batch_op:
        batch_op.create_index("ix_ai_models_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_ai_models_org_created", ["org_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "submissions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("planned_release_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("access_granted_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("access_expires_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("window_start", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("report_due_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("compressed_window", sa.Boolean(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("in_scope", sa.Boolean(), nullable=False),
        sa.Column("scope_reason", sa.String(length=300), nullable=False),
        sa.Column("contacts", sa.JSON(), nullable=False),
        sa.Column("declared_safeguards", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        _created_at(),
        sa.Column("updated_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("notified_window_open", sa.Boolean(), nullable=False),
        sa.Column("notified_due_soon_for", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notified_overdue_for", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["ai_models.id"], name=op.f("fk_submissions_model_id_ai_models")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_submissions_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submissions")),
    )
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_index("ix_submissions_created", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_submissions_model_id"), ["model_id"], unique=False)
        batch_op.create_index(
            "ix_submissions_org_created", ["org_id", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_submissions_state_due", ["state", "report_due_at"], unique=False)

    op.create_table(
        "access_variants",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("submission_id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=300), nullable=False),
        sa.Column("base_url", sa.String(length=2000), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_access_variants_submission_id_submissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_variants")),
        sa.UniqueConstraint(
            "submission_id", "label", name=op.f("uq_access_variants_submission_id")
        ),
    )
    with op.batch_alter_table("access_variants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_variants_submission_id"), ["submission_id"], unique=False
        )

    op.create_table(
        "access_keys",
        sa.Column("variant_id", sa.String(length=36), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        _created_at(),
        sa.Column("destroyed_at", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("destroyed_reason", sa.String(length=50), nullable=True),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["access_variants.id"],
            name=op.f("fk_access_keys_variant_id_access_variants"),
        ),
        sa.PrimaryKeyConstraint("variant_id", name=op.f("pk_access_keys")),
    )

    op.create_table(
        "submission_attachments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("submission_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_submission_attachments_submission_id_submissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission_attachments")),
    )
    with op.batch_alter_table("submission_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_submission_attachments_submission_id"), ["submission_id"], unique=False
        )

    op.create_table(
        "submission_transitions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("submission_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor_user_id", sa.String(length=36), nullable=True),
        sa.Column("actor_label", sa.String(length=100), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_submission_transitions_submission_id_submissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission_transitions")),
        sa.UniqueConstraint(
            "submission_id", "seq", name=op.f("uq_submission_transitions_submission_id")
        ),
    )
    for statement in predeploy.db.append_only_statements(
        op.get_bind().dialect.name, "submission_transitions"
    ):
        op.execute(statement)


def downgrade() -> None:
    # Dropping a table drops its triggers with it (SQLite and PostgreSQL).
    for table in (
        "submission_transitions",
        "submission_attachments",
        "access_keys",
        "access_variants",
        "submissions",
        "ai_models",
    ):
        op.drop_table(table)
