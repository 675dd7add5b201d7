"""`POST /oauth2/token/`: the client-credentials grant, its errors, throttling, revocation, token checks."""

from __future__ import annotations

import base64
import time
import uuid
from unittest import mock

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import select

from conftest import BASE, basic_auth, make_partner
from solarfleet.api.app import create_app
from solarfleet.auth.login_throttle import LoginThrottle
from solarfleet.models import metadata
from solarfleet.organisations.models import ApiClient
from solarfleet.organisations.service import create_client, create_organisation, revoke_client

TOKEN_URL = "/oauth2/token/"
GRANT = {"grant_type": "client_credentials"}


def _signing_key(settings) -> OctKey:
    return OctKey.import_key(settings.token_signing_key.get_secret_value().encode())


def _claims(partner, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": "solarfleet",
        "sub": partner.client_id,
        "org": partner.org_id,
        "scope": "read write",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return claims


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_oauth_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert "no-store" in response.headers["cache-control"]
    return body


# --- the successful grant ----------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["json", "form"])
def test_token_is_issued_for_json_and_form_bodies(client, partner, settings, encoding):
    kwargs = {"json": GRANT} if encoding == "json" else {"data": GRANT}
    response = client.post(TOKEN_URL, headers=basic_auth(partner.client_id, partner.client_secret), **kwargs)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "scope"}
    assert body["expires_in"] == 36000
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "read write"
    assert response.headers["cache-control"] == "no-store"
    assert "refresh_token" not in body

    # The token works on the partner API right away.
    users = client.get(f"{partner.base}/users", headers=_bearer(body["access_token"]))
    assert users.status_code == 200, users.text


def test_token_is_a_jwt_bound_to_the_organisation_and_client(client, partner, settings):
    before = int(time.time())
    response = client.post(TOKEN_URL, data=GRANT, headers=basic_auth(partner.client_id, partner.client_secret))
    assert response.status_code == 200, response.text

    decoded = jwt.decode(response.json()["access_token"], _signing_key(settings), algorithms=["HS256"])
    assert decoded.header["alg"] == "HS256"
    claims = decoded.claims
    assert claims["org"] == partner.org_id
    assert claims["sub"] == partner.client_id
    assert claims["iss"] == "solarfleet"
    assert claims["exp"] - claims["iat"] == 36000
    assert before <= claims["iat"] <= int(time.time()) + 1


def test_json_body_with_charset_and_allowed_scope_works(client, partner):
    response = client.post(
        TOKEN_URL,
        content=b'{"grant_type": "client_credentials", "scope": "read write"}',
        headers={
            **basic_auth(partner.client_id, partner.client_secret),
            "Content-Type": "application/json; charset=utf-8",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read write"


# --- client authentication errors (401 invalid_client) -----------------------------------------


def _b64(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + _b64("no-colon-at-all"),
        "Basic " + _b64(":secret-without-id"),
        "Bearer some-token",
        "Digest " + _b64("a:b"),
    ],
    ids=["missing", "empty-basic", "not-base64", "no-colon", "empty-id", "bearer", "other-scheme"],
)
def test_missing_or_malformed_client_authentication_is_invalid_client(client, partner, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.post(TOKEN_URL, data=GRANT, headers=headers)
    _assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].lower().startswith("basic")


def test_wrong_secret_is_invalid_client(client, partner):
    response = client.post(TOKEN_URL, data=GRANT, headers=basic_auth(partner.client_id, partner.client_secret + "x"))
    _assert_oauth_error(response, 401, "invalid_client")
    assert "www-authenticate" in response.headers
    assert "access_token" not in response.json()


def test_unknown_client_is_invalid_client(client, partner):
    response = client.post(TOKEN_URL, data=GRANT, headers=basic_auth("sf_" + "0" * 24, partner.client_secret))
    _assert_oauth_error(response, 401, "invalid_client")
    assert "www-authenticate" in response.headers


def test_secret_of_another_client_does_not_authenticate(client, partner, other_partner):
    response = client.post(TOKEN_URL, data=GRANT, headers=basic_auth(partner.client_id, other_partner.client_secret))
    _assert_oauth_error(response, 401, "invalid_client")


# --- request errors (400) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"json": {}}, "invalid_request"),
        ({"data": {}}, "invalid_request"),
        ({"json": {"scope": "read write"}}, "invalid_request"),
        ({"json": {"grant_type": "password"}}, "unsupported_grant_type"),
        ({"data": {"grant_type": "authorization_code"}}, "unsupported_grant_type"),
        ({"json": {"grant_type": "client_credentials", "scope": "admin"}}, "invalid_scope"),
        ({"data": {"grant_type": "client_credentials", "scope": "read write delete"}}, "invalid_scope"),
        ({"json": {"grant_type": "client_credentials", "scope": ["read"]}}, "invalid_scope"),
    ],
    ids=[
        "json-no-grant",
        "form-no-grant",
        "json-scope-only",
        "password",
        "authorization-code",
        "scope-admin",
        "scope-extra",
        "scope-not-a-string",
    ],
)
def test_bad_grant_parameters_are_rfc6749_errors(client, partner, kwargs, error):
    response = client.post(TOKEN_URL, headers=basic_auth(partner.client_id, partner.client_secret), **kwargs)
    _assert_oauth_error(response, 400, error)
    assert "access_token" not in response.json()


