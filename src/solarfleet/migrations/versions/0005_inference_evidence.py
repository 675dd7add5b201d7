"""inference: the evidence behind each inverter's inferred battery parameters and EV detection

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inverters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inference_evidence", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inverters", schema=None) as batch_op:
        batch_op.drop_column("inference_evidence")
