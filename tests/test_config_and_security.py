"""Settings, encryption at rest, SQLite connection setup, request ids, logs without secrets, error hygiene."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import stat
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import httpx
import pytest
import structlog
import uvicorn
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from conftest import basic_auth, make_partner
from solarfleet.config import Settings
from solarfleet.credentials_cipher import CredentialsCipher, CredentialsUnreadable
from solarfleet.database import Database
from solarfleet.logs import configure_logging
from solarfleet.migrate import upgrade

GRANT = {"grant_type": "client_credentials"}
REQUEST_ID = re.compile(r"^[0-9a-f]{16}$")


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("SOLARFLEET_"):
            monkeypatch.delenv(name)
    return monkeypatch


# --- settings ----------------------------------------------------------------------------------


def test_settings_read_solarfleet_environment(clean_env, tmp_path):
    clean_env.setenv("SOLARFLEET_STATE_DIR", str(tmp_path / "state"))
    clean_env.setenv("SOLARFLEET_DATABASE_URL", "postgresql+psycopg://u@db.example/sf")
    clean_env.setenv("SOLARFLEET_TOKEN_SIGNING_KEY", "env-signing-key")
    clean_env.setenv("SOLARFLEET_FAILED_AUTH_LIMIT", "9")
    clean_env.setenv("SOLARFLEET_FAILED_AUTH_WINDOW_SECONDS", "12.5")
    clean_env.setenv("SOLARFLEET_LOG_FORMAT", "json")
    clean_env.setenv("SOLARFLEET_LOG_LEVEL", "DEBUG")
    clean_env.setenv("FAILED_AUTH_LIMIT", "1")  # no prefix: ignored

    settings = Settings()

    assert settings.state_dir == tmp_path / "state"
    assert settings.resolved_database_url == "postgresql+psycopg://u@db.example/sf"
    assert settings.signing_key() == b"env-signing-key"
    assert settings.failed_auth_limit == 9
    assert settings.failed_auth_window_seconds == 12.5
    assert settings.log_format == "json"
    assert settings.log_level == "DEBUG"
    # Secrets never show in the settings' repr.
    assert "env-signing-key" not in repr(settings)
    assert not (tmp_path / "state").exists()  # a key given by environment writes no file


def test_settings_reject_invalid_values(clean_env):
    clean_env.setenv("SOLARFLEET_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError):
        Settings()
    clean_env.setenv("SOLARFLEET_LOG_FORMAT", "console")
    clean_env.setenv("SOLARFLEET_FAILED_AUTH_LIMIT", "0")
    with pytest.raises(ValidationError):
        Settings()


def test_encryption_keys_from_environment_are_a_comma_list_in_order(clean_env):
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    clean_env.setenv("SOLARFLEET_ENCRYPTION_KEYS", f" {first} ,{second},")
    assert Settings().fernet_keys() == [first.encode(), second.encode()]


def test_default_database_is_sqlite_file_under_var_of_working_directory(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    settings = Settings()
    expected = (tmp_path / "var" / "solarfleet.db").resolve()
    assert settings.state_dir == Path("var")
    assert settings.resolved_database_url == f"sqlite:///{expected}"

    database = Database(settings.resolved_database_url)
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        database.dispose()
    assert expected.is_file()


def test_generated_secrets_are_files_with_mode_0600_and_reused(clean_env, tmp_path):
    state = tmp_path / "var"
    first = Settings(state_dir=state)
    signing, fernet = first.signing_key(), first.fernet_keys()
    for name in ("token_signing.key", "encryption.key"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600
    assert len(signing) >= 32
    again = Settings(state_dir=state)
    assert again.signing_key() == signing
    assert again.fernet_keys() == fernet
    Fernet(fernet[0])  # a valid Fernet key


# --- credentials cipher ------------------------------------------------------------------------

CREDENTIALS = {"username": "anna@example.com", "password": "pä$$wörd", "site": 42}


def test_cipher_round_trips_and_does_not_store_clear_text():
    cipher = CredentialsCipher([Fernet.generate_key()])
    token = cipher.encrypt(CREDENTIALS)
    assert isinstance(token, bytes)
    assert b"anna@example.com" not in token
    assert b"password" not in token
    assert cipher.decrypt(token) == CREDENTIALS


def test_cipher_refuses_wrong_key_and_garbage():
    token = CredentialsCipher([Fernet.generate_key()]).encrypt(CREDENTIALS)
    other = CredentialsCipher([Fernet.generate_key()])
    with pytest.raises(CredentialsUnreadable):
        other.decrypt(token)
    with pytest.raises(CredentialsUnreadable):
        other.decrypt(b"not a fernet token")


def test_cipher_needs_a_key():
    with pytest.raises(ValueError, match="key"):
        CredentialsCipher([])


def test_cipher_key_rotation(clean_env):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    clean_env.setenv("SOLARFLEET_ENCRYPTION_KEYS", old_key)
    stored_row = CredentialsCipher(Settings().fernet_keys()).encrypt(CREDENTIALS)

    # A new key is put first; the old one stays listed for reading.
    clean_env.setenv("SOLARFLEET_ENCRYPTION_KEYS", f"{new_key},{old_key}")
    rotated = CredentialsCipher(Settings().fernet_keys())
    assert rotated.decrypt(stored_row) == CREDENTIALS

    fresh_row = rotated.encrypt(CREDENTIALS)
    assert CredentialsCipher([new_key.encode()]).decrypt(fresh_row) == CREDENTIALS
    with pytest.raises(CredentialsUnreadable):
        CredentialsCipher([old_key.encode()]).decrypt(fresh_row)

    # Once the old key is dropped, rows still under it are unreadable (until re-encrypted).
    with pytest.raises(CredentialsUnreadable):
        CredentialsCipher([new_key.encode()]).decrypt(stored_row)


# --- SQLite connection setup -------------------------------------------------------------------


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        with database.engine.connect() as first, database.engine.connect() as second:
            for connection in (first, second):  # every pooled connection, not just the first
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000

        upgrade(database.engine)
        with pytest.raises(IntegrityError), database.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO api_clients (id, organisation_id, secret_hash, created_at) "
                    "VALUES ('sf_orphan', :org, 'x', '2024-01-01 00:00:00')"
                ),
                {"org": "0" * 32},
            )
    finally:
        database.dispose()


# --- logging fixtures --------------------------------------------------------------------------


def _forget_cached_loggers() -> None:
    """Module-level structlog proxies cache their logger on first use; make them look again."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("solarfleet") or module is None:
            continue
        for value in list(vars(module).values()):
            if type(value).__name__ == "BoundLoggerLazyProxy":
                vars(value).pop("bind", None)


