"""Benchmark of the partner API's central read: `GET /org/{org_id}/users/{user_id}/inverters`.

For SQLite and then PostgreSQL: seed one organisation with 1,000 users of 10 inverters each,
start `solarfleet serve` (one uvicorn worker) as its own process, and drive random users' inverter
lists from a second process over loopback with a closed loop of a few keep-alive connections.
Prints requests/s, p50 and p99 latency and the error count, and whether the targets are met.

The server runs on one CPU and the load generator on another (unless --no-pin). One worker can use
only one core anyway (the GIL); pinned, neither process takes CPU time from the other, and the
server's hand-offs between its event loop and its worker threads stay on one CPU. Unpinned, on a VM
waking a thread on the idle second vCPU costs about 0.1 ms, several times per request, and the
result then depends more on how busy the rest of the machine is than on the server.

    .venv/bin/python bench/api_read.py [--duration 10] [--concurrency 4] [--databases sqlite] [--no-pin]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import NamedTuple

import aiohttp
import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import insert, select

from postgres_server import POSTGRES_URL, postgres_answers
from solarfleet.catalogue.models import DeviceModel
from solarfleet.database import Database, disposable_postgres_schema
from solarfleet.inverters.models import Inverter
from solarfleet.inverters.schemas import BatteryPolicy
from solarfleet.migrate import upgrade
from solarfleet.organisations.service import create_organisation
from solarfleet.prices.zones import PriceZone
from solarfleet.users.models import User

TARGET_REQUESTS_PER_SECOND = 500
TARGET_P99_MS = 20.0
BASE = "/api/partners/v2.0"
HOST = "127.0.0.1"
SEED_CHUNK = 500
SERVER_START_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 5

console = Console()


class Home(NamedTuple):
    town: str
    country: str
    latitude: float
    longitude: float
    price_zone: PriceZone


HOMES = [
    Home("Wien", "AT", 48.2082, 16.3738, PriceZone.AT),
    Home("Graz", "AT", 47.0707, 15.4395, PriceZone.AT_HOURLY),
    Home("Freiburg", "DE", 47.999, 7.842, PriceZone.DE_LU),
    Home("München", "DE", 48.1351, 11.582, PriceZone.DE_LU),
    Home("Malmö", "SE", 55.605, 13.0038, PriceZone.SE_4),
    Home("Uppsala", "SE", 59.8586, 17.6389, PriceZone.SE_3),
    Home("Milano", "IT", 45.4642, 9.19, PriceZone.IT_NORD),
    Home("Napoli", "IT", 40.8518, 14.2681, PriceZone.IT_SUD),
    Home("Bruxelles", "BE", 50.8503, 4.3517, PriceZone.BE),
    Home("Lisboa", "PT", 38.7223, -9.1393, PriceZone.PT),
]
FIRST_NAMES = ["Anna", "Jonas", "Sara", "Luca", "Marie", "Felix", "Elin", "Giulia", "Lukas", "Inês"]
LAST_NAMES = ["Gruber", "Becker", "Lindqvist", "Moretti", "Peeters", "Silva", "Huber", "Rossi", "Berg", "Wagner"]


@dataclass(frozen=True)
class Fleet:
    org_id: uuid.UUID
    client_id: str
    client_secret: str
    user_ids: list[uuid.UUID]


@dataclass(frozen=True)
class LoadResult:
    latencies_ms: list[float]
    errors: int
    elapsed_s: float

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile_ms(self, fraction: float) -> float:
        """Nearest-rank percentile; NaN without successful requests."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


# --- seeding -----------------------------------------------------------------------------------


def _home(user_number: int) -> Home:
    return HOMES[user_number % len(HOMES)]


def _user_rows(rng: random.Random, org_id: uuid.UUID, count: int, now: datetime) -> list[dict]:
    rows = []
    for i in range(count):
        home = _home(i)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        # At least three days ago, so that inverters registered up to two days later lie in the past.
        joined = now - timedelta(days=rng.uniform(3, 900))
        rows.append(
            {
                "id": uuid.uuid4(),
                "organisation_id": org_id,
                "email": f"{first}.{last}.{i}@example.com".lower(),
                "external_user_id": f"crm-{i:06d}",
                "first_name": first,
                "last_name": last,
                "street_and_number": f"Hauptstraße {rng.randint(1, 200)}",
                "zip_code": f"{rng.randint(1000, 99999)}",
                "town": home.town,
                "country": home.country,
                "latitude": home.latitude + rng.uniform(-0.05, 0.05),
                "longitude": home.longitude + rng.uniform(-0.05, 0.05),
                "joined_at": joined,
                "updated_at": joined,
            }
        )
    return rows


