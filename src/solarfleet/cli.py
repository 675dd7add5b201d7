"""The `solarfleet` command line."""

from __future__ import annotations

import json
import uuid
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
app.add_typer(db_app, name="db")
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

    try:
        organisation_id = uuid.UUID(org)
    except ValueError:
        raise _fail(f"--org must be an organisation id (a UUID), got {org!r}") from None
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


Host = Annotated[str, typer.Option(help="Address to listen on.")]
Port = Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")]


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve the partner API (migrating the database first when it is empty or outdated)."""
    _migrated_database().dispose()
    _serve(host, port, workers)


@app.command()
def demo(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Set up the demo organisation and its fleet on the configured database, then serve the API."""
    from solarfleet.demo import ensure_demo_fleet

    database = _migrated_database()
    with database.session() as session:
        issued = ensure_demo_fleet(session)
    database.dispose()
    base = f"http://{host}:{port}"
    pick_access_field = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"
    console.rule("solarfleet demo: a fresh API client (earlier demo clients are revoked)")
    # Plain lines, never wrapped, so they can be copied into a shell as they are.
    for line in (
        f"ORG_ID={issued.org_id}",
        f"CLIENT_ID={issued.client_id}",
        f"CLIENT_SECRET={issued.client_secret}",
        f"TOKEN=$(curl -s -u $CLIENT_ID:$CLIENT_SECRET -d grant_type=client_credentials "
        f"{base}/oauth2/token/ | {pick_access_field})",
        f'curl -s -H "Authorization: Bearer $TOKEN" {base}/api/partners/v2.0/org/$ORG_ID/users',
    ):
        console.print(line, soft_wrap=True, highlight=False, markup=False)
    console.print(f"API docs: {base}/api/partners/v2.0/docs  (Ctrl-C stops the server)", soft_wrap=True)
    _serve(host, port, 1)
