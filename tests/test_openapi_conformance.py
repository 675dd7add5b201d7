"""The whole OpenAPI document, fuzzed with schemathesis: no 5xx, and every response as documented.

Schemathesis generates, per operation of `/api/partners/v2.0/openapi.json` (the token endpoint and
`/healthz` included), positive and negative requests in its examples, coverage and fuzzing phases,
and checks every response: not_a_server_error, status_code_conformance,
content_type_conformance, response_schema_conformance and response_headers_conformance.

Each operation runs on SQLite and on PostgreSQL (the `database` fixture), against an app of its
own. Every call carries a real partner's token (the token endpoint gets the partner's HTTP Basic
credentials instead). Path parameters generated as well-formed ids are, four times in five,
replaced by the partner's own organisation and a live user (and its external id), building and
inverter, so the calls pass the tenant check and reach the handlers; malformed ids, and the
fifth left as generated, exercise the 422, 403 and 404 paths.

The schema is loaded at module level from an app that only serves the document; the requests go
to each test's own app (`case.call(app=...)`). The plugin's fixture-based loader
(`schemathesis.pytest.from_fixture`) cannot be used: it fails under pytest 9.2 (it sets
`request.node._nodeid`, which pytest 9.2 no longer has).

Below the schemathesis run, property tests for what it cannot generate: odd HTTP Basic
credentials and bodies at the token endpoint, and request bodies that are not parseable JSON.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import schemathesis
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import BASE, Partner, basic_auth, create_user, make_partner
from solarfleet.api.app import create_app
from solarfleet.api.fields import PATH_TEXT_PATTERN
from solarfleet.config import Settings
from solarfleet.database import Database

OPENAPI_PATH = f"{BASE}/openapi.json"
TOKEN_PATH = "/oauth2/token/"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
CONFIG = schemathesis.Config.from_dict(
    {
        # Positive and negative data, NUL characters included; the stateful phase needs links, which
        # the document does not declare.
        "generation": {"mode": "all", "allow-x00": True},
        "phases": {"stateful": {"enabled": False}},
    }
)
SLOW_FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much]
_EXTERNAL_ID = re.compile(PATH_TEXT_PATTERN)


@dataclass
class Fleet:
    """The partner's own resources; rebuilt whenever a call deleted one of them."""

    client: TestClient
    partner: Partner
    ids: dict[str, str] = field(default_factory=dict)
    empty_building_id: str = ""
    external_id: str = ""

    def rebuild(self) -> None:
        headers = self.partner.headers
        self.external_id = f"crm-{uuid.uuid4().hex[:8]}"
        user = create_user(self.client, self.partner, first_name="Ada", external_user_id=self.external_id)
        user_path = f"{self.partner.base}/users/{user['id']}"
        buildings = [self.client.post(f"{user_path}/buildings", json={"name": n}, headers=headers) for n in "AB"]
        assert [b.status_code for b in buildings] == [201, 201], [b.text for b in buildings]
        inverter = self.client.post(
            f"{user_path}/inverters",
            json={"building_id": buildings[0].json()["id"], "solar_power_rating_kw": 9.5},
            headers=headers,
        )
        assert inverter.status_code == 201, inverter.text
        self.empty_building_id = buildings[1].json()["id"]
        self.ids = {
            "org_id": self.partner.org_id,
            "user_id": user["id"],
            "building_id": buildings[0].json()["id"],
            "inverter_id": inverter.json()["id"],
            "device_id": inverter.json()["id"],
        }

    def aim(self, path_parameters: dict) -> None:
        """Point well-formed ids at the partner's own resources, four times in five.

        Decided from the generated value itself, so that hypothesis replays a case identically.
        """
        for name, value in list(path_parameters.items()):
            if name == "external_id":
                text = str(value)
                if _EXTERNAL_ID.match(text) and len(text) <= 255 and zlib.crc32(text.encode()) % 5:
                    path_parameters[name] = self.external_id
                continue
            if name not in self.ids:
                continue
            try:
                generated = uuid.UUID(str(value))
            except ValueError:
                continue  # malformed ids stay: they must give 422
            if generated.int % 5:
                # The building with the inverter (DELETE: 409) or the empty one (DELETE: 204).
                empty = name == "building_id" and generated.int % 2
                path_parameters[name] = self.empty_building_id if empty else self.ids[name]