def _inverter_row(rng: random.Random, user: dict, home: Home, device_model_id: uuid.UUID, now: datetime) -> dict:
    created = user["joined_at"] + timedelta(hours=rng.uniform(1, 48))
    rating = round(rng.uniform(3.0, 15.0), 1)
    solar_w = round(rng.uniform(0, rating * 800), 1)
    household_w = round(rng.uniform(150, 4000), 1)
    row = {
        "id": uuid.uuid4(),
        "organisation_id": user["organisation_id"],
        "user_id": user["id"],
        "device_model_id": device_model_id,
        "external_device_id": f"SIM-{rng.randrange(16**10):010X}",
        "price_zone": home.price_zone.value,
        "comment": rng.choice([None, None, None, "roof east/west", "installed by partner"]),
        "created_at": created,
        "updated_at": created,
        "lifecycle_state": "active",
        "is_authenticated": True,
        "connection_status": rng.choice(["ok"] * 8 + ["warning", "error"]),
        "monitoring_status": rng.choice(["ok"] * 9 + ["warning"]),
        "steering_status": rng.choice(["ok", "unknown"]),
        "current_state_last_updated_at": now - timedelta(seconds=rng.uniform(5, 300)),
        "last_monitoring_executed_at": now - timedelta(seconds=rng.uniform(1, 60)),
        "information_last_updated_at": created,
        "solar_power_rating_kw": rating,
        "battery_policy": rng.choice(list(BatteryPolicy)).value,
        "is_smart_optimization_active": rng.random() < 0.7,
        "is_trading_enabled": rng.random() < 0.2,
        "current_solar_production_w": solar_w,
        "household_consumption_w": household_w,
        "current_power_to_grid_w": round(solar_w - household_w, 1),
        "production_last_day_kwh": round(rating * rng.uniform(0.5, 5), 2),
        "production_last_week_kwh": round(rating * rng.uniform(5, 30), 2),
        "production_last_month_kwh": round(rating * rng.uniform(30, 120), 2),
        "production_last_updated_at": now - timedelta(minutes=rng.uniform(1, 15)),
        # Every row has the same keys, so the bulk insert goes out in a few large batches.
        "is_battery_connected": False,
        "battery_capacity_kwh": None,
        "user_limits_enabled": False,
        "min_battery_charge": None,
        "max_battery_charge": None,
        "battery_charge_level_percent": None,
        "battery_charge_discharge_power_w": None,
    }
    # Half the homes have a battery, a third of those with the user's own charge limits.
    if rng.random() < 0.5:
        limits = rng.random() < 0.33
        row.update(
            is_battery_connected=True,
            battery_capacity_kwh=rng.choice([5.0, 7.7, 10.2, 13.5, 15.0]),
            user_limits_enabled=limits,
            min_battery_charge=rng.choice([10.0, 20.0]) if limits else None,
            max_battery_charge=rng.choice([80.0, 90.0, 100.0]) if limits else None,
            battery_charge_level_percent=round(rng.uniform(5, 100), 1),
            battery_charge_discharge_power_w=round(rng.uniform(-3000, 3000), 1),
        )
    return row


