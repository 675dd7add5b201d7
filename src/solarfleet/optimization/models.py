"""Stored plans: each planning run of a site, and per device the slots the steering loop carries out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from solarfleet.database import Base, UTCDateTime, new_id, utcnow


class PlanRun(Base):
    """One solve for one site (a building, or an inverter without one)."""

    __tablename__ = "plan_runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)  # the building's id, or the lone inverter's
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(String(40))
    horizon_start_s: Mapped[int] = mapped_column(BigInteger)
    horizon_end_s: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(Text)
    violations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    objective_eur: Mapped[float | None] = mapped_column(Float)
    expected_cost_eur: Mapped[float] = mapped_column(Float)
    solve_ms: Mapped[float | None] = mapped_column(Float)
    price_source: Mapped[str] = mapped_column(String(12))


class PlanSlot(Base):
    """What one device should do in one 15-minute step, and what the plan expects to happen.

    `expected_grid_w` is the site's meter (positive = export), shared by the devices of a building.
    A re-plan replaces the slots from its start on; past slots stay as the record of what was planned.
    """

    __tablename__ = "plan_slots"

    inverter_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("inverters.id", ondelete="CASCADE"), primary_key=True
    )
    start_s: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    duration_s: Mapped[int] = mapped_column(Integer)
    plan_run_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("plan_runs.id", ondelete="CASCADE"), index=True)
    mode: Mapped[str] = mapped_column(String(20))
    battery_power_w: Mapped[float | None] = mapped_column(Float)
    target_soc_percent: Mapped[float | None] = mapped_column(Float)
    curtail_w: Mapped[float] = mapped_column(Float, default=0.0)
    expected_solar_w: Mapped[float] = mapped_column(Float)
    expected_load_w: Mapped[float] = mapped_column(Float)
    expected_grid_w: Mapped[float] = mapped_column(Float)
    import_price_eur_mwh: Mapped[float] = mapped_column(Float)
    export_price_eur_mwh: Mapped[float] = mapped_column(Float)
    expected_cost_eur: Mapped[float] = mapped_column(Float)
    committed: Mapped[bool] = mapped_column(Boolean, default=False)  # promised in an accepted day-ahead trade
