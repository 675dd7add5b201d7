"""Day-ahead trades offered to an organisation."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from solarfleet.database import Base, UTCDateTime, new_id, utcnow


class DayAheadTrade(Base):
    """The fleet's curves for one delivery day as offered (`proposed`), then `accepted` (devices
    committed to the optimised plan) or `rejected` (devices released to plain self-consumption)."""

    __tablename__ = "day_ahead_trades"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    delivery_day: Mapped[date] = mapped_column(Date)
    zone: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="proposed")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    inverter_ids: Mapped[list[str]] = mapped_column(JSON)
    curves: Mapped[dict[str, Any]] = mapped_column(JSON)  # interval starts, optimised and unoptimised Wh
