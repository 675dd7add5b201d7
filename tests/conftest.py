"""Shared fixtures: each database-backed test runs on SQLite and again on PostgreSQL.

SQLite: one migrated template per worker, copied for every test. PostgreSQL
(`SOLARFLEET_TEST_POSTGRES_URL`, default the local server's database `test`): one schema per
test process, migrated once, emptied (all but the catalogue) before every test. Where no PostgreSQL
answers, its half of the suite is skipped with the reason.
"""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import text

from solarfleet.api.app import create_app
from solarfleet.config import Settings
from solarfleet.database import Database, disposable_postgres_schema, unreachable_reason
from solarfleet.migrate import upgrade
from solarfleet.models import metadata
from solarfleet.organisations.service import create_organisation

POSTGRES_URL = os.environ.get("SOLARFLEET_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CATALOGUE_TABLES = {"cloud_services", "device_models"}
BASE = "/api/partners/v2.0"
# Browser-test fixtures (chromium_path, browser, page, screenshots); see browser.py.
pytest_plugins = ["browser"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database.engine)
    database.dispose()
    return path


def _postgres_unreachable_reason() -> str | None:
    reason = unreachable_reason(POSTGRES_URL)
    return f"no PostgreSQL at SOLARFLEET_TEST_POSTGRES_URL ({reason})" if reason else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated schema of this worker's own, as a URL whose connections use it."""
    reason = _postgres_unreachable_reason()
    if reason:
        pytest.skip(reason)
    # One schema per process: xdist workers and concurrent runs never share one.
    with disposable_postgres_schema(POSTGRES_URL, f"solarfleet_test_{os.getpid()}") as url:
        database = Database(url)
        upgrade(database.engine)
        database.dispose()
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "solarfleet.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        db = Database(f"sqlite:///{path}")
    else:
        db = Database(request.getfixturevalue("postgres_url"))
        tables = [t.name for t in metadata.sorted_tables if t.name not in CATALOGUE_TABLES]
        with db.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
    yield db
    db.dispose()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        state_dir=tmp_path / "var",
        token_signing_key="test-signing-key-" + "x" * 32,
        encryption_keys=Fernet.generate_key().decode(),
    )


@pytest.fixture
def app(settings, database):
    return create_app(settings, database)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@dataclass
class Partner:
    """An organisation with an API client and a valid token, as a partner's program holds them."""

    org_id: str
    client_id: str
    client_secret: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def base(self) -> str:
        return f"{BASE}/org/{self.org_id}"


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def make_partner(client: TestClient, database: Database, name: str = "Partner") -> Partner:
    with database.session() as session:
        issued = create_organisation(session, name)
    response = client.post(
        "/oauth2/token/",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(issued.client_id, issued.client_secret),
    )
    assert response.status_code == 200, response.text
    return Partner(str(issued.org_id), issued.client_id, issued.client_secret, response.json()["access_token"])


@pytest.fixture
def partner(client, database) -> Partner:
    return make_partner(client, database, f"Partner {uuid.uuid4().hex[:6]}")


@pytest.fixture
def other_partner(client, database) -> Partner:
    return make_partner(client, database, f"Other {uuid.uuid4().hex[:6]}")


def create_user(client: TestClient, partner: Partner, **fields) -> dict:
    body = {"email": f"{uuid.uuid4().hex[:10]}@example.com", **fields}
    response = client.post(f"{partner.base}/users", json=body, headers=partner.headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def user(client, partner) -> dict:
    return create_user(client, partner, first_name="Anna", last_name="Gruber", external_user_id="crm-1")


def each(cases, check) -> None:
    """Run `check` on every case and report all the failing ones at once (one test, many cases)."""
    failures = []
    for case in cases:
        try:
            check(case)
        except AssertionError as exc:
            failures.append(f"{case!r}: {exc}")
    assert not failures, "\n".join(failures)


def assert_error(response, status: int):
    """Every error is JSON with a `detail` member; returns that member."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert "detail" in body
    return body["detail"]


def locates(detail: list[dict], field: str) -> bool:
    """A 422 detail names the field in an issue's location."""
    return any(field in issue["loc"] for issue in detail)


def assert_invalid(response, field: str) -> None:
    detail = assert_error(response, 422)
    assert locates(detail, field), detail
