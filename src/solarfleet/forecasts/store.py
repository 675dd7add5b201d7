"""Forecast errors in the database: one `forecast_errors` row per inverter, local day and quantity."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.orm import Session

from solarfleet.database import utcnow
from solarfleet.forecasts.accuracy import ForecastAccuracy
from solarfleet.forecasts.models import ForecastError
from solarfleet.prices.store import upsert

_MEASURES = ("steps", "mae_w", "nmae", "bias_w", "computed_at")


def store_forecast_errors(session: Session, errors: Iterable[tuple[uuid.UUID, ForecastAccuracy]]) -> int:
    """Store each inverter's daily errors, replacing what an earlier run stored for the same inverter,
    day and quantity (a day is recomputed when readings arrive late). Returns the rows written."""
    computed_at = utcnow()
    rows = [
        {
            "inverter_id": inverter_id,
            "day": accuracy.day,
            "quantity": accuracy.quantity.value,
            "steps": accuracy.steps,
            "mae_w": accuracy.mae_w,
            "nmae": accuracy.nmae,
            "bias_w": accuracy.bias_w,
            "computed_at": computed_at,
        }
        for inverter_id, accuracy in errors
    ]
    upsert(session, ForecastError.__table__, rows, key=("inverter_id", "day", "quantity"), update=_MEASURES)
    return len(rows)
