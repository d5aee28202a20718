"""sample cost

Revision ID: 0007
Revises: 0006

What each sample cost (US dollars, as Inspect priced its model calls), for cost per success.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sample_results") as batch:
        batch.add_column(sa.Column("total_cost", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sample_results") as batch:
        batch.drop_column("total_cost")
