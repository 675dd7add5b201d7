"""Day profiles at one-minute resolution for a simulated home: PV under clouds, household load, EV charging.

Each profile depends only on (location or parameters, seed, date), never on when or how often it is
asked for, so a simulated home is reproducible for its seed however it is polled.
"""

from __future__ import annotations

import warnings
from datetime import date
from functools import lru_cache

import numpy as np
from scipy.signal import lfilter

from solarfleet.solar_geometry import MINUTES_PER_DAY

# Appliance bouts (kettle, oven, washer) on top of the smooth standard profile: 2 a day for a
# 4,000 kWh home, of 1.8–3 kW for 3–30 min, carry about 11.5 % of the annual consumption, so the
# profile is scaled to the rest and the year still adds up to the home's consumption.
APPLIANCE_BOUTS_PER_DAY = 2.0
APPLIANCE_SHARE = 0.115


def _rng(seed: int, day: date, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, day.toordinal(), stream])


def cloud_factor(seed: int, day: date) -> np.ndarray:
    """Share of clear-sky output that reaches the panels, per minute: a seeded weather regime per day
    (clear, broken cloud, overcast) with an autocorrelated process inside it."""
    rng = _rng(seed, day, 1)
    regime = rng.choice(3, p=[0.35, 0.40, 0.25])
    mean, spread, persistence = ((0.97, 0.03, 0.98), (0.65, 0.30, 0.90), (0.25, 0.08, 0.97))[regime]
    shocks = rng.normal(0.0, 1.0, MINUTES_PER_DAY)
    # AR(1) with unit variance: level[t] = persistence·level[t-1] + √(1-persistence²)·shock[t]
    latent = lfilter([np.sqrt(1 - persistence**2)], [1.0, -persistence], shocks)
    return np.clip(mean + spread * latent, 0.05, 1.08)


@lru_cache(maxsize=4)
def _household_shape(year: int) -> np.ndarray:
    """demandlib's dynamised BDEW H0 profile for `year`: mean watts per 15 min for 1 kWh a year."""
    import demandlib.bdew

    # demandlib 0.2.2 switches every warning of the whole process into an error and never switches
    # back; catch_warnings restores the filters when it is done.
    with warnings.catch_warnings():
        profile = demandlib.bdew.ElecSlp(year).get_scaled_power_profiles({"h0_dyn": 1.0})["h0_dyn"]
    return profile.to_numpy(dtype=float) * 1000.0  # kW per kWh/a → W per kWh/a


def household_load(seed: int, day: date, annual_kwh: float, utc_offset_minutes: int) -> np.ndarray:
    """Household watts per UTC minute of `day`: the standard profile (local time) scaled to the home's
    annual consumption, with per-minute noise and a few seeded appliance bouts (kettle, oven, washer)."""
    year_shape = _household_shape(day.year)
    first = (day.timetuple().tm_yday - 1) * 96
    quarter_hours = np.take(year_shape, np.arange(first - 96, first + 192) % len(year_shape))  # day ± 1 for offsets
    profile_kwh = annual_kwh * (1 - APPLIANCE_SHARE)
    minutes = np.repeat(quarter_hours, 15)[MINUTES_PER_DAY + utc_offset_minutes :][:MINUTES_PER_DAY] * profile_kwh
    rng = _rng(seed, day, 2)
    load = minutes * rng.lognormal(-0.5 * 0.18**2, 0.18, MINUTES_PER_DAY)  # mean one: noise adds no energy
    for _ in range(rng.poisson(APPLIANCE_BOUTS_PER_DAY * annual_kwh / 4000)):
        power = rng.choice([1800.0, 2200.0, 3000.0])
        length = int(rng.integers(3, 30))
        start = (int(rng.integers(6 * 60, 22 * 60)) - utc_offset_minutes) % MINUTES_PER_DAY
        load[start : start + length] += power
    return np.clip(load, 40.0, None)  # standby never stops


def ev_charging(seed: int, day: date, power_w: float, sessions_per_week: float, utc_offset_minutes: int) -> np.ndarray:
    """EV charger watts per UTC minute: on a seeded share of evenings one flat bout of 1–3 h from 17–22 h local."""
    rng = _rng(seed, day, 3)
    load = np.zeros(MINUTES_PER_DAY)
    if rng.random() < sessions_per_week / 7.0:
        start = int(rng.integers(17 * 60, 22 * 60)) - utc_offset_minutes
        length = int(rng.integers(60, 181))
        start = max(0, min(start, MINUTES_PER_DAY - length))
        load[start : start + length] = power_w
    return load
