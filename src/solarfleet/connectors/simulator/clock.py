"""The time the simulated fleet lives in: real time, accelerated, or stepped by hand.

Everything that asks "what time is it" in monitoring takes it from a clock like this, so a test or a
benchmark can step a whole fleet through a day without waiting for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic


@dataclass
class SimulationClock:
    """`now()` = `origin` + (wall time since start) × `speed`; with `speed` 0 it moves only by `advance`."""

    origin: datetime
    speed: float
    _started: float
    _stepped: timedelta = timedelta(0)

    @classmethod
    def real_time(cls) -> SimulationClock:
        return cls(datetime.now(UTC), 1.0, monotonic())

    @classmethod
    def accelerated(cls, speed: float, origin: datetime | None = None) -> SimulationClock:
        if speed <= 0:
            raise ValueError("an accelerated clock needs a speed > 0")
        return cls(origin or datetime.now(UTC), speed, monotonic())

    @classmethod
    def stepped(cls, origin: datetime) -> SimulationClock:
        if origin.tzinfo is None:
            raise ValueError("the clock's origin must be an aware UTC datetime")
        return cls(origin.astimezone(UTC), 0.0, monotonic())

    def run_on(self, speed: float) -> None:
        """Continue from now at `speed` (after stepping through the past, say); never goes back."""
        if speed <= 0:
            raise ValueError("a running clock needs a speed > 0")
        self.origin, self.speed, self._started, self._stepped = self.now(), speed, monotonic(), timedelta(0)

    def now(self) -> datetime:
        elapsed = timedelta(seconds=(monotonic() - self._started) * self.speed) if self.speed else timedelta(0)
        return self.origin + elapsed + self._stepped

    def advance(self, by: timedelta) -> datetime:
        """Move a stepped (or any) clock forward; time never runs backwards."""
        if by < timedelta(0):
            raise ValueError("a clock cannot go back")
        self._stepped += by
        return self.now()

    def wall_seconds(self, simulated: timedelta) -> float:
        """How long to really wait for `simulated` time to pass (0 on a stepped clock)."""
        return simulated.total_seconds() / self.speed if self.speed else 0.0
