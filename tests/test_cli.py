"""The installed `solarfleet` command, run as a partner's operator runs it: a subprocess per command.

Each test gets an empty database (a SQLite file in tmp, or a fresh PostgreSQL schema) and its own
working and state directories. `serve` is started on a free loopback port and stopped again.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select, text

from conftest import BASE, POSTGRES_URL, _postgres_unreachable_reason, basic_auth
from solarfleet.api.app import create_app
from solarfleet.auth.tokens import TokenService
from solarfleet.config import Settings
from solarfleet.database import Database, disposable_postgres_schema
from solarfleet.migrate import current_revision, head_revision
from solarfleet.organisations.models import ApiClient

# The console script installed beside the interpreter running the tests (.venv/bin/).
SOLARFLEET = Path(sys.executable).with_name("solarfleet")
GRANT = {"grant_type": "client_credentials"}
COMMAND_TIMEOUT = 120
SERVER_START_TIMEOUT = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _flat(text_: str) -> str:
    """Rich may wrap long messages; compare on single-spaced text."""
    return " ".join(text_.split())


@dataclass
class Cli:
    workdir: Path
    state_dir: Path
    database_url: str
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(SOLARFLEET), *args],
            cwd=self.workdir,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    def ok(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        result = self.run(*args, env=env)
        assert result.returncode == 0, f"{args}: rc={result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    def create_org(self, name: str = "ACME Energy") -> dict[str, str]:
        return json.loads(self.ok("org", "create", name, "--json").stdout)

    @contextmanager
    def server(
        self, *command: str, env: dict[str, str] | None = None, start_timeout: float = SERVER_START_TIMEOUT
    ) -> Iterator[httpx.Client]:
        """`solarfleet serve` (or another serving command, e.g. `demo ...`) on a free loopback port."""
        port = _free_port()
        log_path = self.workdir / f"serve-{port}.log"
        with log_path.open("w") as log_file:
            process = subprocess.Popen(
                [str(SOLARFLEET), *(command or ("serve",)), "--host", "127.0.0.1", "--port", str(port)],
                cwd=self.workdir,
                env={**self.env, **(env or {})},
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=10) as http:
                deadline = time.monotonic() + start_timeout
                while True:
                    if process.poll() is not None:
                        pytest.fail(f"serve exited with {process.returncode}:\n{log_path.read_text()}")
                    try:
                        if http.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        pytest.fail(f"serve did not answer within {start_timeout} s:\n{log_path.read_text()}")
                    time.sleep(0.1)
                yield http
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)

    def database(self) -> Database:
        return Database(self.database_url)

    def revision(self) -> str | None:
        if self.database_url.startswith("sqlite:///") and not Path(self.database_url[len("sqlite:///") :]).exists():
            return None
        engine = create_engine(self.database_url)
        try:
            return current_revision(engine)
        finally:
            engine.dispose()

    @contextmanager
    def in_process_client(self) -> Iterator[TestClient]:
        """The API in this process on the CLI's database (for checks that need no real server)."""
        app_settings = Settings(
            state_dir=self.workdir / "in-process-var",
            token_signing_key="in-process-signing-key-" + "z" * 32,
            encryption_keys=Fernet.generate_key().decode(),
        )
        database = Database(self.database_url)
        try:
            with TestClient(create_app(app_settings, database)) as client:
                yield client
        finally:
            database.dispose()


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOLARFLEET_")}
    env.update(COLUMNS="200", NO_COLOR="1", HOME=str(tmp_path))
    return env


