"""The history inference reads: one device's stored readings as arrays, oldest first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class ReadingArrays:
    """One device's readings in time order. Powers in W with the partner API's signs (battery positive =
    discharging, grid positive = export), state of charge in %, NaN where a quantity was not measured.
    `interval_s` is the time each reading stands for (since the previous one, capped by monitoring)."""

    time_s: np.ndarray  # int64 epoch seconds, strictly increasing
    interval_s: np.ndarray
    solar_w: np.ndarray
    grid_w: np.ndarray
    household_w: np.ndarray
    battery_w: np.ndarray
    soc_percent: np.ndarray

    def __post_init__(self) -> None:
        count = len(self.time_s)
        for name in ("time_s", "interval_s", "solar_w", "grid_w", "household_w", "battery_w", "soc_percent"):
            values = np.asarray(getattr(self, name), dtype=np.int64 if name == "time_s" else float)
            if values.shape != (count,):
                raise ValueError(f"{name} has one value per reading ({count})")
            object.__setattr__(self, name, values)
        if count > 1 and np.any(np.diff(self.time_s) <= 0):
            raise ValueError("readings are in strictly increasing time order")

    def __len__(self) -> int:
        return len(self.time_s)
