"""Slows down guessing of client secrets, one client id at a time.

Each client id has its own window of failed attempts; past the limit, further attempts for that
id are refused with 429 until the window has moved on. Other clients are never affected. The
state is per process, which suits the embedded default; a guesser spread over several API
workers still meets each worker's limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

MAX_TRACKED_CLIENT_IDS = 100_000


class LoginThrottle:
    def __init__(self, limit: int, window_seconds: float, clock=time.monotonic) -> None:
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client_id: str) -> int | None:
        """Seconds until this client id may try again, or None when it may try now."""
        with self._lock:
            failures = self._recent_failures(client_id)
            if failures is None or len(failures) < self._limit:
                return None
            return max(1, math.ceil(failures[0] + self._window - self._clock()))

    def record_failure(self, client_id: str) -> None:
        with self._lock:
            if client_id not in self._failures and len(self._failures) >= MAX_TRACKED_CLIENT_IDS:
                self._forget_expired()
            self._failures.setdefault(client_id, deque()).append(self._clock())

    def record_success(self, client_id: str) -> None:
        with self._lock:
            self._failures.pop(client_id, None)

    def _recent_failures(self, client_id: str) -> deque[float] | None:
        failures = self._failures.get(client_id)
        if failures is None:
            return None
        horizon = self._clock() - self._window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[client_id]
            return None
        return failures

    def _forget_expired(self) -> None:
        for client_id in list(self._failures):
            self._recent_failures(client_id)
