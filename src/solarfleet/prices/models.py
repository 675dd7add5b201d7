"""Stored prices: day-ahead prices per zone (shared by every device in it) and the prices partners upload."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from solarfleet.database import Base, UTCDateTime, utcnow


class ZonePrice(Base):
    """One day-ahead price of a zone at its native resolution, EUR/MWh. A zone's price is stored
    once and shared by all its devices; `source` says where it came from (ENTSO-E, or synthetic in a demo)."""

    __tablename__ = "zone_prices"

    zone: Mapped[str] = mapped_column(String(10), primary_key=True)
    start_s: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    resolution_s: Mapped[int] = mapped_column(Integer)
    price_eur_mwh: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(12))
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PartnerPrice(Base):
    """A quarter-hour price a partner uploaded for its trading portfolio in one zone, EUR/MWh."""

    __tablename__ = "partner_prices"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    zone: Mapped[str] = mapped_column(String(10), primary_key=True)
    start_s: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    price_eur_mwh: Mapped[float] = mapped_column(Float)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
