"""End users of a partner: the customers whose devices solarfleet connects."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid, func, text
from sqlalchemy.orm import Mapped, mapped_column

from solarfleet.database import Base, PostalAddress, UTCDateTime, new_id, utcnow

LIVE = text("deleted_at IS NULL")


class User(PostalAddress, Base):
    __tablename__ = "users"
    __table_args__ = (
        # Unique among live users only: a soft-deleted customer may sign up again.
        Index(
            "uq_users_org_email_live",
            "organisation_id",
            func.lower(text("email")),
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        ),
        Index(
            "uq_users_org_external_id_live",
            "organisation_id",
            "external_user_id",
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(10), default="user")
    email: Mapped[str] = mapped_column(String(254))
    external_user_id: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(150))
    last_name: Mapped[str | None] = mapped_column(String(150))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
