"""Energy from readings: how long each reading stands for, the PV energy counter, rollup buckets and
the trailing production windows (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass

RESOLUTION_SECONDS = {"15MIN": 900, "1HOUR": 3600, "1DAY": 86400}
MIN_GAP_CAP_S = 120.0


def reading_interval_s(previous_s: int | None, time_s: int, poll_interval_s: float) -> float:
    """The time a reading stands for: since the previous one, but never across an outage longer than
    two poll intervals (an unknown gap is not assumed to have produced anything)."""
    if previous_s is None or time_s <= previous_s:
        return 0.0
    return float(min(time_s - previous_s, max(2.0 * poll_interval_s, MIN_GAP_CAP_S)))


def energy_increment_wh(
    previous_device_wh: float | None, device_wh: float | None, solar_w: float | None, interval_s: float
) -> float:
    """PV energy since the previous reading: from the device's own counter where it gives one twice
    in a row and it did not go backwards (a reset or replacement), else power × interval."""
    if previous_device_wh is not None and device_wh is not None and device_wh >= previous_device_wh:
        return device_wh - previous_device_wh
    return (solar_w or 0.0) * interval_s / 3600.0


def bucket_start(time_s: int, resolution: str) -> int:
    width = RESOLUTION_SECONDS[resolution]
    return time_s - time_s % width


@dataclass(frozen=True, slots=True)
class ProductionWindow:
    """A trailing window, measured from the start of the rollup bucket that holds `now − length`."""

    field: str
    length_s: int
    resolution: str

    def start_bucket(self, now_s: int) -> int:
        return bucket_start(now_s - self.length_s, self.resolution)


PRODUCTION_WINDOWS = (
    ProductionWindow("production_last_day_kwh", 86400, "15MIN"),
    ProductionWindow("production_last_week_kwh", 7 * 86400, "1HOUR"),
    ProductionWindow("production_last_month_kwh", 30 * 86400, "1HOUR"),
)


def production_kwh(counter_now_wh: float, counter_at_start_wh: float | None) -> float | None:
    """PV energy over a window from the counter's value at the window's start (unknown → None)."""
    if counter_at_start_wh is None:
        return None
    return max(counter_now_wh - counter_at_start_wh, 0.0) / 1000.0
