"""Energy contracts of users and the organisation's tariff settings."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from solarfleet.database import Base, UTCDateTime, new_id, utcnow


class OrganisationTariff(Base):
    """How the organisation turns spot prices into its customers' prices (EUR/MWh).

    Import = spot + `import_components_eur_mwh` (grid fees, levies, taxes, margin) for customers
    without a contract of their own; export = `feed_in_tariff_eur_mwh` when set, else spot.
    """

    __tablename__ = "organisation_tariffs"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    import_components_eur_mwh: Mapped[float] = mapped_column(Float, default=0.0)
    feed_in_tariff_eur_mwh: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class EnergyContract(Base):
    __tablename__ = "energy_contracts"
    __table_args__ = (Index("ix_energy_contracts_user", "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    building_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("buildings.id", ondelete="CASCADE"))
    energy_contract_type: Mapped[str] = mapped_column(String(20))
    meter_id: Mapped[str | None] = mapped_column(String(19))
    supplier: Mapped[str | None] = mapped_column(String(100))
    currency_energy_price: Mapped[str] = mapped_column(String(3), default="EUR")
    energy_price_includes_external_components: Mapped[bool] = mapped_column(Boolean, default=False)
    feed_in_tariff_eur_mwh: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EnergyContractPrice(Base):
    """A contract price valid from `valid_from` until the next one, EUR/MWh."""

    __tablename__ = "energy_contract_prices"

    contract_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("energy_contracts.id", ondelete="CASCADE"), primary_key=True
    )
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    price_eur_mwh: Mapped[float] = mapped_column(Float)
