"""Forecast errors per local day, as they are stored."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from solarfleet.forecasts.accuracy import ForecastAccuracy, ForecastQuantity, daily_accuracy, forecast_accuracy
from solarfleet.forecasts.models import ForecastError
from solarfleet.forecasts.validation import STEP_S, MeasuredSteps, StepGrid

DAY = date(2026, 5, 4)
PV = ForecastQuantity.PV


def test_a_perfect_forecast_has_no_error() -> None:
    actual = np.array([0.0, 100.0, 300.0, 200.0])
    row = forecast_accuracy(actual.copy(), actual, DAY, PV)
    assert (row.mae_w, row.nmae, row.bias_w, row.steps) == (0.0, 0.0, 0.0, 4)


def test_too_high_is_a_positive_bias_and_only_measured_steps_count() -> None:
    actual = np.array([100.0, np.nan, 300.0, 200.0])
    row = forecast_accuracy(np.array([150.0, 5000.0, 350.0, 150.0]), actual, DAY, ForecastQuantity.LOAD)
    assert row.steps == 3
    assert row.mae_w == pytest.approx(50.0)
    assert row.bias_w == pytest.approx(50.0 / 3)
    assert row.mean_actual_w == pytest.approx(200.0)
    assert row.nmae == pytest.approx(0.25)


def test_nothing_measured_gives_no_row_and_a_dark_day_no_normalised_error() -> None:
    assert forecast_accuracy(np.ones(3), np.full(3, np.nan), DAY, PV) is None
    snowed_in = forecast_accuracy(np.full(3, 50.0), np.array([0.0, 0.5, 0.0]), DAY, PV)
    assert snowed_in.nmae is None
    assert snowed_in.mae_w == pytest.approx(50.0 - 0.5 / 3)
    with pytest.raises(ValueError, match="one value per step"):
        forecast_accuracy(np.ones(3), np.ones(4), DAY, PV)


@given(
    st.lists(st.floats(min_value=0, max_value=10_000), min_size=1, max_size=50),
    st.floats(min_value=-500, max_value=500),
)
def test_mae_bounds_the_bias_and_a_constant_offset_is_both(actual: list[float], offset: float) -> None:
    actual_w = np.array(actual)
    row = forecast_accuracy(actual_w + offset, actual_w, DAY, PV)
    assert row.bias_w == pytest.approx(offset, abs=1e-6)
    assert row.mae_w == pytest.approx(abs(offset), abs=1e-6)
    assert abs(row.bias_w) <= row.mae_w + 1e-9


def test_rows_are_per_local_day_also_on_a_dst_day() -> None:
    # Vienna: 25 October 2026 has 25 hours; the grid covers local 24–26 October
    grid = StepGrid(datetime(2026, 10, 23, 22, tzinfo=UTC), 96 + 100 + 96)
    actual = MeasuredSteps(grid.bucket_s(), np.full(grid.count, 250.0), np.full(grid.count, float(STEP_S)))  # 1 kW
    rows = daily_accuracy(grid, np.full(grid.count, 1100.0), actual, "Europe/Vienna", ForecastQuantity.LOAD)
    assert [(row.day, row.steps) for row in rows] == [
        (date(2026, 10, 24), 96),
        (date(2026, 10, 25), 100),
        (date(2026, 10, 26), 96),
    ]
    assert all(row.bias_w == pytest.approx(100.0) and row.nmae == pytest.approx(0.1) for row in rows)


def test_a_row_holds_what_the_forecast_errors_table_stores() -> None:
    stored = {column.name for column in ForecastError.__table__.columns} - {"inverter_id", "computed_at"}
    assert stored <= {field.name for field in dataclasses.fields(ForecastAccuracy)}
    assert max(len(quantity) for quantity in ForecastQuantity) <= ForecastError.__table__.c.quantity.type.length
