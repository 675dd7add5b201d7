"""The `solarfleet` command line."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from solarfleet.config import get_settings
from solarfleet.database import Database
from solarfleet.logs import configure_logging

app = typer.Typer(help="solarfleet: connect, watch and steer solar inverters and home batteries.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations (partners).", no_args_is_help=True)
client_app = typer.Typer(help="API clients of an organisation.", no_args_is_help=True)
fleet_app = typer.Typer(help="Devices of the fleet.", no_args_is_help=True)
savings_app = typer.Typer(help="Savings against plain self-consumption.", no_args_is_help=True)
inference_app = typer.Typer(help="Battery parameters and EV charging learnt from history.", no_args_is_help=True)
credentials_app = typer.Typer(help="Encryption of the stored device credentials.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(fleet_app, name="fleet")
app.add_typer(savings_app, name="savings")
app.add_typer(inference_app, name="inference")
app.add_typer(credentials_app, name="credentials")
app.add_typer(org_app, name="org")
app.add_typer(client_app, name="client")

console = Console(stderr=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def _database() -> Database:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return Database(settings.resolved_database_url)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


def _migrated_database() -> Database:
    """The configured database, migrated to the newest schema; a clear error if it cannot be reached."""
    from sqlalchemy.exc import OperationalError

    from solarfleet.migrate import upgrade

    database = _database()
    try:
        before, after = upgrade(database.engine)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        raise _fail(f"cannot open the database: {reason}; check SOLARFLEET_DATABASE_URL") from None
    if before != after:
        console.print(f"database migrated: {before or 'empty'} → {after}")
    return database


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema."""
    database = _migrated_database()
    from solarfleet.migrate import current_revision

    console.print(f"database schema at revision {current_revision(database.engine)}")


def _print_client(issued, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(issued.as_json()))
        return
    console.print(
        Panel(
            f"org_id:        {issued.org_id}\n"
            f"client_id:     {issued.client_id}\n"
            f"client_secret: {issued.client_secret}\n\n"
            "The secret is shown only now; solarfleet keeps just its hash.",
            title="API client",
        )
    )


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Argument(help="The organisation's name.")], as_json: JsonFlag = False
) -> None:
    """Create an organisation with its first API client."""
    from solarfleet.organisations.service import create_organisation

    database = _migrated_database()
    try:
        with database.session() as session:
            issued = create_organisation(session, name)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    _print_client(issued, as_json)


@client_app.command("create")
def client_create(
    org: Annotated[str, typer.Option("--org", help="The organisation's id (from `org create`).")],
    as_json: JsonFlag = False,
) -> None:
    """Add an API client to an organisation."""
    from solarfleet.organisations.service import UnknownOrganisation, create_client

    organisation_id = _uuid_option("--org", org)
    database = _migrated_database()
    try:
        with database.session() as session:
            issued = create_client(session, organisation_id)
    except UnknownOrganisation as exc:
        raise _fail(f"{exc}; `solarfleet org create NAME` makes one") from None
    _print_client(issued, as_json)


@client_app.command("revoke")
def client_revoke(client_id: Annotated[str, typer.Argument(help="The client id to revoke.")]) -> None:
    """Revoke an API client: its tokens stop working at once."""
    from solarfleet.organisations.service import UnknownClient, revoke_client

    database = _migrated_database()
    try:
        with database.session() as session:
            revoke_client(session, client_id)
    except UnknownClient as exc:
        raise _fail(str(exc)) from None
    console.print(f"client {client_id} revoked; its tokens are refused from now on")


def _serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "solarfleet.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


def _worker(database: Database, clock=None, shards: frozenset[int] | None = None):
    from solarfleet.connectors.registry import ConnectorContext
    from solarfleet.credentials_cipher import CredentialsCipher
    from solarfleet.monitoring.pipeline import MonitoringWorker
    from solarfleet.steering.loop import SteeringLoop

    settings = get_settings()
    return MonitoringWorker(
        database,
        CredentialsCipher(settings.fernet_keys()),
        ConnectorContext(clock=clock),
        settings.monitoring(),
        shards,
        steering=SteeringLoop(database) if settings.steering else None,
    )


def _fetcher(worker, market=None):
    from solarfleet.runtime import price_fetcher

    return price_fetcher(worker.database, get_settings(), worker.clock.now, market)


