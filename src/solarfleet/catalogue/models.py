"""The catalogue: device models and the cloud services (or local protocols) they connect through."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from solarfleet.database import Base

# How solarfleet reaches a device (CloudService.access): "cloud_api" through the vendor's cloud,
# "local_protocol" only on the home network (a gateway there must relay it), or "simulated".
ACCESS_LOCAL_PROTOCOL = "local_protocol"


def needs_gateway(access: str) -> bool:
    """A device spoken to only on the home network needs a gateway there to relay it."""
    return access == ACCESS_LOCAL_PROTOCOL


class CloudService(Base):
    __tablename__ = "cloud_services"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    access: Mapped[str] = mapped_column(String(20))
    connector: Mapped[str] = mapped_column(String(40))
    signup_link: Mapped[str | None] = mapped_column(String(500))
    instructions: Mapped[str] = mapped_column(Text)
    # The instructions in other languages than English, by language code.
    instructions_translations: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    def instructions_in(self, language: str) -> str:
        return (self.instructions_translations or {}).get(language) or self.instructions

    @property
    def needs_gateway(self) -> bool:
        return needs_gateway(self.access)


class DeviceModel(Base):
    __tablename__ = "device_models"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    manufacturer: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(150))
    year: Mapped[int | None] = mapped_column(Integer)
    device_type: Mapped[str] = mapped_column(String(20), default="inverter")
    cloud_service_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("cloud_services.id"))

    cloud_service: Mapped[CloudService] = relationship(lazy="joined")
