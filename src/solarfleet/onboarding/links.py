"""The Connect UI's addresses: signed, so that nobody reaches a session or a device's page by guessing.

Every address carries a MAC of what it opens (a session, or an inverter's re-authorisation page)
under a key derived from the service's token-signing key. Nothing is stored for it, and a leaked
address opens only what it names. Rotating the signing key invalidates every outstanding address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import uuid
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

CONNECT_PREFIX = "/connect"
_KEY_LABEL = b"solarfleet connect-ui links v1"


class ConnectLinks:
    def __init__(self, signing_key: bytes, base_url: str) -> None:
        # Keyed BLAKE2b is a MAC in its own right, and about four times faster than HMAC-SHA256 here: the
        # inverter list signs every device of a user on each read.
        self._key = hashlib.blake2b(_KEY_LABEL, key=signing_key[:64], digest_size=32).digest()
        self.base_url = base_url.rstrip("/")
        self._device_base = f"{self.base_url}{CONNECT_PREFIX}/d/"

    def mac(self, purpose: str, subject: uuid.UUID) -> str:
        return self._sign(f"{purpose}:{subject}")

    def _sign(self, text: str) -> str:
        digest = hashlib.blake2b(text.encode(), key=self._key, digest_size=16).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def verify(self, purpose: str, subject: uuid.UUID, mac: str) -> bool:
        # As bytes: compare_digest refuses str with characters beyond ASCII, which a forged address may hold.
        return hmac.compare_digest(self.mac(purpose, subject).encode(), mac.encode())

    def session_path(self, session_id: uuid.UUID) -> str:
        return f"{CONNECT_PREFIX}/s/{session_id}/{self.mac('session', session_id)}"

    def session_url(self, session_id: uuid.UUID) -> str:
        return self.base_url + self.session_path(session_id)

    def device_urls(self, inverter_id: uuid.UUID) -> tuple[str, str]:
        """The inverter's `authorization_url` and `embeddable_url` (the same page without chrome). Built in
        one go, with one signature, as the inverter list asks for many."""
        text = str(inverter_id)
        authorization = f"{self._device_base}{text}/{self._sign('device:' + text)}"
        return authorization, authorization + "/embed"


@lru_cache(maxsize=16)
def links_for(signing_key: bytes, base_url: str) -> ConnectLinks:
    """One `ConnectLinks` per address the service is reached at (few: the public one, or loopback)."""
    return ConnectLinks(signing_key, base_url)


def with_session_id(url: str, session_id: uuid.UUID) -> str:
    """The partner's return address with `session_id` appended to its query, everything else byte for byte
    as given (its own query is not re-encoded)."""
    parts = urlsplit(url)
    query = f"{parts.query}&session_id={session_id}" if parts.query else f"session_id={session_id}"
    return urlunsplit(parts._replace(query=query))


_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?")


def origin_of(url: str) -> str:
    """The http(s) origin of an address, in ASCII (an international host name in its IDNA form), as a
    Content-Security-Policy names it; ValueError for anything that is not a plain scheme, host and port,
    so that no address can smuggle text into a policy header."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// address with a host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return f"{parts.scheme}://{_ascii_host(parts.hostname)}" + (f":{port}" if port is not None else "")


def _ascii_host(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return f"[{address}]" if address.version == 6 else str(address)
    try:
        name = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("has an invalid host name") from None
    if len(name) > 253 or not _HOST_NAME.fullmatch(name):
        raise ValueError("has an invalid host name")
    return name
