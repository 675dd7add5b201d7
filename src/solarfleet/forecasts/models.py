"""How far each device's forecasts were from what happened, per local day."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from solarfleet.database import Base, UTCDateTime, utcnow


class ForecastError(Base):
    __tablename__ = "forecast_errors"

    inverter_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("inverters.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    quantity: Mapped[str] = mapped_column(String(8), primary_key=True)  # pv, load
    steps: Mapped[int] = mapped_column(Integer)
    mae_w: Mapped[float] = mapped_column(Float)
    nmae: Mapped[float | None] = mapped_column(Float)
    bias_w: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