def _sqlite_cli(tmp_path: Path) -> Cli:
    workdir = tmp_path / "work"
    workdir.mkdir()
    state_dir = tmp_path / "state"
    url = f"sqlite:///{tmp_path / 'data' / 'cli.db'}"
    env = {**_base_env(tmp_path), "SOLARFLEET_STATE_DIR": str(state_dir), "SOLARFLEET_DATABASE_URL": url}
    return Cli(workdir, state_dir, url, env)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cli(request, tmp_path) -> Iterator[Cli]:
    """An empty database of each kind, with the environment the CLI reads it from."""
    if request.param == "sqlite":
        yield _sqlite_cli(tmp_path)
        return
    workdir = tmp_path / "work"
    workdir.mkdir()
    state_dir = tmp_path / "state"
    env = _base_env(tmp_path)
    reason = _postgres_unreachable_reason()
    if reason:
        pytest.skip(reason)
    schema = f"solarfleet_cli_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with disposable_postgres_schema(POSTGRES_URL, schema) as url:
        env.update(SOLARFLEET_STATE_DIR=str(state_dir), SOLARFLEET_DATABASE_URL=url)
        yield Cli(workdir, state_dir, url, env)


def _token(http, client_id: str, secret: str) -> httpx.Response:
    return http.post("/oauth2/token/", data=GRANT, headers=basic_auth(client_id, secret))


# --- db upgrade --------------------------------------------------------------------------------


