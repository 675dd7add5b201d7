"""Monitoring's database side: the fleet to poll, batched writes of poll results, rollups, retention.

Writes are set-based (one statement per table per batch) and idempotent: a reading is keyed by
device and time, a rollup by device, resolution and bucket, so replaying a batch after a crash or a
"database is locked" retry changes nothing that was already stored.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

import structlog
from sqlalchemy import (
    Column,
    ColumnDefault,
    Connection,
    DateTime,
    Dialect,
    Table,
    Uuid,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError

from solarfleet.catalogue.models import CloudService, DeviceModel
from solarfleet.connectors.base import Capabilities
from solarfleet.credentials_cipher import CredentialsCipher
from solarfleet.database import Database, in_chunks
from solarfleet.inverters.models import REAUTHENTICATE, Inverter, InverterAction
from solarfleet.monitoring.energy import RESOLUTION_SECONDS
from solarfleet.monitoring.models import DeviceConnection, PollState, ReadingRollup, StoredReading
from solarfleet.monitoring.statuses import POLLED_LIFECYCLES

log = structlog.get_logger(__name__)

LOCKED_RETRIES = 8


@dataclass(frozen=True, slots=True)
class FleetDevice:
    """One pollable inverter as the database knows it."""

    inverter_id: uuid.UUID
    connector: str
    settings: dict[str, Any]
    lifecycle_state: str
    is_battery_connected: bool
    poll_state: PollState | None


def add_device_connection(
    session, cipher: CredentialsCipher, inverter_id: uuid.UUID, connector: str, settings: dict[str, Any]
) -> None:
    session.add(
        DeviceConnection(
            inverter_id=inverter_id,
            connector=connector,
            settings_ciphertext=cipher.encrypt(settings).decode(),
        )
    )


def load_fleet(
    database: Database, cipher: CredentialsCipher, shards: Sequence[int] | None, shard_count: int
) -> list[FleetDevice]:
    """Every live inverter with a connection, in a polled lifecycle state, in the given shards."""
    query = (
        select(
            Inverter.id,
            DeviceConnection.connector,
            DeviceConnection.settings_ciphertext,
            Inverter.lifecycle_state,
            Inverter.is_battery_connected,
            PollState,
        )
        .join(DeviceConnection, DeviceConnection.inverter_id == Inverter.id)
        .outerjoin(PollState, PollState.inverter_id == Inverter.id)
        .where(Inverter.deleted_at.is_(None), Inverter.lifecycle_state.in_(POLLED_LIFECYCLES))
        .order_by(Inverter.id)  # one fleet order on every load, so a restart replays the same way
    )
    devices = []
    with database.session(write=False) as session:
        for inverter_id, connector, ciphertext, lifecycle, battery, poll_state in session.execute(query):
            if shards is not None and shard_of(inverter_id, shard_count) not in shards:
                continue
            settings = cipher.decrypt(ciphertext.encode())
            devices.append(FleetDevice(inverter_id, connector, settings, lifecycle, battery, poll_state))
        session.expunge_all()
    return devices


def shard_of(inverter_id: uuid.UUID, shard_count: int) -> int:
    return inverter_id.int % shard_count


# -- batched writes ---------------------------------------------------------------------------------

_INVERTER_COLUMNS = (
    "current_solar_production_w",
    "current_power_to_grid_w",
    "household_consumption_w",
    "battery_charge_discharge_power_w",
    "battery_charge_level_percent",
    "current_state_last_updated_at",
    "last_monitoring_executed_at",
    "connection_status",
    "monitoring_status",
    "lifecycle_state",
    "lifecycle_error",
    "is_authenticated",
    "production_last_day_kwh",
    "production_last_week_kwh",
    "production_last_month_kwh",
    "production_last_updated_at",
)
_POLL_STATE_COLUMNS = (
    "next_poll_at",
    "consecutive_failures",
    "failing_since",
    "last_error",
    "last_error_kind",
    "last_reading_s",
    "solar_energy_wh",
    "device_energy_wh",
)
_READING_COLUMNS = tuple(c.name for c in StoredReading.__table__.columns)


@dataclass(frozen=True)
class _TableWrite:
    """How one table's share of a batch is written: an insert of `columns`, or, with a `key`, an
    update of `columns` in the row whose `key` column matches. Rows are dicts with these names."""

    table: Table
    columns: tuple[str, ...]
    key: str | None = None
    ignore_duplicates: bool = False


_READINGS = _TableWrite(StoredReading.__table__, _READING_COLUMNS, ignore_duplicates=True)
_NEW_POLL_STATES = _TableWrite(PollState.__table__, ("inverter_id", "shard", *_POLL_STATE_COLUMNS))
_POLL_STATES = _TableWrite(PollState.__table__, _POLL_STATE_COLUMNS, key="inverter_id")
_INVERTERS = _TableWrite(Inverter.__table__, _INVERTER_COLUMNS, key="id")


@dataclass(slots=True)
class BatchRows:
    """Everything one batch of polls writes."""

    readings: list[dict[str, Any]]
    inverters: list[dict[str, Any]]
    poll_states: list[dict[str, Any]]
    new_poll_states: list[dict[str, Any]]
    credential_failures: list[tuple[uuid.UUID, str]]
    capabilities: list[dict[str, Any]] = field(default_factory=list)  # inverter_id, capabilities (rarely any)


def write_batch(database: Database, rows: BatchRows) -> None:
    """Store one batch in one transaction, retrying while SQLite says the database is locked."""
    for attempt in range(LOCKED_RETRIES):
        try:
            with database.engine.execution_options(solarfleet_write=True).begin() as connection:
                _write(connection, rows)
            return
        except OperationalError as exc:
            if "locked" not in str(exc.orig) or attempt == LOCKED_RETRIES - 1:
                raise
            log.warning("database locked; retrying the batch", attempt=attempt + 1)
            time.sleep(0.05 * 2**attempt)


def _write(connection: Connection, rows: BatchRows) -> None:
    _write_rows(connection, _READINGS, rows.readings)
    _write_rows(connection, _NEW_POLL_STATES, rows.new_poll_states)
    _write_rows(connection, _POLL_STATES, rows.poll_states)
    _write_rows(connection, _INVERTERS, rows.inverters)
    for inverter_id, message in rows.credential_failures:
        _ensure_reauthenticate_action(connection, inverter_id, message)
    if rows.capabilities:
        connection.execute(
            update(DeviceConnection.__table__)
            .where(DeviceConnection.inverter_id == bindparam("device"))
            .values(capabilities=bindparam("described")),
            [{"device": row["inverter_id"], "described": row["capabilities"]} for row in rows.capabilities],
        )


def stored_capabilities(session, inverter_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Capabilities]:
    """The capabilities the devices last reported to a monitoring worker (none for a device never polled)."""
    found = {}
    for chunk in in_chunks(list(inverter_ids)):
        query = select(DeviceConnection.inverter_id, DeviceConnection.capabilities).where(
            DeviceConnection.inverter_id.in_(chunk), DeviceConnection.capabilities.is_not(None)
        )
        found |= {inverter_id: Capabilities.from_json(data) for inverter_id, data in session.execute(query)}
    return found


# A batch holds thousands of rows per table. Through a compiled statement SQLAlchemy converts every
# value of every row on its own (a UUID to text on SQLite, a UTCDateTime to naive UTC and on to
# text), which took longer than the database's own work. So the batch statements go to the driver
# as plain SQL with the values prepared column by column, each through the very bind processor
# SQLAlchemy would have applied: datetimes once per distinct value, since a poll step stamps
# thousands of rows with the same few times. PostgreSQL gets each column as one array and writes
# the batch with one set-based statement (`unnest`); SQLite, which has no arrays, runs its prepared
# statement once per row in C (executemany).


def _write_rows(connection: Connection, write: _TableWrite, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if write.key is not None:
        # A device polled twice in one batch gets one update, with its last row: what updating
        # row by row in batch order left behind; a set-based update needs distinct keys anyway.
        rows = list({row[write.key]: row for row in rows}.values())
    statement = _statement(connection.dialect, write)
    columns = [list(column) for column in zip(*map(itemgetter(*write.columns), rows), strict=True)]
    columns += ([value] * len(rows) for value in statement.on_update_values())
    if write.key is not None:
        columns.append([row[write.key] for row in rows])
    columns = [
        column if prepare is None else prepare(column)
        for column, prepare in zip(columns, statement.prepare, strict=True)
    ]
    if statement.arrays:
        connection.exec_driver_sql(statement.sql, tuple(columns))
    else:
        connection.exec_driver_sql(statement.sql, list(zip(*columns, strict=True)))


@dataclass(frozen=True)
class _Statement:
    """A batch write in one dialect's SQL. Its parameters: the written columns, then the table's
    Python-side onupdate defaults (Core's update() applied them, so plain SQL must too), then the key."""

    sql: str
    arrays: bool  # one parameter per column holding all rows (PostgreSQL), else one tuple per row
    prepare: tuple[Callable[[list], list] | None, ...]  # per parameter: its values as the driver takes them
    on_update: tuple[ColumnDefault, ...]

    def on_update_values(self) -> list[Any]:
        return [default.arg(None) if default.is_callable else default.arg for default in self.on_update]


@lru_cache(maxsize=64)
def _statement(dialect: Dialect, write: _TableWrite) -> _Statement:
    table = write.table
    on_update = [c for c in table.c if c.onupdate is not None] if write.key is not None else []
    written = [table.c[name] for name in write.columns] + on_update
    parameters = written + ([table.c[write.key]] if write.key is not None else [])
    quote = dialect.identifier_preparer.quote
    target = dialect.identifier_preparer.format_table(table)
    names = ", ".join(quote(c.name) for c in written)
    as_arrays = dialect.name == "postgresql"
    if as_arrays:
        # %b: psycopg sends the arrays in binary, which it builds several times faster than text.
        arrays = ", ".join(f"%b::{c.type.compile(dialect=dialect)}[]" for c in parameters)
        if write.key is None:
            sql = f"INSERT INTO {target} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608 - names from the models
        else:
            key = quote(write.key)
            assignments = ", ".join(f"{quote(c.name)} = v.{quote(c.name)}" for c in written)
            sql = (
                f"UPDATE {target} SET {assignments} FROM unnest({arrays}) "  # noqa: S608 - names from the models
                f"AS v({names}, {key}) WHERE {target}.{key} = v.{key}"
            )
    else:
        if dialect.paramstyle != "qmark":
            raise NotImplementedError(
                f"solarfleet stores readings in SQLite or PostgreSQL; {dialect.name} ({dialect.paramstyle}) is neither"
            )
        if write.key is None:
            placeholders = ", ".join("?" for _ in written)
            sql = f"INSERT INTO {target} ({names}) VALUES ({placeholders})"  # noqa: S608 - names from the models
        else:
            assignments = ", ".join(f"{quote(c.name)} = ?" for c in written)
            sql = f"UPDATE {target} SET {assignments} WHERE {quote(write.key)} = ?"  # noqa: S608 - names from the models
    if write.ignore_duplicates:
        sql += " ON CONFLICT DO NOTHING"
    return _Statement(
        sql,
        arrays=as_arrays,
        prepare=tuple(_preparer(c, dialect, as_arrays) for c in parameters),
        on_update=tuple(c.onupdate for c in on_update),
    )


def _preparer(column: Column, dialect: Dialect, arrays: bool) -> Callable[[list], list] | None:
    """What turns one column's values into what the driver takes, as SQLAlchemy's bind processor would."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None and arrays and column.type.python_type is float:
        # An array has one element type: whole watts from a device (ints) among floats would not go.
        process = _to_float
    if process is None:
        return None
    if isinstance(column.type, DateTime) or isinstance(getattr(column.type, "impl", None), DateTime):
        # A poll step stamps thousands of rows with the same few times: convert each time once.
        return lambda values: list(map({value: process(value) for value in set(values)}.__getitem__, values))
    return lambda values: list(map(process, values))


def _to_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _ensure_reauthenticate_action(connection: Connection, inverter_id: uuid.UUID, message: str) -> None:
    pending = connection.scalar(
        select(func.count()).where(
            InverterAction.inverter_id == inverter_id,
            InverterAction.action == REAUTHENTICATE,
            InverterAction.resolved_at.is_(None),
        )
    )
    if not pending:
        # No stored link: responses derive it from the inverter's authorization_url.
        connection.execute(
            insert(InverterAction.__table__),
            [
                {
                    "id": uuid.uuid4(),
                    "inverter_id": inverter_id,
                    "action": REAUTHENTICATE,
                    "message": message,
                    "resolution_link": None,
                    "created_at": datetime.now().astimezone(),
                }
            ],
        )


# -- rollups and production windows ----------------------------------------------------------------

_SUMS_FROM_READINGS = """
    count(*),
    sum(interval_s),
    sum(solar_w * interval_s) / 3600.0,
    sum(household_w * interval_s) / 3600.0,
    sum(CASE WHEN grid_w > 0 THEN grid_w * interval_s ELSE 0 END) / 3600.0,
    sum(CASE WHEN grid_w < 0 THEN -grid_w * interval_s ELSE 0 END) / 3600.0,
    sum(CASE WHEN battery_w < 0 THEN -battery_w * interval_s WHEN battery_w IS NOT NULL THEN 0 END) / 3600.0,
    sum(CASE WHEN battery_w > 0 THEN battery_w * interval_s WHEN battery_w IS NOT NULL THEN 0 END) / 3600.0,
    sum(soc_percent * interval_s),
    sum(CASE WHEN soc_percent IS NOT NULL THEN interval_s END),
    min(solar_energy_wh)
"""
_SUMS_FROM_ROLLUPS = """
    sum(samples), sum(covered_s), sum(solar_wh), sum(household_wh), sum(export_wh), sum(import_wh),
    sum(charge_wh), sum(discharge_wh), sum(soc_weighted), sum(soc_covered_s), min(energy_counter_first)
"""
_ROLLUP_COLUMNS = (
    "inverter_id, resolution, bucket_s, samples, covered_s, solar_wh, household_wh, export_wh, import_wh, "
    "charge_wh, discharge_wh, soc_weighted, soc_covered_s, energy_counter_first"
)
_UPSERT = " ON CONFLICT (inverter_id, resolution, bucket_s) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in _ROLLUP_COLUMNS.split(", ")[3:]
)


# Both statements are fixed text; everything that varies is a bound parameter. GROUP BY names the
# bucket by position because PostgreSQL does not equate two expressions with separate parameters.
_ROLLUP_FROM_READINGS = text(
    f"INSERT INTO reading_rollups ({_ROLLUP_COLUMNS}) "  # noqa: S608 - only module constants are interpolated
    f"SELECT inverter_id, :resolution, time_s - time_s % :width, {_SUMS_FROM_READINGS} FROM readings "
    "WHERE inverter_id IN :ids AND time_s >= :start AND time_s < :end GROUP BY 1, 3" + _UPSERT
).bindparams(bindparam("ids", expanding=True, type_=Uuid()))
_ROLLUP_FROM_ROLLUPS = text(
    f"INSERT INTO reading_rollups ({_ROLLUP_COLUMNS}) "  # noqa: S608 - only module constants are interpolated
    f"SELECT inverter_id, :resolution, bucket_s - bucket_s % :width, {_SUMS_FROM_ROLLUPS} FROM reading_rollups "
    "WHERE inverter_id IN :ids AND resolution = :source AND bucket_s >= :start AND bucket_s < :end "
    "GROUP BY 1, 3" + _UPSERT
).bindparams(bindparam("ids", expanding=True, type_=Uuid()))
_ROLLUP_CHAIN = (("readings", "15MIN"), ("15MIN", "1HOUR"), ("1HOUR", "1DAY"))
ROLLUP_CHUNK = 500


def roll_up(database: Database, inverter_ids: Sequence[uuid.UUID], start_s: int, end_s: int) -> int:
    """(Re)compute the 15-minute, hourly and daily rollups of these devices for the buckets that
    overlap [start_s, end_s). Idempotent: each bucket is recomputed from its source. Returns how
    many rollup rows were written (inserted or updated)."""
    written = 0
    for index in range(0, len(inverter_ids), ROLLUP_CHUNK):
        ids = list(inverter_ids[index : index + ROLLUP_CHUNK])
        for attempt in range(LOCKED_RETRIES):
            chunk_written = 0
            try:
                with database.engine.execution_options(solarfleet_write=True).begin() as connection:
                    for source, resolution in _ROLLUP_CHAIN:
                        width = RESOLUTION_SECONDS[resolution]
                        bucket_start = start_s - start_s % width
                        bucket_end = end_s - end_s % width + (width if end_s % width else 0)
                        statement = _ROLLUP_FROM_READINGS if source == "readings" else _ROLLUP_FROM_ROLLUPS
                        result = connection.execute(
                            statement,
                            {
                                "ids": ids,
                                "start": bucket_start,
                                "end": bucket_end,
                                "width": width,
                                "resolution": resolution,
                                "source": source,
                            },
                        )
                        chunk_written += result.rowcount
                written += chunk_written
                break
            except OperationalError as exc:
                if "locked" not in str(exc.orig) or attempt == LOCKED_RETRIES - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
    return written


def counters_at(
    database: Database, resolution: str, bucket_s: int, inverter_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, float]:
    """solarfleet's PV energy counter of each device at the start of one bucket: the first reading of
    that bucket, or of the first later bucket where the device was silent then, or 0 for a device
    whose monitoring began later (every device's counter starts at 0)."""
    table = ReadingRollup.__table__
    found: dict[uuid.UUID, float] = {}
    with database.engine.connect() as connection:
        for index in range(0, len(inverter_ids), ROLLUP_CHUNK):
            ids = list(inverter_ids[index : index + ROLLUP_CHUNK])
            exact = connection.execute(
                select(table.c.inverter_id, table.c.energy_counter_first).where(
                    table.c.resolution == resolution, table.c.bucket_s == bucket_s, table.c.inverter_id.in_(ids)
                )
            )
            found.update(dict(exact.all()))
            missing = [i for i in ids if i not in found]
            if missing:
                later = connection.execute(
                    select(table.c.inverter_id, func.min(table.c.energy_counter_first))
                    .where(
                        table.c.resolution == resolution, table.c.bucket_s >= bucket_s, table.c.inverter_id.in_(missing)
                    )
                    .group_by(table.c.inverter_id)
                )
                found.update(dict(later.all()))
    return {inverter_id: found.get(inverter_id) or 0.0 for inverter_id in inverter_ids}


def prune_readings(database: Database, inverter_ids: Sequence[uuid.UUID], older_than_s: int) -> int:
    """Delete raw readings older than the retention (rollups stay); returns how many went."""
    deleted = 0
    table = StoredReading.__table__
    for index in range(0, len(inverter_ids), ROLLUP_CHUNK):
        ids = list(inverter_ids[index : index + ROLLUP_CHUNK])
        with database.engine.execution_options(solarfleet_write=True).begin() as connection:
            result = connection.execute(
                table.delete().where(table.c.inverter_id.in_(ids), table.c.time_s < older_than_s)
            )
            deleted += result.rowcount
    return deleted


def connector_of_model(session, device_model_id: uuid.UUID) -> str:
    return session.scalar(
        select(CloudService.connector)
        .join(DeviceModel, DeviceModel.cloud_service_id == CloudService.id)
        .where(DeviceModel.id == device_model_id)
    )
