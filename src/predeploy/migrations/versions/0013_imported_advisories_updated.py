"""imported advisories by last change

Revision ID: 0013
Revises: 0012

Feeds list imported advisories newest change first: with 100,000 of them, an index on
(updated_at, id) turns a full scan into a range read.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_imported_advisories_updated", "imported_advisories", ["updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_imported_advisories_updated", table_name="imported_advisories")
