"""Solar inverters (with their batteries): configuration, and the storage every later component fills.

Columns are grouped as `inverter-fields.md` groups them. Measured and derived columns start
null (or at the contract's default) and are written only by the component that computes them:
monitoring, steering, inference.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from solarfleet.database import Base, UTCDateTime, new_id, utcnow

LIFECYCLE_CREATED = "created"
STATUS_UNKNOWN = "unknown"
DEFAULT_BATTERY_POLICY = "Optimize self consumption"
# Actions a partner resolves: the customer authorises solarfleet again (through the Connect UI), or a
# gateway on the home network relays a device solarfleet cannot reach itself.
REAUTHENTICATE = "reauthenticate"
CONNECT_GATEWAY = "connect_gateway"


class Inverter(Base):
    __tablename__ = "inverters"
    __table_args__ = (
        Index(
            "ix_inverters_user_live",
            "user_id",
            "created_at",
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    # identity and ownership
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    building_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("buildings.id"), index=True)
    device_model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("device_models.id"))
    external_device_id: Mapped[str | None] = mapped_column(String(255), default="")
    price_zone: Mapped[str] = mapped_column(String(10), default="AT")
    comment: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # lifecycle and connection
    lifecycle_state: Mapped[str] = mapped_column(String(20), default=LIFECYCLE_CREATED)
    lifecycle_error: Mapped[str | None] = mapped_column(Text)
    is_authenticated: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set by onboarding: whether solarfleet could reach the device itself. Null: the device model decides.
    needs_gateway: Mapped[bool | None] = mapped_column(Boolean)
    connection_status: Mapped[str] = mapped_column(String(10), default=STATUS_UNKNOWN)
    monitoring_status: Mapped[str] = mapped_column(String(10), default=STATUS_UNKNOWN)
    steering_status: Mapped[str] = mapped_column(String(10), default=STATUS_UNKNOWN)
    current_state_last_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_monitoring_executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    information_last_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # configuration of the PV system and battery
    solar_power_rating_kw: Mapped[float | None] = mapped_column(Float)
    is_battery_connected: Mapped[bool] = mapped_column(Boolean, default=False)
    battery_capacity_kwh: Mapped[float | None] = mapped_column(Float)
    min_battery_charge: Mapped[float | None] = mapped_column(Float)
    max_battery_charge: Mapped[float | None] = mapped_column(Float)
    user_limits_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    battery_policy: Mapped[str] = mapped_column(String(100), default=DEFAULT_BATTERY_POLICY)
    battery_policy_last_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # steering: the partner's switches
    is_smart_optimization_active: Mapped[bool] = mapped_column(Boolean, default=False)
    is_forecasting_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_inverter_forced_mode_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    is_trading_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    pause_power_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # steering: what the optimiser asks and the device does
    pause_power_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    current_mode: Mapped[str | None] = mapped_column(String(20))
    actual_steering_state: Mapped[str] = mapped_column(String(20), default=STATUS_UNKNOWN)
    optimization_score: Mapped[float | None] = mapped_column(Float)
    is_curtailment_active: Mapped[bool] = mapped_column(Boolean, default=False)
    is_inverter_forced_mode_active: Mapped[bool] = mapped_column(Boolean, default=False)
    inverter_forced_mode_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # live state (measured)
    current_solar_production_w: Mapped[float | None] = mapped_column(Float)
    current_power_to_grid_w: Mapped[float | None] = mapped_column(Float)
    household_consumption_w: Mapped[float | None] = mapped_column(Float)
    battery_charge_discharge_power_w: Mapped[float | None] = mapped_column(Float)
    battery_charge_level_percent: Mapped[float | None] = mapped_column(Float)

    # production
    production_last_day_kwh: Mapped[float | None] = mapped_column(Float)
    production_last_week_kwh: Mapped[float | None] = mapped_column(Float)
    production_last_month_kwh: Mapped[float | None] = mapped_column(Float)
    production_last_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # inference
    inferred_max_charge_power_w: Mapped[float | None] = mapped_column(Float)
    inferred_max_discharge_power_w: Mapped[float | None] = mapped_column(Float)
    inferred_min_battery_soc_percent: Mapped[float | None] = mapped_column(Float)
    inferred_battery_capacity_kwh: Mapped[float | None] = mapped_column(Float)
    inferred_params_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    has_ev_in_household: Mapped[bool | None] = mapped_column(Boolean)
    ev_inferred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ev_inference_confidence: Mapped[float | None] = mapped_column(Float)
    # The evidence behind the inferred values (segments, spread, bouts), as the detail response shows it.
    inference_evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class InverterAction(Base):
    """Something the partner must resolve before the device works normally again."""

    __tablename__ = "inverter_actions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    inverter_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("inverters.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    resolution_link: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
