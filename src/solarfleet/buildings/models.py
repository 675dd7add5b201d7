"""Buildings: the places where a user's devices are installed and optimised together."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from solarfleet.database import Base, PostalAddress, UTCDateTime, new_id, utcnow


class Building(PostalAddress, Base):
    __tablename__ = "buildings"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    property_type: Mapped[str | None] = mapped_column(String(20))
    occupant_type: Mapped[str | None] = mapped_column(String(50))
    space_heating: Mapped[str | None] = mapped_column(String(50))
    water_heating: Mapped[str | None] = mapped_column(String(50))
    property_size_m2: Mapped[int | None] = mapped_column(Integer)
    property_age: Mapped[int | None] = mapped_column(Integer)
    num_occupants: Mapped[int | None] = mapped_column(Integer)
    photovoltaic: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
