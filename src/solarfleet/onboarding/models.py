"""Onboarding sessions: one customer's way through the Connect UI, from the partner's link to a connected device.

A session either creates an inverter (`purpose` onboarding, from `POST /device-onboarding`) or connects
an existing one again (`purpose` reauthentication, from `auth_session` or the inverter's own links).
Credentials typed before consent is given wait here encrypted, and are cleared when the session ends.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from solarfleet.database import Base, UTCDateTime, new_id, utcnow

PURPOSE_ONBOARDING = "onboarding"
PURPOSE_REAUTHENTICATION = "reauthentication"

# pending → checking (consent given, the device is being read) → completed | cancelled; a failed check
# goes back to pending with `check_error` set. `expired` is never stored: it follows from `expires_at`.
STATE_PENDING = "pending"
STATE_CHECKING = "checking"
STATE_COMPLETED = "completed"
STATE_CANCELLED = "cancelled"
STATE_EXPIRED = "expired"
FINAL_STATES = frozenset({STATE_COMPLETED, STATE_CANCELLED})


class OnboardingSession(Base):
    __tablename__ = "onboarding_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    # The inverter this session connects: the one to re-authenticate, or the one it created.
    inverter_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("inverters.id", ondelete="CASCADE"), index=True
    )
    language: Mapped[str] = mapped_column(String(2))
    price_zone: Mapped[str] = mapped_column(String(10))
    is_smart_optimization_active_default: Mapped[bool] = mapped_column(Boolean, default=False)
    building_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("buildings.id", ondelete="SET NULL"))
    device_type: Mapped[str | None] = mapped_column(String(4))
    success_url: Mapped[str | None] = mapped_column(Text)
    cancel_url: Mapped[str | None] = mapped_column(Text)
    external_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Opened from an inverter's embeddable link: pages without chrome, framed by the organisation's origins.
    embedded: Mapped[bool] = mapped_column(Boolean, default=False)

    state: Mapped[str] = mapped_column(String(20), default=STATE_PENDING)
    device_model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("device_models.id"))
    pending_settings_ciphertext: Mapped[str | None] = mapped_column(Text)
    # What the last check found, in words the customer can act on (an error kind the page explains).
    check_error: Mapped[str | None] = mapped_column(String(40))
    check_detail: Mapped[str | None] = mapped_column(Text)
    check_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    csrf_token: Mapped[str] = mapped_column(String(64))

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