class _CurrentStderr:
    """Writes to whatever sys.stderr is at the moment: pytest swaps its capture streams between phases."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return False


@pytest.fixture
def logs():
    """Configure the service's logging onto (captured) stderr; restore everything afterwards."""
    saved_structlog = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    access, alembic = logging.getLogger("uvicorn.access"), logging.getLogger("alembic")
    saved_access_disabled, saved_alembic_level = access.disabled, alembic.level
    _forget_cached_loggers()

    def configure(fmt: str = "json") -> None:
        with mock.patch.object(sys, "stderr", _CurrentStderr()):
            configure_logging("INFO", fmt)
        # Caching would tie module loggers to this configuration for good.
        structlog.configure(cache_logger_on_first_use=False)

    yield configure

    structlog.configure(**saved_structlog)
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    access.disabled = saved_access_disabled
    alembic.setLevel(saved_alembic_level)
    _forget_cached_loggers()


def _json_lines(err: str) -> list[dict]:
    lines = []
    for line in err.splitlines():
        line = line.strip()
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


# --- request ids and security headers ----------------------------------------------------------


def test_every_response_has_a_request_id_and_security_headers(client, partner):
    first = client.get(f"{partner.base}/users", headers=partner.headers)
    second = client.get("/healthz")
    unauthenticated = client.get(f"{partner.base}/users")
    for response in (first, second, unauthenticated):
        assert REQUEST_ID.match(response.headers["x-request-id"]), response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_incoming_valid_request_id_is_reused_and_invalid_one_replaced(client):
    assert client.get("/healthz", headers={"X-Request-ID": "trace-42.A_b"}).headers["x-request-id"] == "trace-42.A_b"
    for bad in ("has space", "x" * 65, "semi;colon", ""):
        response = client.get("/healthz", headers={"X-Request-ID": bad})
        assert REQUEST_ID.match(response.headers["x-request-id"]), (bad, response.headers["x-request-id"])


