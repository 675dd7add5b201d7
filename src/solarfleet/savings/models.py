"""Savings per device and local day: what the day cost, what plain self-consumption would have cost."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from solarfleet.database import Base, UTCDateTime, utcnow


class SavingsDay(Base):
    __tablename__ = "savings_days"

    inverter_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("inverters.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # in the price zone's time zone
    steps: Mapped[int] = mapped_column(Integer)  # quarter-hours with readings and prices
    actual_cost_eur: Mapped[float] = mapped_column(Float)
    baseline_cost_eur: Mapped[float] = mapped_column(Float)
    perfect_cost_eur: Mapped[float | None] = mapped_column(Float)  # the same LP on what really happened
    solar_wh: Mapped[float] = mapped_column(Float)
    export_wh: Mapped[float] = mapped_column(Float)
    import_wh: Mapped[float] = mapped_column(Float)
    household_wh: Mapped[float] = mapped_column(Float)
    baseline_import_wh: Mapped[float] = mapped_column(Float)
    price_source: Mapped[str] = mapped_column(String(12))  # entsoe, partner, contract or synthetic
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