@pytest.fixture
def fleet(client, database) -> Fleet:
    fleet = Fleet(client, make_partner(client, database, "Conformance"))
    fleet.rebuild()
    return fleet


def _document_app():
    """An app only to read the OpenAPI document from: it never touches its database."""
    settings = Settings(
        state_dir=Path(tempfile.gettempdir()) / "solarfleet-openapi",
        token_signing_key="openapi-document-" + "x" * 32,
        encryption_keys=Fernet.generate_key().decode(),
    )
    return create_app(settings, Database("sqlite://"))


schema = schemathesis.openapi.from_asgi(OPENAPI_PATH, _document_app(), config=CONFIG)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=SLOW_FIXTURES)
def test_every_operation_conforms_to_the_document(case, app, fleet):
    if case.path_parameters:
        fleet.aim(case.path_parameters)
    if case.path == TOKEN_PATH:
        headers = basic_auth(fleet.partner.client_id, fleet.partner.client_secret)
    else:
        headers = fleet.partner.headers
    response = case.call(headers=headers, app=app)
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    finally:
        if case.method.upper() == "DELETE" and response.status_code < 300:
            fleet.rebuild()


# --- The token endpoint: credentials and bodies schemathesis does not generate ---------------------

ODD_TEXT = st.text(st.characters(codec="utf-8"), max_size=30)
ODD_CLIENT_IDS = st.one_of(
    ODD_TEXT,
    ODD_TEXT.map(lambda t: f"sf_{t}\x00"),
    st.sampled_from(["%00", "sf_%00", "a%", "%ZZ", "%C3%28", "%ED%A0%80"]),
)
GRANT_BODIES = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "grant_type": st.one_of(st.just("client_credentials"), ODD_TEXT, st.integers(), st.none()),
            "scope": st.one_of(st.just("read write"), st.just("read"), ODD_TEXT, st.lists(st.integers()), st.none()),
        },
    ).map(lambda d: ("application/json", json.dumps(d).encode())),
    st.sampled_from(["application/json", "application/x-www-form-urlencoded", "", "text/plain"]).flatmap(
        lambda ct: st.binary(max_size=200).map(lambda b: (ct, b))
    ),
    # Nested deeper than the JSON parser's recursion limit, within the 4096-byte body limit.
    st.sampled_from([1, 900, 2000]).map(lambda n: ("application/json", b"[" * n + b"]" * n)),
    st.sampled_from([1, 1500, 4096, 5000]).map(lambda n: ("application/json", b"[" * n)),
    st.text(max_size=100).map(lambda t: ("application/x-www-form-urlencoded", t.encode("utf-8", "surrogatepass"))),
)
OAUTH_ERRORS = {"invalid_request", "invalid_client", "unsupported_grant_type", "invalid_scope", "slow_down"}


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW_FIXTURES)
# The two inputs that gave a 500 before: JSON nested too deep, a client id with NUL (PostgreSQL).
@example(
    use_real_client=True, client_id="", secret="", raw_authorization=None, body=("application/json", b"[" * 4000)
).via("regression")
@example(
    use_real_client=False,
    client_id="sf_%00",
    secret="x",
    raw_authorization=None,
    body=("application/json", b'{"grant_type": "client_credentials"}'),
).via("regression")
@given(
    use_real_client=st.booleans(),
    client_id=ODD_CLIENT_IDS,
    secret=ODD_TEXT,
    raw_authorization=st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40)),
    body=GRANT_BODIES,
)
def test_token_endpoint_answers_odd_credentials_and_bodies_per_rfc_6749(
    client, partner, use_real_client, client_id, secret, raw_authorization, body
):
    content_type, content = body
    if raw_authorization is not None:
        headers = {"Authorization": raw_authorization.encode("latin-1")}
    elif use_real_client:
        headers = basic_auth(partner.client_id, partner.client_secret)
    else:
        headers = basic_auth(client_id, secret)
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post(TOKEN_PATH, content=content, headers=headers)

    assert response.status_code in {200, 400, 401, 429}, response.text
    payload = response.json()
    if response.status_code == 200:
        assert use_real_client
        assert raw_authorization is None
        assert set(payload) == {"access_token", "expires_in", "token_type", "scope"}
        assert payload["token_type"] == "Bearer"
    else:
        assert payload["error"] in OAUTH_ERRORS
        assert payload["detail"] == payload["error_description"]
        assert response.headers["Cache-Control"] == "no-store"
        if response.status_code == 401:
            assert payload["error"] == "invalid_client"


