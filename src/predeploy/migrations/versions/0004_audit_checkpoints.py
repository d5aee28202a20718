"""audit checkpoints

Revision ID: 0004
Revises: 0003

Signed checkpoints of the audit chain (append-only, like the chain itself), and an index for
listing one object's history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import predeploy.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("signed_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_checkpoints")),
    )
    # A plain CREATE INDEX: a batch (copy-and-move) rebuild on SQLite would drop the triggers.
    op.create_index(
        "ix_audit_events_object_seq", "audit_events", ["object_type", "object_id", "seq"]
    )
    for statement in predeploy.db.append_only_statements(
        op.get_bind().dialect.name, "audit_checkpoints"
    ):
        op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_audit_events_object_seq", table_name="audit_events")
    op.drop_table("audit_checkpoints")
