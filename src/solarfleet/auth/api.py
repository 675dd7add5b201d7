"""`POST /oauth2/token/`: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from solarfleet.auth.client_secrets import verify_client_secret
from solarfleet.auth.tokens import SCOPE
from solarfleet.config import TOKEN_LIFETIME_SECONDS
from solarfleet.logs import get_logger
from solarfleet.organisations.service import active_client

log = get_logger(__name__)
router = APIRouter(tags=["Authentication"])

BEARER_SCHEME = "Bearer"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_BODY_BYTES = 4096


class TokenResponse(BaseModel):
    access_token: str = Field(description="The bearer token to send in the Authorization header")
    expires_in: int = Field(description="Seconds the token stays valid", examples=[TOKEN_LIFETIME_SECONDS])
    token_type: str = Field(description="Always `Bearer`", examples=["Bearer"])
    scope: str = Field(description="What the token allows: an administrator of one organisation", examples=[SCOPE])


class OAuthError(BaseModel):
    error: str = Field(description="RFC 6749 §5.2 error code")
    error_description: str
    detail: str = Field(description="Same as error_description")


def _error(status_code: int, error: str, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status_code,
        content={"error": error, "error_description": description, "detail": description},
        headers={**NO_STORE, **(headers or {})},
    )


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        return None
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    client_id, secret = unquote(client_id), unquote(secret)
    if "\x00" in client_id:
        return None  # no client id has one, and PostgreSQL refuses NUL in a query parameter
    return client_id, secret


async def _grant_parameters(request: Request) -> dict[str, Any] | None:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            parsed = json.loads(body or b"{}")
            return parsed if isinstance(parsed, dict) else None
        if content_type in ("application/x-www-form-urlencoded", ""):
            return {k: v[-1] for k, v in parse_qs(body.decode(), strict_parsing=False).items()}
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested too deep
        return None
    return None


INVALID_CLIENT = (
    "client authentication failed: send HTTP Basic credentials of an active API client "
    "(create one with `solarfleet client create`)"
)

REQUEST_BODY = {
    "required": True,
    "content": {
        media: {
            "schema": {
                "type": "object",
                "properties": {
                    "grant_type": {"type": "string", "enum": ["client_credentials"]},
                    "scope": {"type": "string", "description": "Optional; only `read write` exists"},
                },
                "required": ["grant_type"],
            }
        }
        for media in ("application/json", "application/x-www-form-urlencoded")
    },
}


@router.post(
    "/oauth2/token/",
    summary="Get an access token (client credentials)",
    description="HTTP Basic `client_id:client_secret`; body `grant_type=client_credentials` as JSON or form. "
    f"The token is valid for {TOKEN_LIFETIME_SECONDS} s and acts as administrator of the client's "
    "organisation. There is no refresh token: ask again.",
    openapi_extra={"requestBody": REQUEST_BODY},
    responses={
        400: {"model": OAuthError, "description": "invalid_request, unsupported_grant_type or invalid_scope"},
        401: {"model": OAuthError, "description": "invalid_client"},
        429: {
            "model": OAuthError,
            "description": "Too many failed attempts for this client id; see Retry-After",
        },
    },
)
async def issue_token(request: Request) -> TokenResponse:
    credentials = _basic_credentials(request)
    if credentials is None:
        return _error(401, "invalid_client", INVALID_CLIENT, {"WWW-Authenticate": 'Basic realm="solarfleet"'})
    client_id, secret = credentials
    throttle = request.app.state.login_throttle
    retry_after = throttle.retry_after(client_id)
    if retry_after is not None:
        log.warning("token_refused_throttled", client_id=client_id)
        return _error(
            429,
            "slow_down",
            f"too many failed attempts; retry in {retry_after} s",
            {"Retry-After": str(retry_after)},
        )
    with request.app.state.db.session(write=False) as session:
        client = active_client(session, client_id)
        valid = client is not None and verify_client_secret(secret, client.secret_hash)
        organisation_id = client.organisation_id if valid else None
    if not valid:
        throttle.record_failure(client_id)
        log.warning("token_refused_invalid_client", client_id=client_id)
        return _error(401, "invalid_client", INVALID_CLIENT, {"WWW-Authenticate": 'Basic realm="solarfleet"'})
    throttle.record_success(client_id)

    parameters = await _grant_parameters(request)
    if parameters is None:
        return _error(400, "invalid_request", "the body must be JSON or form data with grant_type")
    grant_type = parameters.get("grant_type")
    if grant_type is None:
        return _error(400, "invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        return _error(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
    scope = parameters.get("scope")
    if scope is not None and (not isinstance(scope, str) or not set(scope.split()) <= set(SCOPE.split())):
        return _error(400, "invalid_scope", f"the only scope is '{SCOPE}'")

    token = request.app.state.tokens.issue(organisation_id, client_id)
    log.info("token_issued", client_id=client_id, organisation_id=str(organisation_id))
    return JSONResponse(
        content=TokenResponse(
            access_token=token, expires_in=TOKEN_LIFETIME_SECONDS, token_type=BEARER_SCHEME, scope=SCOPE
        ).model_dump(),
        headers=NO_STORE,
    )
