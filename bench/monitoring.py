"""Benchmark of the monitoring pipeline: a simulated fleet polled, stored, rolled up and given its statuses.

For SQLite and then PostgreSQL, each in a process of its own (so its memory figures are its own):
bulk-insert one organisation with one user and one simulated home per device (a mix of PV-only,
battery and EV homes), then let a `MonitoringWorker` on a stepped simulation clock poll the fleet.
The first poll of every device is a warm-up and is not measured: it opens the connectors, builds the
homes' day profiles, creates the `poll_states` rows and reads the production-window counters. Then
the clock steps through `--minutes` of simulated time; every step polls whatever is due and flushes
it, so the measured wall time holds polling, status derivation, the batched writes, the 15-minute
rollups and the production-window refreshes alike.

Prints device polls per second, rows written per second and the peak memory (RSS), and whether the
target is met.

    .venv/bin/python bench/monitoring.py [--devices 10000] [--minutes 10] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

from cryptography.fernet import Fernet
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, insert, select

from postgres_server import POSTGRES_URL, postgres_answers
from report import command_line, verdict
from solarfleet.catalogue.models import CloudService, DeviceModel
from solarfleet.connectors.registry import ConnectorContext
from solarfleet.connectors.simulator.clock import SimulationClock
from solarfleet.credentials_cipher import CredentialsCipher
from solarfleet.database import Database, disposable_postgres_schema
from solarfleet.demo import KINDS, SIMULATOR_CONNECTOR, home_parameters
from solarfleet.inverters.models import Inverter
from solarfleet.migrate import upgrade
from solarfleet.monitoring.energy import RESOLUTION_SECONDS
from solarfleet.monitoring.models import DeviceConnection, ReadingRollup, StoredReading
from solarfleet.monitoring.pipeline import MonitoringWorker
from solarfleet.monitoring.statuses import LIFECYCLE_AUTHENTICATED
from solarfleet.organisations.models import Organisation
from solarfleet.prices.zones import ZONE_LOCATIONS, PriceZone
from solarfleet.users.models import User

TARGET_POLLS_PER_SECOND = 5000
DATABASES = ("sqlite", "postgresql")
SEED_CHUNK = 2000
# A summer morning (UTC): PV produces, batteries charge and discharge, and no midnight falls inside a
# run of up to ~13 hours (a new day would rebuild every home's day profiles, which is not the pipeline).
ORIGIN = datetime(2026, 6, 17, 10, 7, 30, tzinfo=UTC)
# Homes sit exactly at a few zones' reference places, so the pvlib clear-sky profiles (per place,
# tilt, azimuth and day) are shared between homes: 4 places × 5 tilts × 5 azimuths at most.
ZONES = (PriceZone.AT, PriceZone.DE_LU, PriceZone.IT_NORD, PriceZone.SE_4)

# Wide enough for the figures table when the output goes to a file or a pipe (rich assumes 80 columns).
console = Console(width=None if sys.stdout.isatty() else 132)


@dataclass(frozen=True)
class Figures:
    """What one database's run measured."""

    devices: int
    seed_s: float
    warmup_s: float
    measured_s: float
    measured_cpu_s: float  # this process's CPU time (all threads) in the measured phase
    polls: int
    failures: int
    readings: int
    rollup_rows: int
    peak_rss_setup_mb: float
    peak_rss_measured_mb: float | None  # None where the kernel's peak cannot be reset
    traced_peak_mb: float | None  # with --tracemalloc only

    @property
    def rows(self) -> int:
        # Every poll updates its inverter row and its poll_states row; a new reading inserts one more.
        return self.readings + 2 * self.polls + self.rollup_rows

    @property
    def polls_per_second(self) -> float:
        return self.polls / self.measured_s

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.measured_s


# --- the fleet ---------------------------------------------------------------------------------