def test_log_lines_carry_the_request_id(logs, capsys, client, database):
    logs("json")
    partner = make_partner(client, database, "Logged")
    capsys.readouterr()

    response = client.post(
        "/oauth2/token/",
        data=GRANT,
        headers={**basic_auth(partner.client_id, partner.client_secret), "X-Request-ID": "trace-42"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-42"
    generated = client.get("/healthz").headers["x-request-id"]

    lines = _json_lines(capsys.readouterr().err)
    by_event = {}
    for line in lines:
        by_event.setdefault(line["event"], []).append(line)
    issued = [line for line in by_event["token_issued"] if line.get("request_id") == "trace-42"]
    assert issued, lines
    requests = by_event["request"]
    assert any(
        line["request_id"] == "trace-42" and line["path"] == "/oauth2/token/" and line["status"] == 200
        for line in requests
    ), requests
    assert any(line["request_id"] == generated and line["path"] == "/healthz" for line in requests), requests


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_logs_never_contain_tokens_secrets_or_authorization_values(logs, capfd, client, database, fmt, monkeypatch):
    logs(fmt)
    # The test client's own log (httpx, client side) prints full URLs; only the service's lines count.
    monkeypatch.setattr(logging.getLogger("httpx"), "disabled", True)
    partner = make_partner(client, database, "Secretive")
    wrong_secret = "wrong-" + partner.client_secret[::-1]
    assert (
        client.post("/oauth2/token/", data=GRANT, headers=basic_auth(partner.client_id, wrong_secret)).status_code
        == 401
    )
    assert client.get(f"{partner.base}/users", headers=partner.headers).status_code == 200
    assert client.get(f"{partner.base}/users?token={partner.token}", headers=partner.headers).status_code == 200
    assert client.get(f"{partner.base}/users", headers={"Authorization": f"Bearer {partner.token}x"}).status_code == 401
    created = client.post(f"{partner.base}/users", json={"email": partner.client_secret}, headers=partner.headers)
    assert created.status_code == 422
    assert partner.client_secret not in created.text  # validation errors do not echo the input

    err = capfd.readouterr().err
    assert "token_issued" in err  # the logs were captured at all
    basic_value = basic_auth(partner.client_id, partner.client_secret)["Authorization"]
    for secret in (
        partner.token,
        partner.client_secret,
        wrong_secret,
        basic_value,
        basic_value.split()[1],
        base64.b64encode(f"{partner.client_id}:{wrong_secret}".encode()).decode(),
    ):
        assert secret not in err


def test_exception_tracebacks_in_logs_show_no_local_variables(logs, capsys):
    logs("console")
    secret = "Bearer s3cr3t-t0ken-in-a-local-variable"

    def handle(authorization: str) -> None:
        raise RuntimeError("database unreachable")

    try:
        handle(secret)
    except RuntimeError:
        # As uvicorn and other libraries log through the standard library.
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    err = capsys.readouterr().err
    assert "database unreachable" in err  # the traceback itself is logged
    assert "RuntimeError" in err
    assert secret not in err
    assert "s3cr3t" not in err


# --- unexpected errors -------------------------------------------------------------------------


def _add_failing_route(app) -> None:
    @app.get("/__test__/boom")
    def boom() -> dict:
        raise RuntimeError("kaboom: SELECT secret FROM internals")


def test_unexpected_exception_gives_500_json_without_traceback(app, logs, capsys):
    logs("json")
    _add_failing_route(app)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/__test__/boom", headers={"X-Request-ID": "boom-1"})

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail"}
    assert isinstance(body["detail"], str)
    for leak in ("Traceback", "kaboom", "SELECT", "RuntimeError", ".py"):
        assert leak not in response.text
    # The request id the message points to is there, and so are the security headers.
    assert response.headers["x-request-id"] == "boom-1"
    assert response.headers["x-content-type-options"] == "nosniff"

    lines = _json_lines(capsys.readouterr().err)
    errors = [line for line in lines if line["event"] == "unhandled_error"]
    assert len(errors) == 1, lines
    assert errors[0]["request_id"] == "boom-1"
    assert "kaboom" in errors[0]["exception"]  # the operator gets the traceback in the log


# --- a real server: nothing a request carries leaks into its log on a server error --------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_server(app, logs, capfd):
    """The app served by uvicorn in a thread, configured as `solarfleet serve` does; logs go to capfd."""
    logs("console")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=10) as http:
            yield http
    finally:
        server.should_exit = True
        thread.join(10)


def _database_down(*_args, **_kwargs):
    raise RuntimeError("database unreachable")


def _unexpected_failure(*_args, **_kwargs):
    raise RuntimeError("token check failed unexpectedly")


def test_server_error_during_token_request_logs_no_secret(app, database, live_server, capfd, monkeypatch):
    with TestClient(app) as test_client:
        partner = make_partner(test_client, database, "Outage")
    monkeypatch.setattr(database, "session", _database_down)  # the app's database, after the secret was parsed

    response = live_server.post(
        "/oauth2/token/", data=GRANT, headers=basic_auth(partner.client_id, partner.client_secret)
    )
    assert response.status_code == 500
    assert set(response.json()) == {"detail"}
    assert response.headers["x-content-type-options"] == "nosniff"
    request_id = response.headers["x-request-id"]

    time.sleep(0.2)  # let the server thread finish its log lines
    err = capfd.readouterr().err
    assert "database unreachable" in err  # the failure is logged ...
    assert request_id in err  # ... under the request id the partner was given
    assert partner.client_secret not in err
    assert basic_auth(partner.client_id, partner.client_secret)["Authorization"].split()[1] not in err


def test_server_error_during_api_call_logs_no_token(app, database, live_server, capfd, monkeypatch):
    with TestClient(app) as test_client:
        partner = make_partner(test_client, database, "Outage")
    # Fails while the bearer credentials are held in local variables of the authentication code.
    monkeypatch.setattr(app.state.tokens, "verify", _unexpected_failure)

    response = live_server.get(f"{partner.base}/users", headers=partner.headers)
    assert response.status_code == 500
    assert set(response.json()) == {"detail"}

    time.sleep(0.2)
    err = capfd.readouterr().err
    assert "token check failed unexpectedly" in err
    assert partner.token not in err
    assert partner.token[:60] not in err  # not even a prefix of it
