"""Every command sent to a device, and what the read-back and the measurements said about it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from solarfleet.database import Base, UTCDateTime, new_id, utcnow


class SteeringCommand(Base):
    __tablename__ = "steering_commands"
    __table_args__ = (Index("ix_steering_commands_inverter_issued", "inverter_id", "issued_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    inverter_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("inverters.id", ondelete="CASCADE"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    slot_start_s: Mapped[int | None] = mapped_column(BigInteger)
    planned_mode: Mapped[str | None] = mapped_column(String(20))
    command_mode: Mapped[str] = mapped_column(String(20))
    power_w: Mapped[float | None] = mapped_column(Float)
    limit_w: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(20))  # sent, confirmed, deviating, rejected, unsupported, failed
    error: Mapped[str | None] = mapped_column(Text)
    read_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_back_mode: Mapped[str | None] = mapped_column(String(20))
    measured_battery_w: Mapped[float | None] = mapped_column(Float)
    measured_grid_w: Mapped[float | None] = mapped_column(Float)
