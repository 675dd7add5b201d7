"""Price curves: one zone's prices on a regular UTC grid, the one form every price source is turned into.

A curve is pure data: it does no I/O and knows nothing of where its prices came from beyond a label.
Readers never index `values` by hand across resolutions: `on_steps` answers "what did each step of this
grid cost", so hourly and quarter-hourly curves mix without anyone converting by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np

from solarfleet.prices.zones import HOUR, QUARTER_HOUR, PriceZone

RESOLUTIONS = (QUARTER_HOUR, HOUR)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PriceSource(StrEnum):
    ENTSOE = "entsoe"
    PARTNER = "partner"
    SYNTHETIC = "synthetic"
    CONTRACT = "contract"


@dataclass(frozen=True, slots=True)
class PriceCurve:
    """Prices in EUR/MWh for `len(values)` consecutive steps of `resolution` from `start` (UTC).

    NaN marks a step whose price is unknown. `values` is a read-only copy, so a curve cannot change
    under a reader that holds it.
    """

    zone: PriceZone
    start: datetime
    resolution: timedelta
    values: np.ndarray
    source: PriceSource

    def __post_init__(self) -> None:
        if self.resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be 15 or 60 minutes, not {self.resolution}")
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        start = self.start.astimezone(UTC)
        if (start - _EPOCH) % self.resolution:
            raise ValueError(f"start {start.isoformat()} is not on the {_minutes(self.resolution)}-minute grid")
        values = np.array(self.values, dtype=np.float64)
        if values.ndim != 1:
            raise ValueError("values must be one-dimensional")
        if np.isinf(values).any():
            raise ValueError("values must be finite, or NaN where unknown")
        values.setflags(write=False)
        object.__setattr__(self, "zone", PriceZone(self.zone))
        object.__setattr__(self, "source", PriceSource(self.source))
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "values", values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PriceCurve):
            return NotImplemented
        return self._grid() == other._grid() and np.array_equal(self.values, other.values, equal_nan=True)

    def __hash__(self) -> int:
        # Values are left out: equal curves still hash alike, and hashing stays cheap for long curves.
        return hash(self._grid())

    def _grid(self) -> tuple[PriceZone, datetime, timedelta, PriceSource, int]:
        return self.zone, self.start, self.resolution, self.source, len(self.values)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def end(self) -> datetime:
        """The instant the last step ends."""
        return self.start + len(self.values) * self.resolution

    def is_complete(self) -> bool:
        """Whether every step has a price (an empty curve has none to give)."""
        return len(self.values) > 0 and not np.isnan(self.values).any()

    def on_steps(self, start: datetime, count: int, step: timedelta = QUARTER_HOUR) -> np.ndarray:
        """The price of each of `count` steps of `step` (15 or 60 minutes) from `start`.

        An hourly price applies to each of its four quarters; an hour of a quarter-hourly curve costs
        the mean of its quarters, and is NaN unless all four are known. Steps outside the curve are NaN.
        """
        if step not in RESOLUTIONS:
            raise ValueError(f"step must be 15 or 60 minutes, not {step}")
        start = start.astimezone(UTC)
        if (start - _EPOCH) % step:
            raise ValueError(f"start {start.isoformat()} is not on the {_minutes(step)}-minute grid")
        # Work on the finer of the two grids, where both the curve's steps and the asked steps are whole.
        fine = min(step, self.resolution)
        per_value, per_step = self.resolution // fine, step // fine
        offset = (start - self.start) // fine
        fine_values = np.repeat(self.values, per_value)
        wanted = np.full(count * per_step, np.nan)
        lo, hi = max(offset, 0), min(offset + count * per_step, len(fine_values))
        if lo < hi:
            wanted[lo - offset : hi - offset] = fine_values[lo:hi]
        return wanted.reshape(count, per_step).mean(axis=1)

    def window(self, start: datetime, end: datetime) -> PriceCurve:
        """The curve cut (or padded with NaN) to exactly [start, end), on its own grid."""
        count = (end - start) // self.resolution
        if count < 0 or start + count * self.resolution != end:
            raise ValueError(f"[{start}, {end}) is not a whole number of {_minutes(self.resolution)}-minute steps")
        return PriceCurve(self.zone, start, self.resolution, self.on_steps(start, count, self.resolution), self.source)

    def resample(self, resolution: timedelta) -> PriceCurve:
        """The same prices at another resolution: hours become four equal quarters, quarters average to hours.

        The result covers every step the curve touches; a partly covered hour is NaN.
        """
        start = _floor(self.start, resolution)
        count = -((start - self.end) // resolution)  # ceiling division: the last, maybe partial, step counts
        return PriceCurve(self.zone, start, resolution, self.on_steps(start, count, resolution), self.source)

    @classmethod
    def merge(cls, curves: Sequence[PriceCurve], resolution: timedelta | None = None) -> PriceCurve:
        """One curve over the span of `curves` (of one zone and source) at `resolution`, by default the finest.

        Where several curves price a step, the first one in `curves` that knows it wins, so the caller
        orders them by trust. Steps none of them knows stay NaN.
        """
        if not curves:
            raise ValueError("nothing to merge")
        first = curves[0]
        if any(curve.zone != first.zone or curve.source != first.source for curve in curves):
            raise ValueError("only curves of one zone and one source can be merged")
        resolution = resolution or min(curve.resolution for curve in curves)
        start = _floor(min(curve.start for curve in curves), resolution)
        count = -((start - max(curve.end for curve in curves)) // resolution)
        values = np.full(count, np.nan)
        for curve in curves:
            unknown = np.isnan(values)
            values[unknown] = curve.on_steps(start, count, resolution)[unknown]
        return cls(first.zone, start, resolution, values, first.source)


def _floor(instant: datetime, resolution: timedelta) -> datetime:
    return instant - (instant - _EPOCH) % resolution


def _minutes(resolution: timedelta) -> int:
    return int(resolution.total_seconds() // 60)
