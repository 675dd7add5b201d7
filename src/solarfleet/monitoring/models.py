"""What monitoring stores: how to reach each device, its polling state, readings and their rollups.

Readings and rollups are keyed by whole epoch seconds (UTC) rather than datetimes: they are by far
the largest tables, integer keys are compact and compare fast on both databases, and bucketing is
plain integer arithmetic in SQL (`time_s - time_s % width`) that SQLite and PostgreSQL agree on.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, SmallInteger, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from solarfleet.database import Base, UTCDateTime, utcnow


class DeviceConnection(Base):
    """How to reach one inverter: the connector and its settings, encrypted (they may hold API keys)."""

    __tablename__ = "device_connections"

    inverter_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("inverters.id", ondelete="CASCADE"), primary_key=True
    )
    connector: Mapped[str] = mapped_column(String(40))
    settings_ciphertext: Mapped[str] = mapped_column(Text)
    # What the device said it reads and accepts (`Capabilities.as_json`), for whoever plans it outside the worker.
    capabilities: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PollState(Base):
    """Where polling of one device stands, so a restarted worker resumes where the last one stopped."""

    __tablename__ = "poll_states"

    inverter_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("inverters.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(SmallInteger, index=True)
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_kind: Mapped[str | None] = mapped_column(String(40))
    last_reading_s: Mapped[int | None] = mapped_column(BigInteger)
    solar_energy_wh: Mapped[float] = mapped_column(Float, default=0.0)
    device_energy_wh: Mapped[float | None] = mapped_column(Float)


class StoredReading(Base):
    """One reading. `interval_s` is the time it stands for (since the previous one, capped), so
    energies are sums of power × interval; `computed` is a bitmask of quantities solarfleet derived."""

    __tablename__ = "readings"

    inverter_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("inverters.id", ondelete="CASCADE"), primary_key=True
    )
    time_s: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    interval_s: Mapped[float] = mapped_column(Float)
    solar_w: Mapped[float | None] = mapped_column(Float)
    grid_w: Mapped[float | None] = mapped_column(Float)
    household_w: Mapped[float | None] = mapped_column(Float)
    battery_w: Mapped[float | None] = mapped_column(Float)
    soc_percent: Mapped[float | None] = mapped_column(Float)
    solar_energy_wh: Mapped[float] = mapped_column(Float)
    computed: Mapped[int] = mapped_column(SmallInteger, default=0)


class ReadingRollup(Base):
    """Energies and averages of one device over one 15-minute, hourly or daily bucket (UTC).

    Energy columns are Wh; `soc_weighted` / `soc_covered_s` is the time-weighted mean SoC;
    `energy_counter_first` is solarfleet's PV energy counter at the first reading of the bucket,
    which is where trailing production windows start.
    """

    __tablename__ = "reading_rollups"

    inverter_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("inverters.id", ondelete="CASCADE"), primary_key=True
    )
    resolution: Mapped[str] = mapped_column(String(8), primary_key=True)
    bucket_s: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    samples: Mapped[int] = mapped_column(Integer)
    covered_s: Mapped[float] = mapped_column(Float)
    solar_wh: Mapped[float | None] = mapped_column(Float)
    household_wh: Mapped[float | None] = mapped_column(Float)
    export_wh: Mapped[float | None] = mapped_column(Float)
    import_wh: Mapped[float | None] = mapped_column(Float)
    charge_wh: Mapped[float | None] = mapped_column(Float)
    discharge_wh: Mapped[float | None] = mapped_column(Float)
    soc_weighted: Mapped[float | None] = mapped_column(Float)
    soc_covered_s: Mapped[float | None] = mapped_column(Float)
    energy_counter_first: Mapped[float | None] = mapped_column(Float)