@pytest.mark.parametrize(
    "content", [b'{"grant_type": "client_credentials"', b"not json", b"[1, 2]", b'"client_credentials"']
)
def test_malformed_json_body_is_400(client, partner, content):
    response = client.post(
        TOKEN_URL,
        content=content,
        headers={**basic_auth(partner.client_id, partner.client_secret), "Content-Type": "application/json"},
    )
    _assert_oauth_error(response, 400, "invalid_request")


# --- throttling of failed client authentication ------------------------------------------------


def test_failed_attempts_throttle_that_client_id_only(client, database, settings):
    assert settings.failed_auth_limit == 5  # the default
    victim = make_partner(client, database, "Victim")
    bystander = make_partner(client, database, "Bystander")

    # One attempt short of the limit, the right secret still works (and clears the count).
    for _ in range(4):
        response = client.post(TOKEN_URL, data=GRANT, headers=basic_auth(victim.client_id, "wrong"))
        _assert_oauth_error(response, 401, "invalid_client")
    ok = client.post(TOKEN_URL, data=GRANT, headers=basic_auth(victim.client_id, victim.client_secret))
    assert ok.status_code == 200, ok.text

    for _ in range(5):
        response = client.post(TOKEN_URL, data=GRANT, headers=basic_auth(victim.client_id, "wrong"))
        _assert_oauth_error(response, 401, "invalid_client")

    throttled = client.post(TOKEN_URL, data=GRANT, headers=basic_auth(victim.client_id, victim.client_secret))
    assert throttled.status_code == 429, throttled.text
    assert "access_token" not in throttled.json()
    assert throttled.json()["detail"]
    retry_after = int(throttled.headers["retry-after"])
    assert 1 <= retry_after <= settings.failed_auth_window_seconds

    # Another client id is not affected.
    other = client.post(TOKEN_URL, data=GRANT, headers=basic_auth(bystander.client_id, bystander.client_secret))
    assert other.status_code == 200, other.text
    assert other.json()["access_token"]


def test_throttle_limit_comes_from_settings(settings, database):
    from fastapi.testclient import TestClient

    strict = settings.model_copy(update={"failed_auth_limit": 2})
    with TestClient(create_app(strict, database)) as strict_client:
        victim = make_partner(strict_client, database, "Strict")
        for _ in range(2):
            response = strict_client.post(TOKEN_URL, data=GRANT, headers=basic_auth(victim.client_id, "wrong"))
            assert response.status_code == 401
        response = strict_client.post(TOKEN_URL, data=GRANT, headers=basic_auth(victim.client_id, victim.client_secret))
        assert response.status_code == 429, response.text
        assert "retry-after" in response.headers


def test_unknown_client_ids_are_throttled_too(client):
    for _ in range(5):
        response = client.post(TOKEN_URL, data=GRANT, headers=basic_auth("sf_guess", "guess"))
        assert response.status_code == 401
    response = client.post(TOKEN_URL, data=GRANT, headers=basic_auth("sf_guess", "guess"))
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_login_throttle_window_slides_with_the_clock():
    clock = FakeClock()
    throttle = LoginThrottle(limit=3, window_seconds=60, clock=clock)

    for offset in (0, 10, 20):
        assert throttle.retry_after("a") is None
        clock.now = 1000.0 + offset
        throttle.record_failure("a")

    assert throttle.retry_after("a") == 40  # the oldest failure (t=0) leaves the window at t=60
    assert throttle.retry_after("b") is None  # other client ids are not affected

    clock.now = 1059.5
    assert throttle.retry_after("a") == 1  # never 0 while still refused
    clock.now = 1060.0
    assert throttle.retry_after("a") is None  # the window has passed the first failure

    throttle.record_failure("a")  # failures at 10, 20, 60: at the limit again
    assert throttle.retry_after("a") == 10

    clock.now = 1200.0
    assert throttle.retry_after("a") is None  # all failures expired


def test_login_throttle_success_clears_and_below_limit_is_allowed():
    clock = FakeClock()
    throttle = LoginThrottle(limit=2, window_seconds=30, clock=clock)
    throttle.record_failure("a")
    assert throttle.retry_after("a") is None
    throttle.record_success("a")
    throttle.record_failure("a")
    assert throttle.retry_after("a") is None  # the earlier failure was forgotten
    throttle.record_failure("a")
    assert throttle.retry_after("a") == 30


# --- revocation --------------------------------------------------------------------------------


