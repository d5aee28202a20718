"""sample results keep their score's metadata

Revision ID: 0015
Revises: 0014

Safeguard tasks label each sample (misuse framing, refused or complied, decided by outcome or
by a judge) and identity probes record their answer's hash in the score's metadata; reports
compute safeguard rates and behavioural fingerprints from it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sample_results") as batch:
        batch.add_column(sa.Column("score_metadata", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sample_results") as batch:
        batch.drop_column("score_metadata")
