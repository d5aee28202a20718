"""clearinghouse vulns

Revision ID: 0008
Revises: 0007

Vulnerability reports, their attachments, explicit recipients of shared objects, the clients an
org declares (TLP:AMBER), and full-text search over reports: an expression GIN index on
PostgreSQL, an FTS5 table kept in step by triggers on SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import predeploy.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_FTS_TRIGGERS = {
    "vulns_fts_insert": """
        CREATE TRIGGER vulns_fts_insert AFTER INSERT ON vulns BEGIN
            INSERT INTO vulns_fts(rowid, title, description)
            VALUES (new.rowid, new.title, new.description);
        END""",
    "vulns_fts_delete": """
        CREATE TRIGGER vulns_fts_delete AFTER DELETE ON vulns BEGIN
            INSERT INTO vulns_fts(vulns_fts, rowid, title, description)
            VALUES ('delete', old.rowid, old.title, old.description);
        END""",
    "vulns_fts_update": """
        CREATE TRIGGER vulns_fts_update AFTER UPDATE OF title, description ON vulns BEGIN
            INSERT INTO vulns_fts(vulns_fts, rowid, title, description)
            VALUES ('delete', old.rowid, old.title, old.description);
            INSERT INTO vulns_fts(rowid, title, description)
            VALUES (new.rowid, new.title, new.description);
        END""",
}


def _when(name: str) -> sa.Column[predeploy.db.UTCDateTime]:
    return sa.Column(name, predeploy.db.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "vulns",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tlp", sa.String(length=20), nullable=False),
        sa.Column("embargo_end", predeploy.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("assignee_id", sa.String(length=36), nullable=True),
        sa.Column("reporter_org_id", sa.String(length=36), nullable=False),
        sa.Column("reporter_user_id", sa.String(length=36), nullable=True),
        sa.Column("share_consent", sa.Boolean(), nullable=False),
        sa.Column("credit_consent", sa.Boolean(), nullable=False),
        sa.Column("cwe", sa.String(length=20), nullable=True),
        sa.Column("cvss_vector", sa.String(length=300), nullable=True),
        sa.Column("cvss_version", sa.String(length=5), nullable=True),
        sa.Column("cvss_score", sa.Float(), nullable=True),
        sa.Column("cvss_severity", sa.String(length=20), nullable=True),
        sa.Column("affected", sa.JSON(), nullable=False),
        sa.Column("model", sa.JSON(), nullable=True),
        sa.Column("technique", sa.JSON(), nullable=False),
        sa.Column("root_cause", sa.String(length=500), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("ssvc", sa.JSON(), nullable=True),
        sa.Column("fingerprint", sa.String(length=80), nullable=False),
        sa.Column("duplicate_of_id", sa.String(length=36), nullable=True),
        sa.Column("finding_id", sa.String(length=36), nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_vulns_assignee_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"], ["vulns.id"], name=op.f("fk_vulns_duplicate_of_id_vulns")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["report_findings.id"], name=op.f("fk_vulns_finding_id_report_findings")
        ),
        sa.ForeignKeyConstraint(
            ["reporter_org_id"],
            ["organizations.id"],
            name=op.f("fk_vulns_reporter_org_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["reporter_user_id"], ["users.id"], name=op.f("fk_vulns_reporter_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vulns")),
    )
    with op.batch_alter_table("vulns", schema=None) as batch_op:
        batch_op.create_index("ix_vulns_created", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_vulns_fingerprint", ["fingerprint"], unique=False)
        batch_op.create_index(
            "ix_vulns_reporter_created", ["reporter_org_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_vulns_status_priority", ["status", "priority", "created_at"], unique=False
        )

    op.create_table(
        "vuln_attachments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("vuln_id", sa.String(length=36), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("proof_of_concept", sa.Boolean(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["vuln_id"], ["vulns.id"], name=op.f("fk_vuln_attachments_vuln_id_vulns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vuln_attachments")),
    )
    with op.batch_alter_table("vuln_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vuln_attachments_vuln_id"), ["vuln_id"], unique=False)

    op.create_table(
        "share_recipients",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("object_type", sa.String(length=20), nullable=False),
        sa.Column("object_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("added_by", sa.String(length=36), nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_share_recipients_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_share_recipients_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_recipients")),
        sa.UniqueConstraint(
            "object_type",
            "object_id",
            "org_id",
            "user_id",
            name=op.f("uq_share_recipients_object_type"),
        ),
    )
    with op.batch_alter_table("share_recipients", schema=None) as batch_op:
        batch_op.create_index(
            "ix_share_recipients_org", ["org_id", "object_type", "object_id"], unique=False
        )
        batch_op.create_index(
            "ix_share_recipients_user", ["user_id", "object_type", "object_id"], unique=False
        )

    op.create_table(
        "org_clients",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("client_org_id", sa.String(length=36), nullable=False),
        sa.Column("declared_by", sa.String(length=36), nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["client_org_id"],
            ["organizations.id"],
            name=op.f("fk_org_clients_client_org_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_org_clients_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("org_id", "client_org_id", name=op.f("pk_org_clients")),
    )
    with op.batch_alter_table("org_clients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_org_clients_client_org_id"), ["client_org_id"], unique=False
        )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_vulns_fulltext ON vulns USING gin "
            "(to_tsvector('english'::regconfig, (title || ' ') || description))"
        )
    else:
        op.execute(
            "CREATE VIRTUAL TABLE vulns_fts USING fts5(title, description, "
            "content='vulns', content_rowid='rowid', tokenize='porter unicode61')"
        )
        for ddl in _FTS_TRIGGERS.values():
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_vulns_fulltext")
    else:
        for name in _FTS_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE vulns_fts")
    op.drop_table("org_clients")
    op.drop_table("share_recipients")
    op.drop_table("vuln_attachments")
    op.drop_table("vulns")
