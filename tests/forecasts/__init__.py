"""History for the forecast and savings tests: a simulated home read once a minute and rolled up into
quarter hours the way monitoring stores them (energies in Wh, partner-API signs split into flows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from solarfleet.connectors.simulator.home import HomeParameters, SimulatedHome
from solarfleet.forecasts.validation import STEP_S, MeasuredSteps

VIENNA = {"latitude": 48.21, "longitude": 16.37, "timezone": "Europe/Vienna"}
_MINUTES_PER_STEP = STEP_S // 60


@dataclass(frozen=True, eq=False)
class Rollups:
    """Quarter-hour energies of one simulated home from `start`, every bucket fully covered."""

    start: datetime
    solar_wh: np.ndarray
    household_wh: np.ndarray
    import_wh: np.ndarray
    export_wh: np.ndarray
    soc_start_percent: float | None

    @property
    def bucket_s(self) -> np.ndarray:
        return int(self.start.timestamp()) + STEP_S * np.arange(len(self.solar_wh), dtype=np.int64)

    def measured(self, energy_wh: np.ndarray) -> MeasuredSteps:
        return MeasuredSteps(self.bucket_s, energy_wh, np.full(len(energy_wh), float(STEP_S)))


def simulate(parameters: HomeParameters, start: datetime, days: float) -> Rollups:
    """Read the home at every minute of `days` days from `start` (UTC midnight or any quarter hour)."""
    home = SimulatedHome(parameters)
    minutes = round(days * 1440)
    solar, household, grid = np.empty(minutes), np.empty(minutes), np.empty(minutes)
    soc = None
    for minute in range(minutes):
        reading = home.reading(start + timedelta(minutes=minute))  # the powers of that whole minute
        if minute == 0:
            soc = reading.battery_charge_level_percent
        solar[minute] = reading.solar_production_w
        household[minute] = reading.household_consumption_w
        grid[minute] = reading.power_to_grid_w

    def per_step(watts: np.ndarray) -> np.ndarray:
        return watts.reshape(-1, _MINUTES_PER_STEP).sum(axis=1) / 60.0

    return Rollups(
        start.astimezone(UTC),
        per_step(solar),
        per_step(household),
        per_step(np.clip(-grid, 0, None)),
        per_step(np.clip(grid, 0, None)),
        soc,
    )