def test_revoked_client_token_is_refused_at_once_and_gets_no_new_token(client, database, partner):
    assert client.get(f"{partner.base}/users", headers=partner.headers).status_code == 200

    # A second client of the same organisation is not affected by the revocation.
    with database.session() as session:
        second = create_client(session, uuid.UUID(partner.org_id))
    second_token = client.post(
        TOKEN_URL, data=GRANT, headers=basic_auth(second.client_id, second.client_secret)
    ).json()["access_token"]

    with database.session() as session:
        revoke_client(session, partner.client_id)

    refused = client.get(f"{partner.base}/users", headers=partner.headers)
    assert refused.status_code == 401, refused.text
    assert refused.headers["www-authenticate"].lower().startswith("bearer")
    assert refused.json()["detail"]

    again = client.post(TOKEN_URL, data=GRANT, headers=basic_auth(partner.client_id, partner.client_secret))
    _assert_oauth_error(again, 401, "invalid_client")

    assert client.get(f"{partner.base}/users", headers=_bearer(second_token)).status_code == 200


# --- token verification on API calls ----------------------------------------------------------


def test_missing_or_garbage_bearer_is_401(client, partner):
    for headers in ({}, {"Authorization": "Bearer"}, _bearer("not.a.jwt"), _bearer(partner.token + "x")):
        response = client.get(f"{partner.base}/users", headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["detail"]


def test_expired_token_from_token_service_is_401(client, app, partner):
    issued_long_ago = time.time() - 36000 - 5
    with mock.patch("solarfleet.auth.tokens.time.time", return_value=issued_long_ago):
        expired = app.state.tokens.issue(uuid.UUID(partner.org_id), partner.client_id)
    with mock.patch("solarfleet.auth.tokens.time.time", return_value=time.time() - 36000 + 60):
        still_valid = app.state.tokens.issue(uuid.UUID(partner.org_id), partner.client_id)

    assert client.get(f"{partner.base}/users", headers=_bearer(still_valid)).status_code == 200
    response = client.get(f"{partner.base}/users", headers=_bearer(expired))
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].lower().startswith("bearer")


def test_crafted_token_with_past_exp_is_401(client, partner, settings):
    key = _signing_key(settings)
    valid = jwt.encode({"alg": "HS256"}, _claims(partner), key)
    assert client.get(f"{partner.base}/users", headers=_bearer(valid)).status_code == 200  # the crafting is right

    expired = jwt.encode({"alg": "HS256"}, _claims(partner, iat=int(time.time()) - 100, exp=int(time.time()) - 10), key)
    assert client.get(f"{partner.base}/users", headers=_bearer(expired)).status_code == 401


def test_token_signed_with_another_key_is_401(client, partner):
    forged = jwt.encode({"alg": "HS256"}, _claims(partner), OctKey.import_key(b"another-key-" + b"y" * 40))
    response = client.get(f"{partner.base}/users", headers=_bearer(forged))
    assert response.status_code == 401, response.text


def test_token_without_organisation_or_with_wrong_issuer_is_401(client, partner, settings):
    key = _signing_key(settings)
    claims = _claims(partner)
    del claims["org"]
    assert (
        client.get(f"{partner.base}/users", headers=_bearer(jwt.encode({"alg": "HS256"}, claims, key))).status_code
        == 401
    )
    wrong_issuer = jwt.encode({"alg": "HS256"}, _claims(partner, iss="someone-else"), key)
    assert client.get(f"{partner.base}/users", headers=_bearer(wrong_issuer)).status_code == 401


def test_token_claiming_another_organisation_than_its_client_is_401(client, partner, other_partner, settings):
    # Signed correctly, but the client does not belong to the organisation named in the token.
    claims = _claims(partner, org=other_partner.org_id)
    token = jwt.encode({"alg": "HS256"}, claims, _signing_key(settings))
    response = client.get(f"{other_partner.base}/users", headers=_bearer(token))
    assert response.status_code == 401, response.text


def test_token_of_one_organisation_on_another_organisations_path_is_403(client, partner, other_partner):
    response = client.get(f"{other_partner.base}/users", headers=partner.headers)
    assert response.status_code == 403, response.text
    assert response.json()["detail"]

    response = client.get(f"{partner.base}/users", headers=other_partner.headers)
    assert response.status_code == 403
    # Each token still works on its own organisation.
    assert client.get(f"{partner.base}/users", headers=partner.headers).status_code == 200
    assert client.get(f"{BASE}/org/{other_partner.org_id}/users", headers=other_partner.headers).status_code == 200


# --- secrets at rest ---------------------------------------------------------------------------


def test_client_secrets_are_stored_only_as_hashes(database):
    with database.session() as session:
        first = create_organisation(session, "Hashed")
        second = create_client(session, first.org_id)
    secrets_in_clear = [first.client_secret, second.client_secret]

    with database.session(write=False) as session:
        stored = session.scalars(select(ApiClient).where(ApiClient.organisation_id == first.org_id)).all()
        assert {c.id for c in stored} == {first.client_id, second.client_id}
        assert all(c.secret_hash for c in stored)
        # No column of any table holds a secret in clear (not even as part of a value).
        for table in metadata.sorted_tables:
            for row in session.execute(select(table)).all():
                for value in row:
                    for secret in secrets_in_clear:
                        assert secret not in str(value), f"{table.name} holds a client secret in clear"