async def _serve_and_monitor(host: str, port: int, worker, fetcher) -> None:
    """One process: the API, the monitoring worker and the price fetcher on one event loop (the embedded default)."""
    import asyncio

    import uvicorn

    from solarfleet.api.app import create_app
    from solarfleet.runtime import run_fleet

    settings = get_settings()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, worker.database), host=host, port=port, log_config=None, access_log=False)
    )
    stop = asyncio.Event()
    monitoring = asyncio.create_task(run_fleet(worker, stop, fetcher))
    try:
        await server.serve()
    finally:
        stop.set()
        await monitoring


Host = Annotated[str, typer.Option(help="Address to listen on.")]
Port = Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")]


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
    monitoring: Annotated[
        bool, typer.Option(help="Poll devices in this process (one worker only; else run `solarfleet monitor`).")
    ] = True,
) -> None:
    """Serve the partner API and poll the fleet (migrating the database first when it is empty or outdated)."""
    import asyncio

    database = _migrated_database()
    if workers > 1 or not monitoring:
        database.dispose()
        if monitoring:
            console.print("several API workers: polling is left to `solarfleet monitor` (run it once beside them)")
        _serve(host, port, workers)
        return
    worker = _worker(database)
    asyncio.run(_serve_and_monitor(host, port, worker, _fetcher(worker)))


