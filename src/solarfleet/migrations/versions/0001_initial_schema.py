"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from solarfleet.database import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cloud_services",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("access", sa.String(length=20), nullable=False),
        sa.Column("connector", sa.String(length=40), nullable=False),
        sa.Column("signup_link", sa.String(length=500), nullable=True),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cloud_services")),
        sa.UniqueConstraint("name", name=op.f("uq_cloud_services_name")),
    )
    op.create_table(
        "organisations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
    )
    op.create_table(
        "api_clients",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_api_clients_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
    )
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_clients_organisation_id"), ["organisation_id"], unique=False)

    op.create_table(
        "device_models",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("manufacturer", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=150), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("device_type", sa.String(length=20), nullable=False),
        sa.Column("cloud_service_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cloud_service_id"],
            ["cloud_services.id"],
            name=op.f("fk_device_models_cloud_service_id_cloud_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_models")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("external_user_id", sa.String(length=255), nullable=True),
        sa.Column("first_name", sa.String(length=150), nullable=True),
        sa.Column("last_name", sa.String(length=150), nullable=True),
        sa.Column("street_and_number", sa.String(length=100), nullable=True),
        sa.Column("street_add_info", sa.String(length=100), nullable=True),
        sa.Column("zip_code", sa.String(length=20), nullable=True),
        sa.Column("town", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("joined_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_users_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(
            "uq_users_org_email_live",
            ["organisation_id", sa.text("lower(email)")],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "uq_users_org_external_id_live",
            ["organisation_id", "external_user_id"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "buildings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("property_type", sa.String(length=20), nullable=True),
        sa.Column("occupant_type", sa.String(length=50), nullable=True),
        sa.Column("space_heating", sa.String(length=50), nullable=True),
        sa.Column("water_heating", sa.String(length=50), nullable=True),
        sa.Column("property_size_m2", sa.Integer(), nullable=True),
        sa.Column("property_age", sa.Integer(), nullable=True),
        sa.Column("num_occupants", sa.Integer(), nullable=True),
        sa.Column("photovoltaic", sa.Boolean(), nullable=True),
        sa.Column("street_and_number", sa.String(length=100), nullable=True),
        sa.Column("street_add_info", sa.String(length=100), nullable=True),
        sa.Column("zip_code", sa.String(length=20), nullable=True),
        sa.Column("town", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_buildings_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_buildings_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buildings")),
    )
    with op.batch_alter_table("buildings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_buildings_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_buildings_user_id"), ["user_id"], unique=False)

    op.create_table(
        "inverters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("building_id", sa.Uuid(), nullable=True),
        sa.Column("device_model_id", sa.Uuid(), nullable=True),
        sa.Column("external_device_id", sa.String(length=255), nullable=True),
        sa.Column("price_zone", sa.String(length=10), nullable=False),
        sa.Column("comment", sa.String(length=300), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.Column("lifecycle_state", sa.String(length=20), nullable=False),
        sa.Column("lifecycle_error", sa.Text(), nullable=True),
        sa.Column("is_authenticated", sa.Boolean(), nullable=False),
        sa.Column("connection_status", sa.String(length=10), nullable=False),
        sa.Column("monitoring_status", sa.String(length=10), nullable=False),
        sa.Column("steering_status", sa.String(length=10), nullable=False),
        sa.Column("current_state_last_updated_at", UTCDateTime(), nullable=True),
        sa.Column("last_monitoring_executed_at", UTCDateTime(), nullable=True),
        sa.Column("information_last_updated_at", UTCDateTime(), nullable=True),
        sa.Column("solar_power_rating_kw", sa.Float(), nullable=True),
        sa.Column("is_battery_connected", sa.Boolean(), nullable=False),
        sa.Column("battery_capacity_kwh", sa.Float(), nullable=True),
        sa.Column("min_battery_charge", sa.Float(), nullable=True),
        sa.Column("max_battery_charge", sa.Float(), nullable=True),
        sa.Column("user_limits_enabled", sa.Boolean(), nullable=False),
        sa.Column("battery_policy", sa.String(length=100), nullable=False),
        sa.Column("battery_policy_last_updated_at", UTCDateTime(), nullable=True),
        sa.Column("is_smart_optimization_active", sa.Boolean(), nullable=False),
        sa.Column("is_forecasting_enabled", sa.Boolean(), nullable=False),
        sa.Column("is_inverter_forced_mode_enabled", sa.Boolean(), nullable=False),
        sa.Column("is_trading_enabled", sa.Boolean(), nullable=False),
        sa.Column("pause_power_until", UTCDateTime(), nullable=True),
        sa.Column("pause_power_confirmed", sa.Boolean(), nullable=False),
        sa.Column("current_mode", sa.String(length=20), nullable=True),
        sa.Column("actual_steering_state", sa.String(length=20), nullable=False),
        sa.Column("optimization_score", sa.Float(), nullable=True),
        sa.Column("is_curtailment_active", sa.Boolean(), nullable=False),
        sa.Column("is_inverter_forced_mode_active", sa.Boolean(), nullable=False),
        sa.Column("inverter_forced_mode_since", UTCDateTime(), nullable=True),
        sa.Column("current_solar_production_w", sa.Float(), nullable=True),
        sa.Column("current_power_to_grid_w", sa.Float(), nullable=True),
        sa.Column("household_consumption_w", sa.Float(), nullable=True),
        sa.Column("battery_charge_discharge_power_w", sa.Float(), nullable=True),
        sa.Column("battery_charge_level_percent", sa.Float(), nullable=True),
        sa.Column("production_last_day_kwh", sa.Float(), nullable=True),
        sa.Column("production_last_week_kwh", sa.Float(), nullable=True),
        sa.Column("production_last_month_kwh", sa.Float(), nullable=True),
        sa.Column("production_last_updated_at", UTCDateTime(), nullable=True),
        sa.Column("inferred_max_charge_power_w", sa.Float(), nullable=True),
        sa.Column("inferred_max_discharge_power_w", sa.Float(), nullable=True),
        sa.Column("inferred_min_battery_soc_percent", sa.Float(), nullable=True),
        sa.Column("inferred_battery_capacity_kwh", sa.Float(), nullable=True),
        sa.Column("inferred_params_updated_at", UTCDateTime(), nullable=True),
        sa.Column("has_ev_in_household", sa.Boolean(), nullable=True),
        sa.Column("ev_inferred_at", UTCDateTime(), nullable=True),
        sa.Column("ev_inference_confidence", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["building_id"], ["buildings.id"], name=op.f("fk_inverters_building_id_buildings")),
        sa.ForeignKeyConstraint(
            ["device_model_id"], ["device_models.id"], name=op.f("fk_inverters_device_model_id_device_models")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_inverters_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_inverters_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inverters")),
    )
    with op.batch_alter_table("inverters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inverters_building_id"), ["building_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_inverters_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(
            "ix_inverters_user_live",
            ["user_id", "created_at"],
            unique=False,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "inverter_actions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("inverter_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("resolution_link", sa.String(length=2000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["inverter_id"],
            ["inverters.id"],
            name=op.f("fk_inverter_actions_inverter_id_inverters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inverter_actions")),
    )
    with op.batch_alter_table("inverter_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inverter_actions_inverter_id"), ["inverter_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inverter_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inverter_actions_inverter_id"))

    op.drop_table("inverter_actions")
    with op.batch_alter_table("inverters", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_inverters_user_live",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_inverters_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_inverters_building_id"))

    op.drop_table("inverters")
    with op.batch_alter_table("buildings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_buildings_user_id"))
        batch_op.drop_index(batch_op.f("ix_buildings_organisation_id"))

    op.drop_table("buildings")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("uq_users_org_email_live")
        batch_op.drop_index(
            "uq_users_org_external_id_live",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_users_organisation_id"))

    op.drop_table("users")
    op.drop_table("device_models")
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_clients_organisation_id"))

    op.drop_table("api_clients")
    op.drop_table("organisations")
    op.drop_table("cloud_services")