# --- Bodies that are not parseable JSON: 422, never FastAPI's undocumented 400 or a 500 -----------

UNPARSEABLE_BODIES = {
    "not UTF-8": b'{"name": "\xff\xfe"}',
    "lone continuation byte": b"\x80",
    "nested too deep": b"[" * 100_000,
    "integer too long": b'{"num_occupants": ' + b"9" * 5000 + b"}",
    "truncated": b'{"name": ',
}


@pytest.mark.parametrize("body", UNPARSEABLE_BODIES.values(), ids=UNPARSEABLE_BODIES.keys())
def test_unparseable_bodies_are_validation_errors(client, fleet, body):
    user = f"{fleet.partner.base}/users/{fleet.ids['user_id']}"
    targets = [
        ("POST", f"{fleet.partner.base}/users"),
        ("PUT", user),
        ("POST", f"{user}/buildings"),
        ("PUT", f"{user}/buildings/{fleet.ids['building_id']}"),
        ("POST", f"{user}/inverters"),
        ("PUT", f"{user}/inverters/{fleet.ids['inverter_id']}"),
        ("PATCH", f"{user}/devices/{fleet.ids['device_id']}"),
    ]
    headers = {**fleet.partner.headers, "Content-Type": "application/json"}
    for method, path in targets:
        response = client.request(method, path, content=body, headers=headers)
        assert response.status_code == 422, (method, path, response.status_code, response.text)
        issues = response.json()["detail"]
        assert issues
        assert all(issue["loc"][0] == "body" and issue["msg"] and issue["type"] for issue in issues)


def test_openapi_document_and_interactive_docs_are_served(client):
    document = client.get(OPENAPI_PATH)
    assert document.status_code == 200
    spec = document.json()
    assert spec["openapi"].startswith("3.1")
    schemas = spec["components"]["schemas"]
    answered = _response_schemas(spec)
    assert {"InverterDetailOut", "UserOut", "BuildingOut", "ScheduleOut"} <= answered
    undescribed = [
        f"{schema}.{name}"
        for schema in sorted(answered)
        for name, field in schemas[schema].get("properties", {}).items()
        if "description" not in field
    ]
    assert undescribed == []
    assert "/oauth2/token/" in spec["paths"]
    docs = client.get(f"{BASE}/docs")
    assert docs.status_code == 200
    assert OPENAPI_PATH in docs.text


def _response_schemas(spec: dict) -> set[str]:
    """Every component schema a successful response can contain, followed through nested references."""
    found: set[str] = set()
    pending = [
        response.get("content", {})
        for path in spec["paths"].values()
        for operation in path.values()
        for status, response in operation.get("responses", {}).items()
        if status.startswith("2")
    ]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/components/schemas/"):
                name = reference.rsplit("/", 1)[1]
                if name not in found:
                    found.add(name)
                    pending.append(spec["components"]["schemas"][name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found
