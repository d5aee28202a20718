"""clearinghouse cases

Revision ID: 0009
Revises: 0008

Coordinated-disclosure cases: their yearly number counters, vulnerabilities, invited vendors and
the vendors' statuses, discussion posts with their revisions, and the case a vulnerability
report was taken into (`vulns.case_id`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import predeploy.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[predeploy.db.UTCDateTime]:
    return sa.Column(name, predeploy.db.UTCDateTime(timezone=True), nullable=nullable)


def _id(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=36), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "case_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_case_counters")),
    )

    op.create_table(
        "cases",
        _id("id"),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("tlp", sa.String(length=20), nullable=False),
        _when("embargo_end"),
        _id("owner_id", nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_cases_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("number", name=op.f("uq_cases_number")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_created", ["created_at", "id"], unique=False)

    op.create_table(
        "case_vulnerabilities",
        _id("id"),
        _id("case_id"),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("cve_id", sa.String(length=30), nullable=True),
        sa.Column("cwe", sa.String(length=20), nullable=True),
        sa.Column("cvss_v3_vector", sa.String(length=300), nullable=True),
        sa.Column("cvss_v3_score", sa.Float(), nullable=True),
        sa.Column("cvss_v3_severity", sa.String(length=20), nullable=True),
        sa.Column("cvss_v4_vector", sa.String(length=300), nullable=True),
        sa.Column("cvss_v4_score", sa.Float(), nullable=True),
        sa.Column("cvss_v4_severity", sa.String(length=20), nullable=True),
        sa.Column("ssvc", sa.JSON(), nullable=True),
        _id("created_by", nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_vulnerabilities_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_vulnerabilities")),
    )
    with op.batch_alter_table("case_vulnerabilities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_vulnerabilities_case_id"), ["case_id"], unique=False
        )

    op.create_table(
        "case_vendors",
        _id("id"),
        _id("case_id"),
        _id("org_id"),
        _when("deadline"),
        _id("invited_by", nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_vendors_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_case_vendors_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_vendors")),
        sa.UniqueConstraint("case_id", "org_id", name=op.f("uq_case_vendors_case_id")),
    )
    with op.batch_alter_table("case_vendors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_vendors_org_id"), ["org_id"], unique=False)

    op.create_table(
        "case_vendor_statuses",
        _id("id"),
        _id("case_id"),
        _id("vulnerability_id"),
        _id("org_id"),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("statement", sa.Text(), nullable=True),
        _id("updated_by", nullable=True),
        _when("updated_at"),
        _id("approved_by", nullable=True),
        _when("approved_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["users.id"], name=op.f("fk_case_vendor_statuses_approved_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_vendor_statuses_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_case_vendor_statuses_org_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["vulnerability_id"],
            ["case_vulnerabilities.id"],
            name=op.f("fk_case_vendor_statuses_vulnerability_id_case_vulnerabilities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_vendor_statuses")),
        sa.UniqueConstraint(
            "vulnerability_id", "org_id", name=op.f("uq_case_vendor_statuses_vulnerability_id")
        ),
    )
    with op.batch_alter_table("case_vendor_statuses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_vendor_statuses_case_id"), ["case_id"], unique=False
        )

    op.create_table(
        "case_posts",
        _id("id"),
        _id("case_id"),
        _id("author_id", nullable=True),
        _id("author_org_id", nullable=True),
        sa.Column("revisions", sa.Integer(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_case_posts_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["author_org_id"],
            ["organizations.id"],
            name=op.f("fk_case_posts_author_org_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_posts_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_posts")),
    )
    with op.batch_alter_table("case_posts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_posts_case_created", ["case_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "case_post_revisions",
        _id("id"),
        _id("post_id"),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        _id("created_by", nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["post_id"], ["case_posts.id"], name=op.f("fk_case_post_revisions_post_id_case_posts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_post_revisions")),
        sa.UniqueConstraint("post_id", "number", name=op.f("uq_case_post_revisions_post_id")),
    )

    # A plain ADD COLUMN, not a batch copy of `vulns`: on SQLite the copy would drop the FTS
    # triggers of migration 0008 (and renumber the rowids its index points at).
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE vulns ADD COLUMN case_id VARCHAR(36) "
            "CONSTRAINT fk_vulns_case_id_cases REFERENCES cases (id)"
        )
    else:
        op.add_column("vulns", _id("case_id", nullable=True))
        op.create_foreign_key(op.f("fk_vulns_case_id_cases"), "vulns", "cases", ["case_id"], ["id"])
    op.create_index(op.f("ix_vulns_case_id"), "vulns", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_vulns_case_id"), table_name="vulns")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops a column with its inline foreign key in place, keeping the FTS triggers.
        op.execute("ALTER TABLE vulns DROP COLUMN case_id")
    else:
        op.drop_constraint(op.f("fk_vulns_case_id_cases"), "vulns", type_="foreignkey")
        op.drop_column("vulns", "case_id")
    op.drop_table("case_post_revisions")
    op.drop_table("case_posts")
    op.drop_table("case_vendor_statuses")
    op.drop_table("case_vendors")
    op.drop_table("case_vulnerabilities")
    op.drop_table("cases")
    op.drop_table("case_counters")
