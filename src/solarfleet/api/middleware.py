"""ASGI middleware: a request id on every request and log line, and security headers.

Written as plain ASGI (not BaseHTTPMiddleware) to keep the per-request cost small.
"""

from __future__ import annotations

import re
import secrets
import time

import structlog
from starlette.responses import JSONResponse

from solarfleet.logs import get_logger
from solarfleet.onboarding.links import CONNECT_PREFIX

log = get_logger("solarfleet.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
INTERNAL_ERROR_DETAIL = "internal error; the request id in the X-Request-ID header identifies it in the log"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class RequestContextMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or secrets.token_hex(8)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_code = 500
        response_started = False

        async def send_with_headers(message) -> None:
            nonlocal status_code, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_code = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(_security_headers(headers))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if response_started:
                raise
            # Answered here rather than by Starlette's outermost error middleware, so that the 500
            # carries the request id and security headers and its log line the request id, and the
            # exception does not reach the ASGI server (whose own traceback log would repeat it).
            log.exception("unhandled_error", path=scope["path"])
            response = JSONResponse(status_code=500, content={"detail": INTERNAL_ERROR_DETAIL})
            await response(scope, receive, send_with_headers)
        finally:
            # The path only: query strings and headers may carry secrets.
            log.info(
                "request",
                method=scope["method"],
                path=_logged_path(scope),
                status=status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")


def _logged_path(scope) -> str:
    """The path, except for the Connect UI, whose addresses are signed: there the route's pattern, so that
    the log holds no working link."""
    path = scope["path"]
    if not path.startswith(CONNECT_PREFIX + "/"):
        return path
    return getattr(scope.get("route"), "path", CONNECT_PREFIX + "/…")


def _security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The defaults a response has not set itself. A page with its own CSP governs its framing by
    `frame-ancestors` (the Connect UI's embeddable pages allow their organisation's origins) and sets
    X-Frame-Options itself where it forbids framing; the default could only forbid every origin."""
    present = {name.lower() for name, _ in headers}
    wanted = SECURITY_HEADERS
    if b"content-security-policy" in present:
        wanted = [(name, value) for name, value in SECURITY_HEADERS if name != b"x-frame-options"]
    return [(name, value) for name, value in wanted if name not in present]


def _incoming_request_id(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _REQUEST_ID.match(candidate) else None
    return None