def test_db_upgrade_migrates_an_empty_database_and_is_idempotent(cli):
    assert cli.revision() is None

    first = cli.ok("db", "upgrade")
    head = head_revision()
    assert cli.revision() == head
    assert "migrated" in first.stderr
    assert head in first.stderr

    engine = create_engine(cli.database_url)
    try:
        assert {"organisations", "api_clients", "device_models"} <= set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            seeded = connection.execute(text("SELECT count(*) FROM device_models")).scalar()
    finally:
        engine.dispose()
    assert seeded > 0

    second = cli.ok("db", "upgrade")
    assert "migrated" not in second.stderr
    assert head in second.stderr
    assert cli.revision() == head
    engine = create_engine(cli.database_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM device_models")).scalar() == seeded
    finally:
        engine.dispose()


def test_db_upgrade_defaults_to_sqlite_under_var_of_the_working_directory(tmp_path):
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    result = subprocess.run(
        [str(SOLARFLEET), "db", "upgrade"],
        cwd=workdir,
        env=_base_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    database_file = workdir / "var" / "solarfleet.db"
    assert database_file.is_file()
    engine = create_engine(f"sqlite:///{database_file}")
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_unreachable_database_gives_a_clear_error(tmp_path):
    env = {**_base_env(tmp_path), "SOLARFLEET_DATABASE_URL": f"postgresql+psycopg://nobody@127.0.0.1:{_free_port()}/x"}
    result = subprocess.run(
        [str(SOLARFLEET), "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert result.returncode != 0
    assert "cannot open the database" in _flat(result.stderr)
    assert "Traceback" not in result.stderr


# --- organisations and clients -----------------------------------------------------------------


def test_org_create_json_prints_credentials_that_obtain_a_token(cli):
    result = cli.ok("org", "create", "ACME Energy", "--json")
    issued = json.loads(result.stdout)  # stdout is the JSON document and nothing else
    assert set(issued) == {"org_id", "client_id", "client_secret"}
    uuid.UUID(issued["org_id"])
    assert issued["client_id"]
    assert len(issued["client_secret"]) >= 32

    with cli.server() as http:
        response = _token(http, issued["client_id"], issued["client_secret"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 36000
        users = http.get(
            f"{BASE}/org/{issued['org_id']}/users", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert users.status_code == 200, users.text
        assert users.json() == []
        assert _token(http, issued["client_id"], "wrong").status_code == 401


def test_org_create_refuses_an_empty_name(cli):
    result = cli.run("org", "create", "   ", "--json")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "name" in _flat(result.stderr)
    assert "Traceback" not in result.stderr


def test_client_create_adds_a_client_to_the_organisation(cli):
    first = cli.create_org()
    second = json.loads(cli.ok("client", "create", "--org", first["org_id"], "--json").stdout)

    assert set(second) == {"org_id", "client_id", "client_secret"}
    assert second["org_id"] == first["org_id"]
    assert second["client_id"] != first["client_id"]
    assert second["client_secret"] != first["client_secret"]

    database = cli.database()
    try:
        with database.session(write=False) as session:
            clients = session.scalars(
                select(ApiClient).where(ApiClient.organisation_id == uuid.UUID(first["org_id"]))
            ).all()
    finally:
        database.dispose()
    assert {c.id for c in clients} == {first["client_id"], second["client_id"]}

    with cli.in_process_client() as client:
        assert _token(client, second["client_id"], second["client_secret"]).status_code == 200
        assert _token(client, first["client_id"], first["client_secret"]).status_code == 200


def test_client_create_with_an_org_that_is_not_a_uuid_fails_clearly(tmp_path):
    # Refused before any database access, so one database kind is enough.
    cli = _sqlite_cli(tmp_path)
    for org in ("not-a-uuid", ""):
        result = cli.run("client", "create", "--org", org, "--json")
        assert result.returncode != 0, org
        assert result.stdout == ""
        message = _flat(result.stderr)
        assert "--org" in message
        assert "UUID" in message
        assert repr(org) in message
        assert "Traceback" not in result.stderr


def test_client_create_with_an_unknown_org_fails_clearly(cli):
    cli.create_org()
    unknown = str(uuid.uuid4())
    result = cli.run("client", "create", "--org", unknown, "--json")
    assert result.returncode != 0
    assert result.stdout == ""
    message = _flat(result.stderr)
    assert "no organisation" in message
    assert unknown in message
    assert "Traceback" not in result.stderr

    database = cli.database()
    try:
        with database.session(write=False) as session:
            assert len(session.scalars(select(ApiClient)).all()) == 1  # nothing was added
    finally:
        database.dispose()


def test_client_revoke_stops_tokens_and_unknown_id_fails(cli):
    issued = cli.create_org()
    with cli.in_process_client() as client:
        token = _token(client, issued["client_id"], issued["client_secret"]).json()["access_token"]
        users_url = f"{BASE}/org/{issued['org_id']}/users"
        assert client.get(users_url, headers={"Authorization": f"Bearer {token}"}).status_code == 200

        result = cli.ok("client", "revoke", issued["client_id"])
        assert "revoked" in _flat(result.stderr)

        assert client.get(users_url, headers={"Authorization": f"Bearer {token}"}).status_code == 401
        assert _token(client, issued["client_id"], issued["client_secret"]).status_code == 401

    database = cli.database()
    try:
        with database.session(write=False) as session:
            assert session.get(ApiClient, issued["client_id"]).revoked_at is not None
    finally:
        database.dispose()

    cli.ok("client", "revoke", issued["client_id"])  # revoking twice is harmless

    unknown = cli.run("client", "revoke", "sf_does_not_exist")
    assert unknown.returncode != 0
    message = _flat(unknown.stderr)
    assert "no API client" in message
    assert "sf_does_not_exist" in message
    assert "Traceback" not in unknown.stderr


# --- serve -------------------------------------------------------------------------------------


def test_serve_migrates_an_empty_database_and_answers_http(cli):
    assert cli.revision() is None
    with cli.server() as http:
        assert cli.revision() == head_revision()
        health = http.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        assert health.headers["x-request-id"]
        assert health.headers["x-content-type-options"] == "nosniff"
        assert http.get(f"{BASE}/openapi.json").status_code == 200
        unauthenticated = http.get(f"{BASE}/org/{uuid.uuid4()}/users")
        assert unauthenticated.status_code == 401
        assert "detail" in unauthenticated.json()


def test_generated_secret_files_are_private_and_reused_across_restarts(cli):
    issued = cli.create_org()
    signing_file = cli.state_dir / "token_signing.key"
    encryption_file = cli.state_dir / "encryption.key"

    with cli.server() as http:
        for secret_file in (signing_file, encryption_file):
            assert secret_file.is_file()
            assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
            assert secret_file.read_bytes().strip()
        contents = {path: path.read_bytes() for path in (signing_file, encryption_file)}
        token = _token(http, issued["client_id"], issued["client_secret"]).json()["access_token"]

    # The token was signed with the generated key.
    TokenService(signing_file.read_bytes().strip()).verify(token)

    with cli.server() as http:
        assert {path: path.read_bytes() for path in contents} == contents
        for secret_file in contents:
            assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        users = http.get(f"{BASE}/org/{issued['org_id']}/users", headers={"Authorization": f"Bearer {token}"})
        assert users.status_code == 200, users.text


def test_keys_given_by_environment_write_no_files(cli):
    signing_key = "env-signing-key-" + "q" * 40
    env = {"SOLARFLEET_TOKEN_SIGNING_KEY": signing_key, "SOLARFLEET_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    issued = cli.create_org()

    with cli.server(env=env) as http:
        response = _token(http, issued["client_id"], issued["client_secret"])
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]

    claims = TokenService(signing_key.encode()).verify(token)  # signed with the key from the environment
    assert str(claims.organisation_id) == issued["org_id"]
    assert not (cli.state_dir / "token_signing.key").exists()
    assert not (cli.state_dir / "encryption.key").exists()
    assert list(cli.workdir.rglob("*.key")) == []
    assert list(cli.state_dir.parent.rglob("*.key")) == []


def test_demo_fills_history_and_serves_live_changing_values(cli):
    # Loading pvlib and demandlib and computing the first clear-sky days takes a few seconds.
    demo = ("demo", "--households", "5", "--history-days", "0.2", "--speed", "20")
    with cli.server(*demo, start_timeout=120) as http:
        credentials = json.loads((cli.state_dir / "demo-credentials.json").read_text())
        assert stat.S_IMODE((cli.state_dir / "demo-credentials.json").stat().st_mode) == 0o600
        token = _token(http, credentials["client_id"], credentials["client_secret"]).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        users = http.get(f"{BASE}/org/{credentials['org_id']}/users", headers=headers).json()
        assert len(users) == 5

        def fleet() -> list[dict]:
            return [
                inverter
                for user in users
                for inverter in http.get(
                    f"{BASE}/org/{credentials['org_id']}/users/{user['id']}/inverters", headers=headers
                ).json()
            ]

        before = fleet()
        assert {i["lifecycle_state"] for i in before} == {"active"}
        assert {i["connection_status"] for i in before} == {"ok"}
        assert all(i["production_last_day_kwh"] is not None for i in before)
        assert any(i["battery_charge_level_percent"] is not None for i in before)
        assert any(i["battery_charge_level_percent"] is None for i in before)  # the PV-only homes
        time.sleep(3)  # 20× real time: a minute of simulated time, two polls of every device
        after = fleet()
        moved = [
            a
            for a, b in zip(after, before, strict=True)
            if a["current_state_last_updated_at"] != b["current_state_last_updated_at"]
        ]
        assert len(moved) == len(after)


def test_fleet_add_simulated_links_an_inverter_to_a_user(cli):
    org = cli.create_org()
    with cli.in_process_client() as client:
        token = _token(client, org["client_id"], org["client_secret"]).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        user = client.post(f"{BASE}/org/{org['org_id']}/users", json={"email": "a@example.com"}, headers=headers)
        user_id = user.json()["id"]
        added = json.loads(
            cli.ok(
                "fleet",
                "add-simulated",
                "--org",
                org["org_id"],
                "--user",
                user_id,
                "--battery-kwh",
                "9.5",
                "--ev",
                "--json",
            ).stdout
        )
        inverters = client.get(f"{BASE}/org/{org['org_id']}/users/{user_id}/inverters", headers=headers).json()
    assert [i["id"] for i in inverters] == [added["inverter_id"]]
    assert inverters[0]["lifecycle_state"] == "authenticated"
    assert inverters[0]["battery_capacity_kwh"] == 9.5
    unknown = cli.run("fleet", "add-simulated", "--org", org["org_id"], "--user", str(uuid.uuid4()))
    assert unknown.returncode == 1
    assert "no user" in _flat(unknown.stderr)
    assert "Traceback" not in unknown.stderr


def test_monitor_refuses_shards_outside_the_fleet(tmp_path):
    cli = _sqlite_cli(tmp_path)
    for shards in ("64", "5-2", "a-b"):
        result = cli.run("monitor", "--shards", shards)
        assert result.returncode == 1, shards
        assert "--shards" in _flat(result.stderr)
        assert "Traceback" not in result.stderr
