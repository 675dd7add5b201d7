"""monitoring: device connections, poll states, readings and rollups

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from solarfleet.database import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _inverter_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["inverter_id"], ["inverters.id"], name=op.f(f"fk_{table}_inverter_id_inverters"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "device_connections",
        sa.Column("inverter_id", sa.Uuid(), nullable=False),
        sa.Column("connector", sa.String(length=40), nullable=False),
        sa.Column("settings_ciphertext", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _inverter_fk("device_connections"),
        sa.PrimaryKeyConstraint("inverter_id", name=op.f("pk_device_connections")),
    )
    op.create_table(
        "poll_states",
        sa.Column("inverter_id", sa.Uuid(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("next_poll_at", UTCDateTime(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_kind", sa.String(length=40), nullable=True),
        sa.Column("last_reading_s", sa.BigInteger(), nullable=True),
        sa.Column("solar_energy_wh", sa.Float(), nullable=False),
        sa.Column("device_energy_wh", sa.Float(), nullable=True),
        _inverter_fk("poll_states"),
        sa.PrimaryKeyConstraint("inverter_id", name=op.f("pk_poll_states")),
    )
    with op.batch_alter_table("poll_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_poll_states_shard"), ["shard"], unique=False)
    op.create_table(
        "reading_rollups",
        sa.Column("inverter_id", sa.Uuid(), nullable=False),
        sa.Column("resolution", sa.String(length=8), nullable=False),
        sa.Column("bucket_s", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("covered_s", sa.Float(), nullable=False),
        sa.Column("solar_wh", sa.Float(), nullable=True),
        sa.Column("household_wh", sa.Float(), nullable=True),
        sa.Column("export_wh", sa.Float(), nullable=True),
        sa.Column("import_wh", sa.Float(), nullable=True),
        sa.Column("charge_wh", sa.Float(), nullable=True),
        sa.Column("discharge_wh", sa.Float(), nullable=True),
        sa.Column("soc_weighted", sa.Float(), nullable=True),
        sa.Column("soc_covered_s", sa.Float(), nullable=True),
        sa.Column("energy_counter_first", sa.Float(), nullable=True),
        _inverter_fk("reading_rollups"),
        sa.PrimaryKeyConstraint("inverter_id", "resolution", "bucket_s", name=op.f("pk_reading_rollups")),
    )
    op.create_table(
        "readings",
        sa.Column("inverter_id", sa.Uuid(), nullable=False),
        sa.Column("time_s", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("interval_s", sa.Float(), nullable=False),
        sa.Column("solar_w", sa.Float(), nullable=True),
        sa.Column("grid_w", sa.Float(), nullable=True),
        sa.Column("household_w", sa.Float(), nullable=True),
        sa.Column("battery_w", sa.Float(), nullable=True),
        sa.Column("soc_percent", sa.Float(), nullable=True),
        sa.Column("solar_energy_wh", sa.Float(), nullable=False),
        sa.Column("computed", sa.SmallInteger(), nullable=False),
        _inverter_fk("readings"),
        sa.PrimaryKeyConstraint("inverter_id", "time_s", name=op.f("pk_readings")),
    )


def downgrade() -> None:
    for table in ("readings", "reading_rollups", "poll_states", "device_connections"):
        op.drop_table(table)
