"""Clear-sky PV output per kWp: one model for the simulated homes and for the PV forecast.

pvlib's Ineichen clear sky (with its climatological turbidity, offline) on a tilted plane, per UTC
minute of a day and cached per day, so a forecast and the simulator agree on what a cloudless day gives.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np

MINUTES_PER_DAY = 1440
PERFORMANCE_RATIO = 0.85  # DC/AC losses, soiling and temperature of a typical rooftop system
DEFAULT_TILT = 30.0  # a typical pitched roof, where the plane of the panels is not known
DEFAULT_AZIMUTH = 180.0  # south
QUARTER_HOUR = timedelta(minutes=15)
_MINUTE = timedelta(minutes=1)


@lru_cache(maxsize=512)
def clear_sky_pv_per_kwp(latitude: float, longitude: float, tilt: float, azimuth: float, day: date) -> np.ndarray:
    """AC watts per kWp for each UTC minute of `day`, from pvlib's Ineichen clear sky on a tilted plane."""
    import pandas as pd
    import pvlib

    location = pvlib.location.Location(latitude, longitude, tz="UTC")
    times = pd.date_range(pd.Timestamp(day, tz="UTC"), periods=MINUTES_PER_DAY, freq="1min")
    sky = location.get_clearsky(times, model="ineichen")
    sun = location.get_solarposition(times)
    plane = pvlib.irradiance.get_total_irradiance(
        tilt, azimuth, sun["apparent_zenith"], sun["azimuth"], sky["dni"], sky["ghi"], sky["dhi"]
    )
    poa = np.nan_to_num(plane["poa_global"].to_numpy(dtype=float), nan=0.0)
    result = np.clip(poa, 0.0, None) * PERFORMANCE_RATIO  # 1 kWp gives 1 kW at 1000 W/m²
    result.flags.writeable = False
    return result


def clear_sky_steps(
    latitude: float,
    longitude: float,
    start: datetime,
    steps: int,
    step: timedelta = QUARTER_HOUR,
    tilt: float = DEFAULT_TILT,
    azimuth: float = DEFAULT_AZIMUTH,
) -> np.ndarray:
    """Clear-sky AC watts per kWp averaged over each of `steps` steps from `start` (aware, on a whole
    minute; `step` a whole number of minutes). Built from the cached minute days; the position is
    rounded to 0.01° (about 1 km, far below what changes the clear sky) so nearby sites share days."""
    if start.tzinfo is None or steps < 0 or step < _MINUTE or step % _MINUTE or start.second or start.microsecond:
        raise ValueError("start must be an aware whole minute, steps ≥ 0 and step a whole number of minutes")
    start = start.astimezone(UTC)
    per_step = step // _MINUTE
    first_minute = start.hour * 60 + start.minute
    minutes = first_minute + steps * per_step
    days = -(-minutes // MINUTES_PER_DAY)  # ceiling
    position = (round(latitude, 2), round(longitude, 2), float(tilt), float(azimuth))
    first_day = start.date()
    curve = np.concatenate(
        [np.empty(0)] + [clear_sky_pv_per_kwp(*position, first_day + timedelta(days=d)) for d in range(days)]
    )
    return curve[first_minute:minutes].reshape(steps, per_step).mean(axis=1)
