"""taxii statuses

Revision ID: 0012
Revises: 0011

The status of each request that posted objects to the TAXII server, and what became of each
object (the vulnerability report it was filed as, or why it was refused).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import predeploy.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _id(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=36), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "taxii_statuses",
        _id("id"),
        _id("collection_id"),
        _id("org_id"),
        _id("user_id", nullable=True),
        sa.Column("request_timestamp", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_taxii_statuses_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_taxii_statuses_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxii_statuses")),
    )
    with op.batch_alter_table("taxii_statuses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_taxii_statuses_org_id"), ["org_id"], unique=False)

    op.create_table(
        "taxii_status_objects",
        _id("id"),
        _id("status_id"),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("object_id", sa.String(length=300), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        _id("vuln_id", nullable=True),
        sa.ForeignKeyConstraint(
            ["status_id"],
            ["taxii_statuses.id"],
            name=op.f("fk_taxii_status_objects_status_id_taxii_statuses"),
        ),
        sa.ForeignKeyConstraint(
            ["vuln_id"], ["vulns.id"], name=op.f("fk_taxii_status_objects_vuln_id_vulns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxii_status_objects")),
        sa.UniqueConstraint(
            "status_id", "position", name=op.f("uq_taxii_status_objects_status_id")
        ),
    )
    with op.batch_alter_table("taxii_status_objects", schema=None) as batch_op:
        batch_op.create_index(
            "ix_taxii_status_objects_object", ["object_id", "version"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("taxii_status_objects", schema=None) as batch_op:
        batch_op.drop_index("ix_taxii_status_objects_object")

    op.drop_table("taxii_status_objects")
    with op.batch_alter_table("taxii_statuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_taxii_statuses_org_id"))

    op.drop_table("taxii_statuses")
