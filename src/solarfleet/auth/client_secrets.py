"""API client identifiers and secrets.

Secrets are 256-bit random strings, so a keyed hash (HMAC-SHA256 with a per-client salt) is
enough to make a leaked table useless, and keeps the token endpoint fast. Salts are per row,
so rotating the service's own keys never locks a partner out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

HASH_SCHEME = "hmac-sha256"


def new_client_id() -> str:
    return f"sf_{secrets.token_hex(12)}"


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_client_secret(secret: str) -> str:
    salt = secrets.token_hex(16)
    return f"{HASH_SCHEME}${salt}${_digest(salt, secret)}"


def verify_client_secret(secret: str, stored_hash: str) -> bool:
    scheme, _, rest = stored_hash.partition("$")
    salt, _, digest = rest.partition("$")
    if scheme != HASH_SCHEME or not salt or not digest:
        return False
    return hmac.compare_digest(_digest(salt, secret), digest)


def _digest(salt: str, secret: str) -> str:
    return hmac.new(salt.encode(), secret.encode(), hashlib.sha256).hexdigest()
