"""imported advisories

Revision ID: 0011
Revises: 0010

Advisories imported from other databases (OSV), the ids and aliases each is known by, and the
affected packages that defender checks match against.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import predeploy.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imported_advisories",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=100), nullable=False),
        sa.Column("source_format", sa.String(length=10), nullable=False),
        sa.Column("tlp", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("cvss_vector", sa.String(length=300), nullable=True),
        sa.Column("modified", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("contributions", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("imported_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", predeploy.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imported_advisories")),
        sa.UniqueConstraint("record_id", name=op.f("uq_imported_advisories_record_id")),
    )
    with op.batch_alter_table("imported_advisories", schema=None) as batch_op:
        batch_op.create_index("ix_imported_advisories_created", ["created_at", "id"], unique=False)

    op.create_table(
        "advisory_aliases",
        sa.Column("alias", sa.String(length=100), nullable=False),
        sa.Column("advisory_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_id"],
            ["imported_advisories.id"],
            name=op.f("fk_advisory_aliases_advisory_id_imported_advisories"),
        ),
        sa.PrimaryKeyConstraint("alias", name=op.f("pk_advisory_aliases")),
    )
    with op.batch_alter_table("advisory_aliases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_advisory_aliases_advisory_id"), ["advisory_id"], unique=False
        )

    op.create_table(
        "affected_packages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("advisory_id", sa.String(length=36), nullable=False),
        sa.Column("ecosystem", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("purl", sa.String(length=1000), nullable=True),
        sa.Column("ranges", sa.JSON(), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("version_index", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_id"],
            ["imported_advisories.id"],
            name=op.f("fk_affected_packages_advisory_id_imported_advisories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_affected_packages")),
    )
    with op.batch_alter_table("affected_packages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_affected_packages_advisory_id"), ["advisory_id"], unique=False
        )
        batch_op.create_index("ix_affected_packages_package", ["name", "ecosystem"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("affected_packages", schema=None) as batch_op:
        batch_op.drop_index("ix_affected_packages_package")
        batch_op.drop_index(batch_op.f("ix_affected_packages_advisory_id"))

    op.drop_table("affected_packages")
    with op.batch_alter_table("advisory_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_advisory_aliases_advisory_id"))

    op.drop_table("advisory_aliases")
    with op.batch_alter_table("imported_advisories", schema=None) as batch_op:
        batch_op.drop_index("ix_imported_advisories_created")

    op.drop_table("imported_advisories")