def seed(url: str, users: int, inverters_per_user: int) -> Fleet:
    """Migrate, then create the organisation with its client and bulk-insert users and inverters."""
    rng = random.Random(20260)
    now = datetime.now(UTC)
    database = Database(url)
    try:
        upgrade(database.engine)
        with database.session() as session:
            issued = create_organisation(session, "bench partner")
            simulator = session.scalar(select(DeviceModel.id).where(DeviceModel.manufacturer == "solarfleet"))
            user_rows = _user_rows(rng, issued.org_id, users, now)
            with Progress(console=console) as progress:
                users_task = progress.add_task("users", total=len(user_rows))
                for start in range(0, len(user_rows), SEED_CHUNK):
                    chunk = user_rows[start : start + SEED_CHUNK]
                    session.execute(insert(User), chunk)
                    progress.advance(users_task, len(chunk))
                inverters_task = progress.add_task("inverters", total=len(user_rows) * inverters_per_user)
                # Per user, so a chunk never splits one user's inverters: progress moves in steps of whole users.
                users_per_chunk = max(1, SEED_CHUNK // inverters_per_user)
                for start in range(0, len(user_rows), users_per_chunk):
                    chunk = [
                        _inverter_row(rng, user, _home(i), simulator, now)
                        for i, user in enumerate(user_rows[start : start + users_per_chunk], start)
                        for _ in range(inverters_per_user)
                    ]
                    session.execute(insert(Inverter), chunk)
                    progress.advance(inverters_task, len(chunk))
        if database.engine.dialect.name == "postgresql":
            # Autovacuum would gather statistics within a minute of the bulk load; without them the
            # planner picks poor plans, so a benchmark right after seeding would measure those.
            with database.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE organisations, api_clients, users, inverters")
    finally:
        database.dispose()
    return Fleet(issued.org_id, issued.client_id, issued.client_secret, [row["id"] for row in user_rows])


# --- server ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _cpu_pair(pin: bool) -> tuple[int, int] | None:
    """A CPU for the server and another for the load generator; None to leave placement to the OS."""
    cpus = sorted(os.sched_getaffinity(0)) if pin and hasattr(os, "sched_setaffinity") else []
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else None


@contextmanager
def _on_cpu(cpu: int | None) -> Iterator[None]:
    """Run the block on one CPU (None: anywhere): a process started in it, and all its threads, keep that CPU."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextmanager
def running_server(url: str, state_dir: Path, cpu: int | None) -> Iterator[httpx.Client]:
    """`solarfleet serve` with one worker in its own process; yields a client of it for set-up requests."""
    port = _free_port()
    env = {
        **os.environ,
        "SOLARFLEET_DATABASE_URL": url,
        "SOLARFLEET_STATE_DIR": str(state_dir),
        "SOLARFLEET_LOG_LEVEL": "WARNING",
    }
    # The CLI sits next to the interpreter this benchmark runs in (the project's .venv).
    command = [str(Path(sys.executable).with_name("solarfleet")), "serve", "--host", HOST, "--port", str(port)]
    log_path = state_dir / "server.log"
    with log_path.open("wb") as log, _on_cpu(cpu):
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    # trust_env=False: no proxy variable may divert loopback requests.
    client = httpx.Client(base_url=f"http://{HOST}:{port}", timeout=REQUEST_TIMEOUT_S, trust_env=False)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with {server.returncode}:\n{log_path.read_text()}")
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within {SERVER_START_TIMEOUT_S} s")
            time.sleep(0.1)
        yield client
    finally:
        client.close()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def access_token(client: httpx.Client, fleet: Fleet) -> str:
    response = client.post(
        "/oauth2/token/", data={"grant_type": "client_credentials"}, auth=(fleet.client_id, fleet.client_secret)
    )
    if response.status_code != 200:
        raise RuntimeError(f"token request answered {response.status_code}: {response.text[:200]}")
    return response.json()["access_token"]


def check_response(client: httpx.Client, path: str, token: str, inverters_per_user: int) -> None:
    """One request before the load, so a fast error or an empty list is never what gets measured."""
    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:200]}")
    found = len(response.json())
    if found != inverters_per_user:
        raise RuntimeError(f"{path} listed {found} inverters, expected {inverters_per_user}")


# --- load (runs in its own process) ------------------------------------------------------------


async def _drive(
    base_url: str, token: str, paths: list[str], concurrency: int, warmup_s: float, duration_s: float, max_requests: int
) -> LoadResult:
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random()
    latencies: list[float] = []
    errors = 0
    sent = 0
    last_end = 0.0
    started = time.perf_counter()
    measure_from = started + warmup_s
    stop_at = measure_from + duration_s

    async def connection(session: aiohttp.ClientSession) -> None:
        nonlocal errors, sent, last_end
        # Closed loop: each connection sends its next request only when the last one is answered.
        while sent < max_requests and (begin := time.perf_counter()) < stop_at:
            sent += 1
            try:
                async with session.get(base_url + rng.choice(paths), headers=headers) as response:
                    await response.read()
                    ok = response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            end = time.perf_counter()
            if begin < measure_from:
                continue
            last_end = max(last_end, end)
            if ok:
                latencies.append((end - begin) * 1000)
            else:
                errors += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(connection(session) for _ in range(concurrency)))
    return LoadResult(latencies, errors, max(0.0, last_end - measure_from))


def run_load(*args) -> LoadResult:
    return asyncio.run(_drive(*args))


# --- runs --------------------------------------------------------------------------------------


def measure(name: str, url: str, state_dir: Path, options: argparse.Namespace) -> LoadResult:
    console.print(f"[bold]{name}[/bold]: seeding {options.users:,} users × {options.inverters_per_user} inverters")
    began = time.perf_counter()
    fleet = seed(url, options.users, options.inverters_per_user)
    console.print(f"  seeded in {time.perf_counter() - began:.1f} s")
    cpus = _cpu_pair(not options.no_pin)
    server_cpu, load_cpu = cpus or (None, None)
    with running_server(url, state_dir, server_cpu) as client:
        token = access_token(client, fleet)
        paths = [f"{BASE}/org/{fleet.org_id}/users/{user_id}/inverters" for user_id in fleet.user_ids]
        check_response(client, paths[0], token, options.inverters_per_user)
        console.print(
            f"  {options.concurrency} connections, {options.warmup:g} s warm-up + {options.duration:g} s measured"
        )
        console.print(
            f"  server on CPU {server_cpu}, load generator on CPU {load_cpu}" if cpus else "  CPUs placed by the OS"
        )
        # spawn: a fresh interpreter, nothing inherited from this process's engines or threads.
        with ProcessPoolExecutor(
            max_workers=1,
            mp_context=get_context("spawn"),
            initializer=os.sched_setaffinity if cpus else None,
            initargs=(0, {load_cpu}) if cpus else (),
        ) as pool:
            load = pool.submit(
                run_load,
                str(client.base_url).rstrip("/"),
                token,
                paths,
                options.concurrency,
                options.warmup,
                options.duration,
                options.max_requests,
            )
            return load.result(timeout=options.warmup + options.duration + 120)


def run_sqlite(options: argparse.Namespace) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="solarfleet-bench-") as tmp:
        state_dir = Path(tmp)
        return measure("SQLite", f"sqlite:///{state_dir / 'bench.db'}", state_dir, options)


def run_postgres(options: argparse.Namespace) -> LoadResult | None:
    if not postgres_answers(console):
        return None
    with (
        disposable_postgres_schema(POSTGRES_URL, f"solarfleet_bench_{os.getpid()}") as url,
        tempfile.TemporaryDirectory(prefix="solarfleet-bench-") as tmp,
    ):
        return measure("PostgreSQL", url, Path(tmp), options)


def report(results: dict[str, LoadResult]) -> None:
    """Print the figures and whether each target is met."""
    table = Table(title="GET /org/{org_id}/users/{user_id}/inverters")
    for column in ("database", "requests/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="left" if column == "database" else "right")
    for name, result in results.items():
        table.add_row(
            name,
            f"{result.requests_per_second:.1f}",
            f"{result.percentile_ms(0.50):.2f}",
            f"{result.percentile_ms(0.99):.2f}",
            str(result.errors),
        )
    console.print(table)
    for name, result in results.items():
        throughput_met = result.requests_per_second >= TARGET_REQUESTS_PER_SECOND
        # A NaN p99 (nothing succeeded) compares false, so it never counts as met.
        p99_met = result.percentile_ms(0.99) <= TARGET_P99_MS
        console.print(
            f"{name}: ≥ {TARGET_REQUESTS_PER_SECOND} requests/s {_verdict(throughput_met)}, "
            f"p99 ≤ {TARGET_P99_MS:g} ms {_verdict(p99_met)}, errors {result.errors}"
        )


def _verdict(met: bool) -> str:
    return "[green]met[/green]" if met else "[red]NOT met[/red]"


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--inverters-per-user", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=4, help="connections in the closed loop")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--max-requests", type=int, default=100_000, help="cap on requests sent, warm-up included")
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument(
        "--no-pin", action="store_true", help="let the OS place server and load generator (default: one CPU each)"
    )
    options = parser.parse_args()
    if min(options.users, options.inverters_per_user, options.concurrency, options.max_requests) < 1:
        parser.error("--users, --inverters-per-user, --concurrency and --max-requests must be at least 1")
    if options.warmup < 0 or options.duration <= 0:
        parser.error("--warmup must not be negative and --duration must be positive")
    return options


def main() -> int:
    options = parse_options()
    results: dict[str, LoadResult] = {}
    if "sqlite" in options.databases:
        results["SQLite"] = run_sqlite(options)
    if "postgresql" in options.databases:
        postgres = run_postgres(options)
        if postgres is not None:
            results["PostgreSQL"] = postgres
    if not results:
        return 1
    report(results)
    # Failed requests mean the figures describe something broken; a missed target alone does not fail the run.
    return 1 if any(result.errors for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
