"""clearinghouse advisories

Revision ID: 0010
Revises: 0009

Advisories published from cases, with every revision kept, and a case's pending request to end
its embargo early (which a second analyst approves).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import predeploy.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[predeploy.db.UTCDateTime]:
    return sa.Column(name, predeploy.db.UTCDateTime(timezone=True), nullable=nullable)


def _id(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=36), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(_id("override_requested_by", nullable=True))
        batch_op.add_column(sa.Column("override_reason", sa.Text(), nullable=True))
        batch_op.add_column(_when("override_requested_at", nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_override_requested_by_users"),
            "users",
            ["override_requested_by"],
            ["id"],
        )

    op.create_table(
        "advisories",
        _id("id"),
        sa.Column("number", sa.String(length=20), nullable=False),
        _id("case_id"),
        sa.Column("tlp", sa.String(length=20), nullable=False),
        _when("embargo_end", nullable=True),
        sa.Column("published_revision", sa.Integer(), nullable=False),
        _when("published_at", nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_advisories_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisories")),
        sa.UniqueConstraint("case_id", name=op.f("uq_advisories_case_id")),
        sa.UniqueConstraint("number", name=op.f("uq_advisories_number")),
    )
    with op.batch_alter_table("advisories", schema=None) as batch_op:
        batch_op.create_index("ix_advisories_published", ["published_at", "id"], unique=False)

    op.create_table(
        "advisory_revisions",
        _id("id"),
        _id("advisory_id"),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        _id("author_id", nullable=True),
        _when("created_at"),
        _id("approved_by", nullable=True),
        _when("published_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["advisory_id"],
            ["advisories.id"],
            name=op.f("fk_advisory_revisions_advisory_id_advisories"),
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["users.id"], name=op.f("fk_advisory_revisions_approved_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_advisory_revisions_author_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisory_revisions")),
        sa.UniqueConstraint(
            "advisory_id", "number", name=op.f("uq_advisory_revisions_advisory_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("advisory_revisions")
    op.drop_table("advisories")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_cases_override_requested_by_users"), type_="foreignkey"
        )
        batch_op.drop_column("override_requested_at")
        batch_op.drop_column("override_reason")
        batch_op.drop_column("override_requested_by")
