"""Step grids, measured history and the check every forecast passes before the optimiser sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from solarfleet.forecasts.validation import (
    STEP_S,
    ForecastRejected,
    MeasuredSteps,
    StepGrid,
    local_wall_clock,
    validate_forecast,
)

START = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
GRID = StepGrid(START, 8)


def test_a_good_forecast_comes_back_as_a_read_only_float_array() -> None:
    values = validate_forecast([0, 1, 2.5, 0, 10, 0, 0, 3], GRID)
    assert values.dtype == float
    assert values.tolist() == [0, 1, 2.5, 0, 10, 0, 0, 3]
    with pytest.raises(ValueError, match="read-only"):
        values[0] = 1.0


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ([0.0] * 7, "8 values"),
        ([0.0] * 9, "8 values"),
        ([[0.0] * 8], "8 values"),
        ([0.0] * 7 + [float("nan")], "not finite, the first at step 7"),
        ([float("inf")] + [0.0] * 7, "not finite, the first at step 0"),
        ([0.0, -1e-9] + [0.0] * 6, "negative, the first -1e-09 W at step 1"),
        (["a"] * 8, "sequence of numbers"),
    ],
)
def test_a_broken_forecast_is_rejected_with_the_reason(values: list, why: str) -> None:
    with pytest.raises(ForecastRejected, match=why.replace("(", r"\(")):
        validate_forecast(values, GRID)


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=8, max_size=8))
def test_every_finite_non_negative_forecast_of_the_right_length_passes_unchanged(values: list[float]) -> None:
    assert validate_forecast(values, GRID).tolist() == values


def test_a_step_grid_starts_on_an_aware_quarter_hour_and_is_kept_in_utc() -> None:
    local = datetime(2026, 3, 29, 0, 15, tzinfo=timezone(timedelta(hours=1)))
    grid = StepGrid(local, 4)
    assert grid.start == datetime(2026, 3, 28, 23, 15, tzinfo=UTC)
    assert grid.end == grid.start + timedelta(hours=1)
    assert grid.bucket_s().tolist() == [grid.start_s + STEP_S * i for i in range(4)]
    assert StepGrid.from_epoch(grid.start_s, 4) == grid
    for start, count in ((START.replace(tzinfo=None), 1), (START + timedelta(minutes=5), 1), (START, -1)):
        with pytest.raises(ValueError, match="step grid"):
            StepGrid(start, count)


def test_history_skips_missing_and_thinly_covered_buckets_and_scales_by_coverage() -> None:
    start_s = GRID.start_s
    history = MeasuredSteps(
        bucket_s=[start_s + 3 * STEP_S, start_s, start_s + STEP_S, start_s + 2 * STEP_S],
        energy_wh=[100.0, 250.0, np.nan, 10.0],
        covered_s=[600.0, 900.0, 900.0, 60.0],  # the last: a minute of readings in a quarter hour
    )
    assert history.usable().tolist() == [True, True, False, False]
    assert history.power_w()[:2].tolist() == [600.0, 1000.0]  # 100 Wh in 10 minutes is 600 W
    on_grid = history.on(GRID)
    assert on_grid[0] == 1000.0
    assert on_grid[3] == 600.0
    assert np.isnan(on_grid[[1, 2, 4, 5, 6, 7]]).all()
    assert history.between(start_s, start_s + STEP_S).energy_wh.tolist() == [250.0]


def test_history_must_be_on_quarter_hours_and_of_one_length() -> None:
    with pytest.raises(ValueError, match="quarter hours"):
        MeasuredSteps([GRID.start_s + 60], [1.0], [900.0])
    with pytest.raises(ValueError, match="one length"):
        MeasuredSteps([GRID.start_s], [1.0, 2.0], [900.0])


def test_local_wall_clock_follows_daylight_saving_time() -> None:
    # Vienna, 29 March 2026: 02:00 CET becomes 03:00 CEST at 01:00 UTC
    local = local_wall_clock(StepGrid(datetime(2026, 3, 29, 0, 45, tzinfo=UTC), 2).bucket_s(), "Europe/Vienna")
    assert [str(t) for t in local] == ["2026-03-29T01:45:00", "2026-03-29T03:00:00"]
