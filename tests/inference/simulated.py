"""Simulated histories for inference tests: a plausible home stepped minute by minute and read like a
monitored device, returned as the arrays inference reads together with the truth it should recover.

Simulating is the slow part (stepping and reading a home, with its clear-sky days, take about half a second
for two weeks), so histories are cached for the test session: the same home asked twice is simulated once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache

import numpy as np

from solarfleet.connectors.simulator.home import STEP, HomeParameters, SimulatedHome
from solarfleet.demo import TOWNS, home_parameters
from solarfleet.inference.readings import ReadingArrays
from solarfleet.prices.zones import ZONE_LOCATIONS

# Histories fall within one year: the household profile is built once per year and takes about a second.
YEAR = 2025


@dataclass(frozen=True, eq=False)
class SimulatedHistory:
    parameters: HomeParameters
    readings: ReadingArrays


def plausible_home(
    seed: int, *, battery: bool = True, ev: bool = False, measurement_noise: float = 0.01
) -> HomeParameters:
    """A home as the demo fleet draws them (orientation, consumption, battery) in one of its towns."""
    rng = random.Random(seed)
    zone, _ = rng.choice(TOWNS)
    base = ZONE_LOCATIONS[zone]
    battery_kwh = round(rng.uniform(5.0, 15.0), 1) if battery else None
    # Installers pair about one kWh of battery with each kWp of PV; homes without a battery take the demo's draw.
    pv_kwp = round(battery_kwh * rng.uniform(0.8, 1.3), 1) if battery_kwh else None
    parameters = home_parameters(
        rng,
        seed=seed,
        zone=zone,
        latitude=round(base.latitude + rng.uniform(-0.3, 0.3), 4),
        longitude=round(base.longitude + rng.uniform(-0.3, 0.3), 4),
        pv_kwp=pv_kwp,
        battery_kwh=battery_kwh,
        ev=ev,
    )
    return parameters.model_copy(update={"measurement_noise": measurement_noise})


def first_day(seed: int, days: int) -> date:
    """A seeded first day, any season, such that `days` days end within YEAR."""
    offset = random.Random(seed ^ 0x5EA5).randrange(date(YEAR, 12, 31).timetuple().tm_yday - days + 1)
    return date(YEAR, 1, 1) + timedelta(days=offset)


@cache
def simulate(parameters: HomeParameters, start: date, days: int) -> SimulatedHistory:
    """`days` days of one reading a minute from midnight UTC of `start`, in plain self-consumption."""
    home = SimulatedHome(parameters)
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    count = days * int(timedelta(days=1) / STEP)
    readings = [home.reading(first + index * STEP) for index in range(count)]

    def column(attribute: str) -> np.ndarray:
        return np.array([getattr(reading, attribute) for reading in readings], dtype=float)  # None becomes NaN

    step_s = int(STEP.total_seconds())
    arrays = ReadingArrays(
        time_s=int(first.timestamp()) + step_s * np.arange(count, dtype=np.int64),
        interval_s=np.full(count, float(step_s)),
        solar_w=column("solar_production_w"),
        grid_w=column("power_to_grid_w"),
        household_w=column("household_consumption_w"),
        battery_w=column("battery_charge_discharge_power_w"),
        soc_percent=column("battery_charge_level_percent"),
    )
    return SimulatedHistory(parameters, arrays)


def simulated_home(
    seed: int, days: int, *, battery: bool = True, ev: bool = False, measurement_noise: float = 0.01
) -> SimulatedHistory:
    """The history of the plausible home `seed` over `days` days from its seeded first day."""
    parameters = plausible_home(seed, battery=battery, ev=ev, measurement_noise=measurement_noise)
    return simulate(parameters, first_day(seed, days), days)