def _uuid(rng: random.Random) -> uuid.UUID:
    """A version-4 UUID from the seeded generator, so one seed always gives the same fleet."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def create_fleet(database: Database, cipher: CredentialsCipher, devices: int, seed: int = 2026) -> None:
    """Migrate, then bulk-insert an organisation and, per device, a user, an inverter and its
    encrypted simulator connection (Core inserts in chunks: the ORM would spend minutes here)."""
    rng = random.Random(seed)
    upgrade(database.engine)
    organisation_id = _uuid(rng)
    with database.session() as session:
        session.execute(insert(Organisation).values(id=organisation_id, name="monitoring bench"))
        simulator_model = session.scalar(
            select(DeviceModel.id)
            .join(CloudService, DeviceModel.cloud_service_id == CloudService.id)
            .where(CloudService.connector == SIMULATOR_CONNECTOR)
        )
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("creating the fleet", total=devices)
        for start in range(0, devices, SEED_CHUNK):
            users, inverters, connections = [], [], []
            for number in range(start, min(start + SEED_CHUNK, devices)):
                kind = KINDS[number % len(KINDS)]
                zone = ZONES[number % len(ZONES)]
                place = ZONE_LOCATIONS[zone]
                parameters = home_parameters(
                    rng,
                    seed=rng.getrandbits(62),
                    zone=zone,
                    latitude=place.latitude,
                    longitude=place.longitude,
                    battery_kwh=round(rng.uniform(5.0, 15.0), 1) if kind.battery else None,
                    ev=kind.ev,
                    household_metered=kind.household_metered,
                )
                user_id, inverter_id = _uuid(rng), _uuid(rng)
                users.append(
                    {
                        "id": user_id,
                        "organisation_id": organisation_id,
                        "email": f"home.{number}@example.com",
                        "external_user_id": f"bench-{number:06d}",
                        "country": zone.value[:2],
                        "latitude": place.latitude,
                        "longitude": place.longitude,
                    }
                )
                inverters.append(
                    {
                        "id": inverter_id,
                        "organisation_id": organisation_id,
                        "user_id": user_id,
                        "device_model_id": simulator_model,
                        "external_device_id": f"SIM-{parameters.seed}",
                        "price_zone": zone.value,
                        "solar_power_rating_kw": parameters.pv_kwp,
                        "is_battery_connected": parameters.battery is not None,
                        "battery_capacity_kwh": parameters.battery.capacity_kwh if parameters.battery else None,
                        "lifecycle_state": LIFECYCLE_AUTHENTICATED,
                        "is_authenticated": True,
                    }
                )
                connections.append(
                    {
                        "inverter_id": inverter_id,
                        "connector": SIMULATOR_CONNECTOR,
                        "settings_ciphertext": cipher.encrypt(parameters.model_dump(mode="json")).decode(),
                    }
                )
            with database.session() as session:
                session.execute(insert(User), users)
                session.execute(insert(Inverter), inverters)
                session.execute(insert(DeviceConnection), connections)
            progress.advance(task, len(users))
    if database.engine.dialect.name == "postgresql":
        # Fresh statistics, as autovacuum would gather them within a minute of a bulk load.
        with database.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE users, inverters, device_connections")


# --- the run (in a process of its own) ----------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _reset_peak_rss() -> bool:
    """Start the kernel's peak-RSS count afresh (Linux ≥ 4.0), so a later peak is the measured phase's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def _warm_up_and_measure(worker: MonitoringWorker, options: argparse.Namespace, figures: dict) -> None:
    began = time.perf_counter()
    await asyncio.to_thread(worker.load)
    await worker.poll_due()  # every device is due at once: the first poll of each, with its flush
    figures["warmup_s"] = time.perf_counter() - began
    figures["peak_rss_setup_mb"] = _peak_rss_mb()
    resettable = _reset_peak_rss()

    before = replace(worker.stats)
    step = timedelta(seconds=options.step)
    steps = int(timedelta(minutes=options.minutes) / step)
    until = worker.clock.now() + steps * step
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("measuring", total=steps)
        if options.tracemalloc:
            tracemalloc.start()
        began, began_cpu = time.perf_counter(), time.process_time()
        await worker.replay(until, step, flush_every=1, progress=lambda _: progress.advance(task))
        figures["measured_s"] = time.perf_counter() - began
        figures["measured_cpu_s"] = time.process_time() - began_cpu
        if options.tracemalloc:
            figures["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    figures["peak_rss_measured_mb"] = _peak_rss_mb() if resettable else None
    after = worker.stats
    figures["polls"] = after.polls - before.polls
    figures["failures"] = after.failures - before.failures
    figures["readings"] = after.readings_stored - before.readings_stored
    figures["rollup_rows"] = after.rollup_rows - before.rollup_rows
    await worker.close()


def _check_stored(database: Database, rolled_up: bool) -> None:
    """A run that stored nothing, or left inverter fields empty, measured something broken: say so."""
    inverter = Inverter.__table__.c
    with database.engine.connect() as connection:
        readings = connection.scalar(select(func.count()).select_from(StoredReading))
        rollups = connection.scalar(
            select(func.count()).select_from(ReadingRollup).where(ReadingRollup.resolution == "15MIN")
        )
        unfilled = connection.scalar(
            select(func.count()).where(
                inverter.last_monitoring_executed_at.is_(None)
                | inverter.current_solar_production_w.is_(None)
                | inverter.production_last_day_kwh.is_(None)
                | (inverter.monitoring_status == "unknown")
                | (inverter.lifecycle_state != "active")
            )
        )
    problems = []
    if not readings:
        problems.append("no readings")
    if rolled_up and not rollups:
        problems.append("no 15-minute rollups")
    if unfilled:
        problems.append(f"{unfilled} inverters without live state, production, status or lifecycle")
    if problems:
        raise RuntimeError("the pipeline did not store what it should: " + "; ".join(problems))


def _crosses_rollup_boundary(options: argparse.Namespace) -> bool:
    width = RESOLUTION_SECONDS["15MIN"]
    start_s = int(ORIGIN.timestamp())
    return (start_s + int(options.minutes * 60)) // width > start_s // width


def measure(name: str, url: str, options: argparse.Namespace) -> Figures:
    """Create the fleet in the database at `url`, warm up and measure (runs in its own process)."""
    console.print(f"[bold]{name}[/bold]: {options.devices:,} simulated homes, {options.minutes:g} simulated minutes")
    database = Database(url)
    cipher = CredentialsCipher([Fernet.generate_key()])
    figures: dict = {"devices": options.devices, "traced_peak_mb": None}
    try:
        began = time.perf_counter()
        create_fleet(database, cipher, options.devices)
        figures["seed_s"] = time.perf_counter() - began
        console.print(f"  fleet created in {figures['seed_s']:.1f} s")
        worker = MonitoringWorker(database, cipher, ConnectorContext(clock=SimulationClock.stepped(ORIGIN)))
        asyncio.run(_warm_up_and_measure(worker, options, figures))
        console.print(
            f"  warm-up (first poll of every device) {figures['warmup_s']:.1f} s, "
            f"measured {figures['measured_s']:.1f} s"
        )
        _check_stored(database, _crosses_rollup_boundary(options))
        if options.sqlite_file and database.engine.dialect.name == "sqlite":
            console.print(f"  database kept at {options.sqlite_file}")
    finally:
        database.dispose()
    return Figures(**figures)


def run_sqlite(options: argparse.Namespace, pool: ProcessPoolExecutor) -> Figures:
    if options.sqlite_file:
        path = Path(options.sqlite_file).resolve()
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        return pool.submit(measure, "SQLite", f"sqlite:///{path}", options).result()
    with tempfile.TemporaryDirectory(prefix="solarfleet-bench-") as tmp:
        return pool.submit(measure, "SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", options).result()


def run_postgres(options: argparse.Namespace, pool: ProcessPoolExecutor) -> Figures | None:
    if not postgres_answers(console):
        return None
    with disposable_postgres_schema(POSTGRES_URL, f"solarfleet_bench_{os.getpid()}") as url:
        return pool.submit(measure, "PostgreSQL", url, options).result()


# --- report ------------------------------------------------------------------------------------


def report(results: dict[str, Figures], options: argparse.Namespace) -> None:
    """Print the figures, what they count, and whether the target is met."""
    table = Table(title=f"Monitoring pipeline, {options.devices:,} devices, {options.minutes:g} simulated minutes")
    columns = (
        "database",
        "polls",
        "seconds",
        "CPU s",
        "polls/s",
        "rows",
        "rows/s",
        "peak RSS MB set-up",
        "peak RSS MB measured",
    )
    if options.tracemalloc:
        columns += ("traced peak MB",)
    for column in columns:
        table.add_column(column, justify="left" if column == "database" else "right")
    for name, figures in results.items():
        cells = [
            name,
            f"{figures.polls:,}",
            f"{figures.measured_s:.1f}",
            f"{figures.measured_cpu_s:.1f}",
            f"{figures.polls_per_second:,.0f}",
            f"{figures.rows:,}",
            f"{figures.rows_per_second:,.0f}",
            f"{figures.peak_rss_setup_mb:,.0f}",
            "n/a" if figures.peak_rss_measured_mb is None else f"{figures.peak_rss_measured_mb:,.0f}",
        ]
        if options.tracemalloc:
            cells.append(f"{figures.traced_peak_mb:,.1f}")
        table.add_row(*cells)
    console.print(table)
    console.print(
        "rows = readings inserted + one inverter update and one poll_states update per poll + rollup rows "
        "upserted (15-minute, hourly, daily); seconds = wall time of the measured polls with their flushes, "
        "rollups and production-window refreshes (the warm-up poll of every device excluded); CPU s = this "
        "process's CPU time in them (the database server's excluded), which other load on the machine changes "
        "less than the wall time; peak RSS "
        "'set-up' covers fleet creation and warm-up, 'measured' the measured phase alone.",
        highlight=False,
    )
    if options.tracemalloc:
        console.print("[yellow]tracemalloc was on: it slows Python down, so polls/s are low.[/yellow]")
    for name, figures in results.items():
        met = figures.polls_per_second >= TARGET_POLLS_PER_SECOND
        console.print(
            f"{name}: ≥ {TARGET_POLLS_PER_SECOND:,} polls/s {verdict(met)}, "
            f"{figures.failures} failed polls (fleet {figures.seed_s:.1f} s, warm-up {figures.warmup_s:.1f} s)"
        )
    console.print(f"command: {command_line()}", highlight=False, soft_wrap=True)


def _databases(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(DATABASES))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(DATABASES)} (comma-separated), not {value!r}")
    return names


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000, help="simulated homes (default 10000)")
    parser.add_argument(
        "--minutes",
        type=float,
        default=10.0,
        help="simulated minutes measured after the warm-up (default 10: 20 polls of each device at the 30 s "
        "interval, across the 10:15 rollup boundary)",
    )
    parser.add_argument("--step", type=float, default=10.0, help="simulated seconds per clock step (default 10)")
    parser.add_argument("--databases", type=_databases, default=list(DATABASES), help="sqlite,postgresql")
    parser.add_argument("--sqlite-file", help="keep the SQLite database in this file (replaced) for inspection")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations in the measured phase (slow)"
    )
    options = parser.parse_args()
    if options.devices < 1:
        parser.error("--devices must be at least 1")
    if options.step <= 0 or options.minutes * 60 < options.step:
        parser.error("--step must be positive and --minutes hold at least one step")
    if not _crosses_rollup_boundary(options):
        console.print("[yellow]These --minutes cross no 15-minute boundary: no rollup is measured.[/yellow]")
    return options


def main() -> int:
    options = parse_options()
    results: dict[str, Figures] = {}
    # spawn: each database gets a fresh interpreter, so its peak RSS is its own.
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        if "sqlite" in options.databases:
            results["SQLite"] = run_sqlite(options, pool)
        if "postgresql" in options.databases:
            postgres = run_postgres(options, pool)
            if postgres is not None:
                results["PostgreSQL"] = postgres
    if not results:
        return 1
    report(results, options)
    # Failed polls mean the figures describe something broken; a missed target alone does not fail the run.
    return 1 if any(figures.failures for figures in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
