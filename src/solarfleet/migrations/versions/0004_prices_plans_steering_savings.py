"""prices, energy contracts, plans, steering commands, savings, forecast errors, trades; device capabilities

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from solarfleet.database import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("device_connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capabilities", sa.JSON(), nullable=True))
    op.create_table(
        "zone_prices",
        sa.Column("zone", sa.String(length=10), nullable=False),
        sa.Column("start_s", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("resolution_s", sa.Integer(), nullable=False),
        sa.Column("price_eur_mwh", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("stored_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("zone", "start_s", name=op.f("pk_zone_prices")),
    )
    op.create_table(
        "day_ahead_trades",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_day", sa.Date(), nullable=False),
        sa.Column("zone", sa.String(length=10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("inverter_ids", sa.JSON(), nullable=False),
        sa.Column("curves", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_day_ahead_trades_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_day_ahead_trades")),
    )
    with op.batch_alter_table("day_ahead_trades", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_day_ahead_trades_organisation_id"), ["organisation_id"], unique=False)

    op.create_table(
        "organisation_tariffs",
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("import_components_eur_mwh", sa.Float(), nullable=False),
        sa.Column("feed_in_tariff_eur_mwh", sa.Float(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_tariffs_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_organisation_tariffs")),
    )
    op.create_table(
        "partner_prices",
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("zone", sa.String(length=10), nullable=False),
        sa.Column("start_s", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("price_eur_mwh", sa.Float(), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_partner_prices_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organisation_id", "zone", "start_s", name=op.f("pk_partner_prices")),
    )
    op.create_table(
        "plan_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("horizon_start_s", sa.BigInteger(), nullable=False),
        sa.Column("horizon_end_s", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("violations", sa.JSON(), nullable=False),
        sa.Column("objective_eur", sa.Float(), nullable=True),
        sa.Column("expected_cost_eur", sa.Float(), nullable=False),
        sa.Column("solve_ms", sa.Float(), nullable=True),
        sa.Column("price_source", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_plan_runs_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_runs")),
    )
    with op.batch_alter_table("plan_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_runs_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_runs_site_id"), ["site_id"], unique=False)

    op.create_table(
        "energy_contracts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("building_id", sa.Uuid(), nullable=True),
        sa.Column("energy_contract_type", sa.String(length=20), nullable=False),
        sa.Column("meter_id", sa.String(length=19), nullable=True),
        sa.Column("supplier", sa.String(length=100), nullable=True),
        sa.Column("currency_energy_price", sa.String(length=3), nullable=False),
        sa.Column("energy_price_includes_external_components", sa.Boolean(), nullable=False),
        sa.Column("feed_in_tariff_eur_mwh", sa.Float(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["building_id"],
            ["buildings.id"],
            name=op.f("fk_energy_contracts_building_id_buildings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_energy_contracts_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_energy_contracts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_energy_contracts")),
    )
    with op.batch_alter_table("energy_contracts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_energy_contracts_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index("ix_energy_contracts_user", ["user_id", "created_at"], unique=False)

    op.create_table(
        "energy_contract_prices",
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("price_eur_mwh", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["energy_contracts.id"],
            name=op.f("fk_energy_contract_prices_contract_id_energy_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contract_id", "valid_from", name=op.f("pk_energy_contract_prices")),
    )
    op.create_table(
        "forecast_errors",
        sa.Column("inverter_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("quantity", sa.String(length=8), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("mae_w", sa.Float(), nullable=False),
        sa.Column("nmae", sa.Float(), nullable=True),
        sa.Column("bias_w", sa.Float(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inverter_id"], ["inverters.id"], name=op.f("fk_forecast_errors_inverter_id_inverters"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("inverter_id", "day", "quantity", name=op.f("pk_forecast_errors")),
    )
    op.create_table(
        "plan_slots",
        sa.Column("inverter_id", sa.Uuid(), nullable=False),
        sa.Column("start_s", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("plan_run_id", sa.Uuid(), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("battery_power_w", sa.Float(), nullable=True),
        sa.Column("target_soc_percent", sa.Float(), nullable=True),
        sa.Column("curtail_w", sa.Float(), nullable=False),
        sa.Column("expected_solar_w", sa.Float(), nullable=False),
        sa.Column("expected_load_w", sa.Float(), nullable=False),
        sa.Column("expected_grid_w", sa.Float(), nullable=False),
        sa.Column("import_price_eur_mwh", sa.Float(), nullable=False),
        sa.Column("export_price_eur_mwh", sa.Float(), nullable=False),
        sa.Column("expected_cost_eur", sa.Float(), nullable=False),
        sa.Column("committed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inverter_id"], ["inverters.id"], name=op.f("fk_plan_slots_inverter_id_inverters"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["plan_run_id"], ["plan_runs.id"], name=op.f("fk_plan_slots_plan_run_id_plan_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("inverter_id", "start_s", name=op.f("pk_plan_slots")),
    )
    with op.batch_alter_table("plan_slots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_slots_plan_run_id"), ["plan_run_id"], unique=False)

    op.create_table(
        "savings_days",
        sa.Column("inverter_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("actual_cost_eur", sa.Float(), nullable=False),
        sa.Column("baseline_cost_eur", sa.Float(), nullable=False),
        sa.Column("perfect_cost_eur", sa.Float(), nullable=True),
        sa.Column("solar_wh", sa.Float(), nullable=False),
        sa.Column("export_wh", sa.Float(), nullable=False),
        sa.Column("import_wh", sa.Float(), nullable=False),
        sa.Column("household_wh", sa.Float(), nullable=False),
        sa.Column("baseline_import_wh", sa.Float(), nullable=False),
        sa.Column("price_source", sa.String(length=12), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inverter_id"], ["inverters.id"], name=op.f("fk_savings_days_inverter_id_inverters"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("inverter_id", "day", name=op.f("pk_savings_days")),
    )
    op.create_table(
        "steering_commands",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("inverter_id", sa.Uuid(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("slot_start_s", sa.BigInteger(), nullable=True),
        sa.Column("planned_mode", sa.String(length=20), nullable=True),
        sa.Column("command_mode", sa.String(length=20), nullable=False),
        sa.Column("power_w", sa.Float(), nullable=True),
        sa.Column("limit_w", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("read_back_at", UTCDateTime(), nullable=True),
        sa.Column("read_back_mode", sa.String(length=20), nullable=True),
        sa.Column("measured_battery_w", sa.Float(), nullable=True),
        sa.Column("measured_grid_w", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["inverter_id"],
            ["inverters.id"],
            name=op.f("fk_steering_commands_inverter_id_inverters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_steering_commands")),
    )
    with op.batch_alter_table("steering_commands", schema=None) as batch_op:
        batch_op.create_index("ix_steering_commands_inverter_issued", ["inverter_id", "issued_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("steering_commands", schema=None) as batch_op:
        batch_op.drop_index("ix_steering_commands_inverter_issued")

    op.drop_table("steering_commands")
    op.drop_table("savings_days")
    with op.batch_alter_table("plan_slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_slots_plan_run_id"))

    op.drop_table("plan_slots")
    op.drop_table("forecast_errors")
    op.drop_table("energy_contract_prices")
    with op.batch_alter_table("energy_contracts", schema=None) as batch_op:
        batch_op.drop_index("ix_energy_contracts_user")
        batch_op.drop_index(batch_op.f("ix_energy_contracts_organisation_id"))

    op.drop_table("energy_contracts")
    with op.batch_alter_table("plan_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_runs_site_id"))
        batch_op.drop_index(batch_op.f("ix_plan_runs_organisation_id"))

    op.drop_table("plan_runs")
    op.drop_table("partner_prices")
    op.drop_table("organisation_tariffs")
    with op.batch_alter_table("day_ahead_trades", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_day_ahead_trades_organisation_id"))

    op.drop_table("day_ahead_trades")
    op.drop_table("zone_prices")
    with op.batch_alter_table("device_connections", schema=None) as batch_op:
        batch_op.drop_column("capabilities")
