"""PV forecast: the clear-sky output per kWp of the site's plane times one factor learnt from its history.

The factor (in kWp) stands for everything the clear-sky model does not know: the system's size, its
real orientation and shading, its losses, and the weather. Learnt from the last weeks' measured
energy against the clear-sky energy of the same quarter hours, it is the expected output of a day
whose weather is not known, which is what the optimiser plans for without a weather forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from solarfleet.forecasts.validation import STEP_S, MeasuredSteps, StepGrid, validate_forecast
from solarfleet.solar_geometry import DEFAULT_AZIMUTH, DEFAULT_TILT, clear_sky_steps

HISTORY_DAYS = 14
# Below 3 days the measurements are mostly those days' weather (a clear and an overcast day differ
# fourfold), so a known rating with typical clearness is the better expected value.
MIN_HISTORY_DAYS = 3
# Steps where the clear sky gives less than 5 % of its peak (dawn, dusk) are left out: there the
# horizon, shading and the unknown orientation decide the output more than size and weather do.
DAYLIGHT_W_PER_KWP = 50.0
# A day counts when its usable steps carry at least half of its clear-sky energy.
MIN_DAY_COVERAGE = 0.5
# Clear-day factor: a high quantile of the daily ratios. Two weeks hold a few clear days; their
# ratio is the system without the weather, and the 90th percentile reaches it without resting on
# the single highest day.
CLEAR_DAY_QUANTILE = 0.9
# Mean share of the clear-sky output that the weather lets through, for a site without history:
# PVGIS puts a 30° south roof at about 1,000–1,150 kWh/kWp a year between Frankfurt and Vienna,
# where this clear-sky model (same losses) gives 1,620–1,660 kWh/kWp, so 0.62–0.69.
TYPICAL_CLEARNESS = 0.65
_DAY_S = 86_400


class PvMethod(StrEnum):
    HISTORY = "history"  # factor learnt from the site's own measurements
    RATING = "rating"  # solar_power_rating_kw × TYPICAL_CLEARNESS
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, eq=False)
class PvForecast:
    """`values_w`: expected mean PV power per step (None when unavailable); `factor`: the kWp it stands
    for (clear-sky W/kWp × factor = W); `clear_day_factor`: the kWp of a cloudless day, i.e. size ×
    orientation × losses with the weather taken out; `reason` says why a fallback was used or why nothing."""

    grid: StepGrid
    method: PvMethod
    values_w: np.ndarray | None = None
    factor: float | None = None
    clear_day_factor: float | None = None
    days_used: int = 0
    reason: str | None = None

    @property
    def available(self) -> bool:
        return self.values_w is not None


@dataclass(frozen=True)
class PvFactor:
    """What the history says: the mean and the clear-day factor, and the number of days behind them."""

    mean: float
    clear_day: float
    days: int


def learn_pv_factor(
    history: MeasuredSteps,
    latitude: float,
    longitude: float,
    end_s: int,
    days: int = HISTORY_DAYS,
    tilt: float = DEFAULT_TILT,
    azimuth: float = DEFAULT_AZIMUTH,
) -> PvFactor | None:
    """The factor from the `days` days before `end_s` (epoch seconds on a quarter hour); None without a usable day.

    The mean factor is a ratio of sums (measured ÷ clear-sky energy over the daylight steps of the
    counted days): each step weighs by its clear-sky energy, so the expected energy comes out right
    and near-dark steps with tiny denominators cannot dominate as they would in a mean of ratios.
    """
    start_s = end_s - days * _DAY_S
    window = history.between(start_s, end_s)
    if not window.usable().any():
        return None
    grid = StepGrid.from_epoch(start_s, days * _DAY_S // STEP_S)
    clear = clear_sky_steps(latitude, longitude, grid.start, grid.count, tilt=tilt, azimuth=azimuth)
    daylight = clear >= DAYLIGHT_W_PER_KWP
    measured = window.on(grid)
    usable = daylight & np.isfinite(measured)
    # Days of local mean solar time: their midnights fall in the dark at any longitude.
    solar_day = (grid.bucket_s() + round(longitude / 15.0 * 3600.0)) // _DAY_S
    day = solar_day - solar_day[0]
    clear_all = np.bincount(day, weights=np.where(daylight, clear, 0.0))
    clear_used = np.bincount(day, weights=np.where(usable, clear, 0.0))
    energy_used = np.bincount(day, weights=np.where(usable, measured, 0.0))
    counted = (clear_used > 0) & (clear_used >= MIN_DAY_COVERAGE * clear_all)
    if not counted.any():
        return None
    mean = float(energy_used[counted].sum() / clear_used[counted].sum())
    clear_day = float(np.quantile(energy_used[counted] / clear_used[counted], CLEAR_DAY_QUANTILE))
    return PvFactor(mean, clear_day, int(counted.sum()))


def forecast_pv(
    grid: StepGrid,
    latitude: float,
    longitude: float,
    history: MeasuredSteps | None = None,
    rating_kw: float | None = None,
    tilt: float = DEFAULT_TILT,
    azimuth: float = DEFAULT_AZIMUTH,
    history_days: int = HISTORY_DAYS,
) -> PvForecast:
    """Expected PV power for each step of `grid` from the site's PV history (`solar_wh` rollups before
    the grid starts); with under MIN_HISTORY_DAYS days of it, from the rating; with neither, unavailable.
    `tilt`/`azimuth` (degrees, azimuth from north) are the panels' plane where known."""
    learnt = None
    if history is not None:
        learnt = learn_pv_factor(history, latitude, longitude, grid.start_s, history_days, tilt, azimuth)
    days = learnt.days if learnt else 0
    if learnt and (days >= MIN_HISTORY_DAYS or rating_kw is None):
        method, factor, clear_day, reason = PvMethod.HISTORY, learnt.mean, learnt.clear_day, None
    elif rating_kw is not None:
        method, factor, clear_day = PvMethod.RATING, rating_kw * TYPICAL_CLEARNESS, rating_kw
        reason = f"{days} day(s) of PV history, fewer than {MIN_HISTORY_DAYS}: the rating with typical clearness"
    else:
        reason = f"no usable PV history in the last {history_days} days and no solar_power_rating_kw"
        return PvForecast(grid, PvMethod.UNAVAILABLE, reason=reason)
    clear = clear_sky_steps(latitude, longitude, grid.start, grid.count, tilt=tilt, azimuth=azimuth)
    values = validate_forecast(clear * factor, grid)
    return PvForecast(grid, method, values, factor, clear_day, days, reason)
