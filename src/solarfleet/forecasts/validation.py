"""The quarter-hour steps forecasts are made on, the measured history they learn from, and the check
every forecast passes before the optimiser may use it.

A forecast is rejected, never repaired: a NaN, an infinity, a negative watt or a wrong length means
the model that made it is broken, and clipping or padding would hide that and steer batteries by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

STEP_S = 900
STEP = timedelta(seconds=STEP_S)
# A rollup counts when its readings cover at least half its quarter hour: its mean power over the
# covered time then stands for the bucket; less (a device that was offline) is a gap, not a low value.
MIN_COVERAGE = 0.5
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ForecastRejected(ValueError):
    """A forecast that must not reach the optimiser; the message says why."""


@dataclass(frozen=True)
class StepGrid:
    """`count` consecutive quarter hours from `start` (aware, on a quarter-hour boundary of UTC)."""

    start: datetime
    count: int

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("a step grid starts at an aware datetime")
        if (self.start - _EPOCH) % STEP:
            raise ValueError(f"a step grid starts on a quarter hour, not at {self.start.isoformat()}")
        if self.count < 0:
            raise ValueError("a step grid has no negative length")
        object.__setattr__(self, "start", self.start.astimezone(UTC))

    @classmethod
    def from_epoch(cls, start_s: int, count: int) -> StepGrid:
        return cls(_EPOCH + timedelta(seconds=int(start_s)), count)

    @property
    def start_s(self) -> int:
        return (self.start - _EPOCH) // timedelta(seconds=1)

    @property
    def end(self) -> datetime:
        return self.start + self.count * STEP

    def bucket_s(self) -> np.ndarray:
        """Start of every step, epoch seconds (the rollups' `bucket_s`)."""
        return self.start_s + STEP_S * np.arange(self.count, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class MeasuredSteps:
    """One measured energy per quarter-hour rollup (e.g. `solar_wh` or `household_wh` with `covered_s`),
    in any order; buckets without a rollup are simply absent, unmeasured energies NaN."""

    bucket_s: np.ndarray
    energy_wh: np.ndarray
    covered_s: np.ndarray

    def __post_init__(self) -> None:
        bucket_s = np.asarray(self.bucket_s, dtype=np.int64)
        energy_wh = np.asarray(self.energy_wh, dtype=float)
        covered_s = np.asarray(self.covered_s, dtype=float)
        if not bucket_s.ndim == energy_wh.ndim == covered_s.ndim == 1 or not (
            len(bucket_s) == len(energy_wh) == len(covered_s)
        ):
            raise ValueError("bucket_s, energy_wh and covered_s are 1-D arrays of one length")
        if np.any(bucket_s % STEP_S):
            raise ValueError("rollup buckets start on quarter hours")
        object.__setattr__(self, "bucket_s", bucket_s)
        object.__setattr__(self, "energy_wh", energy_wh)
        object.__setattr__(self, "covered_s", covered_s)

    def usable(self) -> np.ndarray:
        """Buckets whose energy is known and whose readings cover enough of the quarter hour."""
        return np.isfinite(self.energy_wh) & (self.covered_s >= MIN_COVERAGE * STEP_S)

    def power_w(self) -> np.ndarray:
        """Mean power over the covered time of each bucket (as the data endpoint reports it); NaN where unusable."""
        usable = self.usable()
        return np.where(usable, self.energy_wh * 3600.0 / np.where(usable, self.covered_s, 1.0), np.nan)

    def between(self, start_s: int, end_s: int) -> MeasuredSteps:
        """The buckets that start in [start_s, end_s)."""
        keep = (self.bucket_s >= start_s) & (self.bucket_s < end_s)
        return MeasuredSteps(self.bucket_s[keep], self.energy_wh[keep], self.covered_s[keep])

    def on(self, grid: StepGrid) -> np.ndarray:
        """Mean power per step of `grid`, NaN where no usable bucket exists."""
        values = np.full(grid.count, np.nan)
        inside = self.between(grid.start_s, grid.start_s + grid.count * STEP_S)
        values[(inside.bucket_s - grid.start_s) // STEP_S] = inside.power_w()
        return values


def local_wall_clock(bucket_s: np.ndarray, timezone: str) -> np.ndarray:
    """Local wall-clock time (naive datetime64[s]) of each epoch second in the IANA `timezone`: what
    day types, times of day and local periods are read from (on DST days an hour repeats or is missing)."""
    utc = pd.to_datetime(np.asarray(bucket_s, dtype=np.int64), unit="s", utc=True)
    return utc.tz_convert(timezone).tz_localize(None).to_numpy().astype("datetime64[s]")


def validate_forecast(values: object, grid: StepGrid) -> np.ndarray:
    """`values` as a read-only float array of one finite, non-negative watt figure per step of `grid`;
    ForecastRejected otherwise (no clipping of small negatives either: a model that makes them is wrong)."""
    try:
        array = np.array(values, dtype=float)
    except (TypeError, ValueError):
        raise ForecastRejected("a forecast is a sequence of numbers") from None
    if array.ndim != 1 or len(array) != grid.count:
        raise ForecastRejected(
            f"a forecast has one value per quarter hour from {grid.start.isoformat()}: {grid.count} values, "
            f"not an array of shape {array.shape}"
        )
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ForecastRejected(f"{bad.size} values are not finite, the first at step {bad[0]}")
    negative = np.flatnonzero(array < 0)
    if negative.size:
        first = negative[0]
        raise ForecastRejected(f"{negative.size} values are negative, the first {array[first]} W at step {first}")
    array.flags.writeable = False
    return array
