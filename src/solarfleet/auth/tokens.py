"""Signed access tokens (JWT, HS256), each bound to one organisation and one API client."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from solarfleet.config import TOKEN_LIFETIME_SECONDS

ISSUER = "solarfleet"
SCOPE = "read write"
ALGORITHM = "HS256"


class InvalidToken(Exception):
    """The token is malformed, forged, expired or not ours."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    organisation_id: uuid.UUID
    client_id: str
    expires_at: int


class TokenService:
    def __init__(self, signing_key: bytes) -> None:
        self._key = OctKey.import_key(signing_key)
        self._claims_registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": ISSUER},
            sub={"essential": True},
            org={"essential": True},
            exp={"essential": True},
        )

    def issue(self, organisation_id: uuid.UUID, client_id: str) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": client_id,
            "org": str(organisation_id),
            "scope": SCOPE,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_SECONDS,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode({"alg": ALGORITHM}, claims, self._key, algorithms=[ALGORITHM])

    def verify(self, token: str) -> TokenClaims:
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            self._claims_registry.validate(decoded.claims)
            return TokenClaims(
                organisation_id=uuid.UUID(decoded.claims["org"]),
                client_id=str(decoded.claims["sub"]),
                expires_at=int(decoded.claims["exp"]),
            )
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidToken(str(exc)) from exc
