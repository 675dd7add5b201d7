"""How far a forecast was from what happened, per site and local day (the `forecast_errors` rows).

Only the quarter hours with a usable measurement are compared: a gap in monitoring is neither a hit
nor a miss. Bias is forecast − actual, so a positive bias means the forecast expected too much.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import numpy as np

from solarfleet.forecasts.validation import MeasuredSteps, StepGrid, local_wall_clock

# Below a mean of 1 W over the day (panels under snow, a house left empty) the normalised error
# would divide by almost nothing and say nothing; it is left null.
MIN_MEAN_ACTUAL_W = 1.0


class ForecastQuantity(StrEnum):
    PV = "pv"
    LOAD = "load"


@dataclass(frozen=True)
class ForecastAccuracy:
    day: date  # local, in the site's time zone
    quantity: ForecastQuantity
    steps: int  # quarter hours compared
    mae_w: float
    nmae: float | None  # mae_w ÷ mean actual power; null when the mean is below MIN_MEAN_ACTUAL_W
    bias_w: float  # mean of forecast − actual
    mean_actual_w: float


def forecast_accuracy(
    forecast_w: np.ndarray, actual_w: np.ndarray, day: date, quantity: ForecastQuantity
) -> ForecastAccuracy | None:
    """Errors of one day's forecast against the actual mean powers of the same steps (NaN = not
    measured); None when no step was measured."""
    forecast_w, actual_w = np.asarray(forecast_w, dtype=float), np.asarray(actual_w, dtype=float)
    if forecast_w.shape != actual_w.shape:
        raise ValueError("forecast and actuals have one value per step each")
    measured = np.isfinite(actual_w)
    if not measured.any():
        return None
    error = forecast_w[measured] - actual_w[measured]
    mae = float(np.abs(error).mean())
    mean_actual = float(actual_w[measured].mean())
    return ForecastAccuracy(
        day=day,
        quantity=quantity,
        steps=int(measured.sum()),
        mae_w=mae,
        nmae=mae / mean_actual if mean_actual >= MIN_MEAN_ACTUAL_W else None,
        bias_w=float(error.mean()),
        mean_actual_w=mean_actual,
    )


def daily_accuracy(
    grid: StepGrid, forecast_w: np.ndarray, actual: MeasuredSteps, timezone: str, quantity: ForecastQuantity
) -> list[ForecastAccuracy]:
    """One row per local day of `grid` with at least one measured step, in order of the day."""
    if len(forecast_w) != grid.count:
        raise ValueError("the forecast has one value per step of the grid")
    actual_w = actual.on(grid)
    days = local_wall_clock(grid.bucket_s(), timezone).astype("datetime64[D]")
    rows = []
    for day in np.unique(days):
        steps = days == day
        row = forecast_accuracy(np.asarray(forecast_w)[steps], actual_w[steps], day.astype(date), quantity)
        if row is not None:
            rows.append(row)
    return rows