@savings_app.command("compute")
def savings_compute(
    days_back: Annotated[
        int, typer.Option(min=1, max=400, help="Closed local days to compute, back from yesterday.")
    ] = 2,
) -> None:
    """Compute the savings, forecast errors and optimisation scores of the closed days now (the service
    does it every day at 01:10 UTC)."""
    from solarfleet.database import utcnow
    from solarfleet.savings.daily import run_daily

    database = _migrated_database()
    with _progress("savings days") as progress:
        task = progress.add_task("savings", total=None)
        result = run_daily(
            database,
            utcnow(),
            days_back=days_back,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    console.print(
        f"{result.inverters} inverters: {result.savings_days} savings days, {result.forecast_errors} forecast "
        f"errors stored, {result.scored} optimisation scores, in {result.seconds:.1f} s"
    )


@inference_app.command("run")
def inference_run() -> None:
    """Infer every active inverter's battery parameters and EV charging from its last 30 days now (the
    service does it every day after the savings)."""
    from solarfleet.database import utcnow
    from solarfleet.inference.service import run_inference

    database = _migrated_database()
    with _progress("inverters") as progress:
        task = progress.add_task("inference", total=None)
        result = run_inference(
            database, utcnow(), progress=lambda done, total: progress.update(task, completed=done, total=total)
        )
    console.print(
        f"{result.inverters} inverters: {result.battery_estimates} battery parameters inferred, EV presence known "
        f"for {result.ev_decided}, in {result.seconds:.1f} s"
    )


# Enough ids to find the rows in question without flooding the terminal when a whole fleet is unreadable.
UNREADABLE_IDS_SHOWN = 10


@credentials_app.command("rotate")
def credentials_rotate() -> None:
    """Re-encrypt all stored device credentials (connections, and Connect UI sessions awaiting their check)
    under the first key of SOLARFLEET_ENCRYPTION_KEYS.

    To change the key: put a new Fernet key first in SOLARFLEET_ENCRYPTION_KEYS and keep the old keys after
    it, comma-separated (without SOLARFLEET_ENCRYPTION_KEYS the old key is the one in the state directory's
    encryption.key); restart the running solarfleet services with these keys, so they write under the new key;
    run `solarfleet credentials rotate`. Once it has re-encrypted every row, the old keys may be removed.
    """
    from solarfleet.credentials_cipher import CredentialsCipher
    from solarfleet.credentials_rotation import reencrypt_credentials

    try:
        cipher = CredentialsCipher(get_settings().fernet_keys())
    except ValueError as exc:  # Fernet names the problem, never the key
        raise _fail(f"SOLARFLEET_ENCRYPTION_KEYS: {exc}") from None
    database = _migrated_database()
    with _progress("device credentials") as progress:
        task = progress.add_task("rotate", total=None)
        result = reencrypt_credentials(
            database, cipher, progress=lambda done, total: progress.update(task, completed=done, total=total)
        )
    console.print(f"{result.rotated} device credentials re-encrypted under the first key")
    if result.unreadable:
        shown = ", ".join(str(row_id) for row_id in result.unreadable[:UNREADABLE_IDS_SHOWN])
        more = len(result.unreadable) - UNREADABLE_IDS_SHOWN
        raise _fail(
            f"{len(result.unreadable)} device credentials could not be decrypted with any configured key and were "
            f"left as they were (inverter or onboarding session ids {shown}{f' and {more} more' if more > 0 else ''}); "
            "put the old key back in SOLARFLEET_ENCRYPTION_KEYS after the new one and run "
            "`solarfleet credentials rotate` again"
        )


def _progress(what: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console)


@app.command()
def monitor(
    shards: Annotated[
        str | None,
        typer.Option(help="Poll only these of the 64 shards, e.g. `0-31` (another worker takes `32-63`)."),
    ] = None,
) -> None:
    """Poll, plan and steer every linked device until interrupted (for scale-out beside `serve`). The
    worker holding shard 0 also keeps the day-ahead prices current."""
    import asyncio
    import signal

    from solarfleet.runtime import run_fleet

    chosen = _shard_range(shards) if shards else None
    worker = _worker(_migrated_database(), shards=chosen)
    fetcher = _fetcher(worker) if chosen is None or 0 in chosen else None

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_fleet(worker, stop, fetcher)

    asyncio.run(run())


@app.command()
def demo(
    households: Annotated[int, typer.Option(min=1, max=10_000, help="Simulated households in the demo.")] = 12,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the fleet: one seed, one fleet.")] = 7,
    history_days: Annotated[float, typer.Option(min=0, max=60, help="Days of past readings to fill in.")] = 10.0,
    speed: Annotated[float, typer.Option(min=0.1, max=3600, help="Simulated seconds per real second.")] = 1.0,
    host: Host = "127.0.0.1",
    port: Port = 8000,
) -> None:
    """Set up the demo organisation and its simulated fleet, fill its history, then serve the API while
    monitoring runs live."""
    import asyncio
    from datetime import timedelta

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from solarfleet.connectors.simulator.clock import SimulationClock
    from solarfleet.credentials_cipher import CredentialsCipher
    from solarfleet.database import utcnow
    from solarfleet.demo import demo_zones, ensure_demo_fleet, store_synthetic_history
    from solarfleet.inference.service import run_inference
    from solarfleet.prices.synthetic import SyntheticMarket
    from solarfleet.savings.daily import fill_history

    settings = get_settings()
    database = _migrated_database()
    now = utcnow()
    with database.session() as session:
        issued = ensure_demo_fleet(session, CredentialsCipher(settings.fernet_keys()), households, seed)
        first_day = (now - timedelta(days=history_days + 1)).date()
        store_synthetic_history(session, demo_zones(session, issued.org_id), first_day, now.date(), seed)
    credentials_file = _write_demo_credentials(settings.state_dir, issued)

    clock = SimulationClock.stepped(now - timedelta(days=history_days))
    worker = _worker(database, clock)
    worker.load()
    total = history_days * 86400
    with Progress(
        TextColumn("simulating {task.fields[days]:g} days: readings, plans, steering"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("history", total=total or 1, days=history_days)
        asyncio.run(
            worker.replay(now, timedelta(minutes=1), progress=lambda done: progress.update(task, completed=done))
        )
        progress.update(task, completed=total or 1)
    with _progress("savings of the simulated days") as progress:
        task = progress.add_task("savings", total=None)
        fill_history(
            database, now, history_days, lambda done, total: progress.update(task, completed=done, total=total)
        )
    with _progress("inference from the simulated history") as progress:
        task = progress.add_task("inference", total=None)
        run_inference(database, now, progress=lambda done, total: progress.update(task, completed=done, total=total))
    clock.run_on(speed)

    base = f"http://{host}:{port}"
    pick_access_field = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"
    pick_first_id = "python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"id\"])'"
    # The user id breaks out of the single quotes so that the shell fills it in.
    session_body = (
        '{"user_id": "\'$USER_ID\'", "language": "en", "price_zone_default": "AT", '
        f'"success_url": "{base}/api/partners/v2.0/docs", "cancel_url": "{base}/api/partners/v2.0/docs"}}'
    )
    console.rule("solarfleet demo: a fresh API client (earlier demo clients are revoked)")
    # Plain lines, never wrapped, so they can be copied into a shell as they are.
    for line in (
        f"ORG_ID={issued.org_id}",
        f"CLIENT_ID={issued.client_id}",
        f"CLIENT_SECRET={issued.client_secret}",
        f"TOKEN=$(curl -s -u $CLIENT_ID:$CLIENT_SECRET -d grant_type=client_credentials "
        f"{base}/oauth2/token/ | {pick_access_field})",
        f'curl -s -H "Authorization: Bearer $TOKEN" {base}/api/partners/v2.0/org/$ORG_ID/users',
        "# the Connect UI: a session for the first demo user; open its authentication_url in a browser",
        f'USER_ID=$(curl -s -H "Authorization: Bearer $TOKEN" {base}/api/partners/v2.0/org/$ORG_ID/users | '
        f"{pick_first_id})",
        f'curl -s -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d \'{session_body}\' '
        f"{base}/api/partners/v2.0/device-onboarding",
    ):
        console.print(line, soft_wrap=True, highlight=False, markup=False)
    console.print(f"credentials also in {credentials_file}", soft_wrap=True, highlight=False)
    console.print(
        f"{worker.device_count} simulated inverters polled, planned and steered live at {speed:g}× real time "
        "against synthetic prices; "
        f"API docs: {base}/api/partners/v2.0/docs  (Ctrl-C stops)",
        soft_wrap=True,
    )
    asyncio.run(_serve_and_monitor(host, port, worker, _fetcher(worker, SyntheticMarket(seed))))


def _write_demo_credentials(state_dir: Path, issued) -> Path:
    """The demo client's credentials for scripts, readable by the owner only."""
    path = state_dir / "demo-credentials.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(issued.as_json(), handle, indent=2)
    os.chmod(path, 0o600)
    return path.resolve()


@fleet_app.command("add-simulated")
def fleet_add_simulated(
    org: Annotated[str, typer.Option("--org", help="The organisation's id.")],
    user: Annotated[str, typer.Option("--user", help="The user's id in that organisation.")],
    pv_kwp: Annotated[float | None, typer.Option(min=0, max=100, help="PV peak power in kWp.")] = None,
    battery_kwh: Annotated[float | None, typer.Option(min=0.5, max=200, help="Battery capacity in kWh.")] = None,
    ev: Annotated[bool, typer.Option("--ev", help="The household charges an electric vehicle.")] = False,
    seed: Annotated[int | None, typer.Option(min=0, help="Seed of the simulated home (default: random).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a simulated inverter to an existing user; monitoring picks it up within a minute."""
    import random
    import secrets

    from sqlalchemy import select

    from solarfleet.credentials_cipher import CredentialsCipher
    from solarfleet.demo import add_simulated_inverter, home_parameters
    from solarfleet.prices.zones import ZONE_LOCATIONS, PriceZone
    from solarfleet.users.models import User

    organisation_id, user_id = _uuid_option("--org", org), _uuid_option("--user", user)
    seed = seed if seed is not None else secrets.randbelow(2**62)
    database = _migrated_database()
    with database.session() as session:
        owner = session.scalar(
            select(User).where(User.id == user_id, User.organisation_id == organisation_id, User.deleted_at.is_(None))
        )
        if owner is None:
            raise _fail(f"no user {user_id} in organisation {organisation_id}; `GET .../users` lists them")
        zone = PriceZone.AT
        place = ZONE_LOCATIONS[zone]
        latitude = owner.latitude if owner.latitude is not None else place.latitude
        longitude = owner.longitude if owner.longitude is not None else place.longitude
        parameters = home_parameters(
            random.Random(seed),  # noqa: S311 - a simulation, not a secret
            seed,
            zone,
            latitude,
            longitude,
            pv_kwp=pv_kwp,
            battery_kwh=battery_kwh,
            ev=ev,
        )
        inverter = add_simulated_inverter(
            session, CredentialsCipher(get_settings().fernet_keys()), owner, parameters, zone
        )
        inverter_id = str(inverter.id)
    if as_json:
        typer.echo(json.dumps({"inverter_id": inverter_id, "seed": seed}))
    else:
        console.print(f"simulated inverter {inverter_id} added (seed {seed})")


def _shard_range(text: str) -> frozenset[int]:
    from solarfleet.monitoring.pipeline import MonitoringSettings

    count = MonitoringSettings().shard_count
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise _fail(f"--shards must be a shard or a range like 0-31, got {text!r}") from None
    if not 0 <= low <= high < count:
        raise _fail(f"--shards must lie within 0-{count - 1}, got {text!r}")
    return frozenset(range(low, high + 1))


def _uuid_option(name: str, value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _fail(f"{name} must be an id (a UUID), got {value!r}") from None
