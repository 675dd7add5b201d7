"""Encryption at rest for device credentials, with key rotation.

Keys come from configuration (`SOLARFLEET_ENCRYPTION_KEYS`, or the generated key file): the
first key encrypts, every listed key decrypts, so rows written under an old key stay readable
after a new key is put in front. `rotate` re-encrypts a row under the first key, after which the
old keys can be dropped.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_UNREADABLE = "no configured encryption key decrypts these credentials"


class CredentialsUnreadable(Exception):
    """Stored credentials could not be decrypted with any configured key."""


class CredentialsCipher:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, credentials: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(credentials, separators=(",", ":")).encode())

    def decrypt(self, token: bytes) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise CredentialsUnreadable(_UNREADABLE) from None

    def rotate(self, token: bytes) -> bytes:
        """The same credentials encrypted under the first key, whichever configured key they were under."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise CredentialsUnreadable(_UNREADABLE) from None
