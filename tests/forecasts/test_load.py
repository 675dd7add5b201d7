"""The load forecast: a weekly profile on the local wall clock, robust to spikes and gaps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from forecasts import VIENNA, simulate
from solarfleet.connectors.simulator.home import HomeParameters
from solarfleet.forecasts.accuracy import ForecastQuantity, daily_accuracy
from solarfleet.forecasts.load import DayType, LoadMethod, forecast_load
from solarfleet.forecasts.validation import STEP_S, MeasuredSteps, StepGrid, local_wall_clock

TZ = "Europe/Vienna"
# Simulated homes (standard profile, noise, appliance bouts) reach a weekly nMAE of 0.15–0.28
# across seeds and seasons; a profile that lost the day types or the local clock would not.
MAX_WEEKLY_NMAE = 0.30
MAX_WEEKLY_BIAS = 0.15  # share of the mean: trimming gives up some bout energy, the season moves on


def synthetic(start: datetime, days: int, watts, covered_s: float = STEP_S) -> MeasuredSteps:
    """History whose power is `watts(local datetime64 array)` per quarter hour."""
    grid = StepGrid(start, days * 96)
    local = local_wall_clock(grid.bucket_s(), TZ)
    return MeasuredSteps(grid.bucket_s(), watts(local) * STEP_S / 3600.0, np.full(grid.count, covered_s))


def local_hour(local: np.ndarray) -> np.ndarray:
    return (local - local.astype("datetime64[D]")).astype(np.int64) / 3600.0


def weekday(local: np.ndarray) -> np.ndarray:
    return (local.astype("datetime64[D]").astype(np.int64) + 3) % 7


def breakfast_peak(local: np.ndarray) -> np.ndarray:
    """1 kW from 07:00 to 09:00 local time, 200 W otherwise."""
    hour = local_hour(local)
    return np.where((hour >= 7) & (hour < 9), 1000.0, 200.0)


def away_from_edges(local: np.ndarray) -> np.ndarray:
    """Quarter hours whose neighbours share their value: a slot's profile pools its neighbours."""
    hour = local_hour(local)
    return (np.abs(hour - 6.875) > 0.2) & (np.abs(hour - 8.875) > 0.2)


def assert_follows(values: np.ndarray, grid: StepGrid, watts) -> None:
    local = local_wall_clock(grid.bucket_s(), TZ)
    inner = away_from_edges(local)
    assert values[inner] == pytest.approx(watts(local)[inner])


@pytest.mark.parametrize("seed", [2, 7])
def test_error_on_a_simulated_home_stays_within_the_documented_bound(seed: int) -> None:
    start = datetime(2026, 2, 2, tzinfo=UTC)
    rollups = simulate(HomeParameters(seed=seed, pv_kwp=5.0, **VIENNA), start, 35)
    history = rollups.measured(rollups.household_wh)
    week = StepGrid(start + timedelta(days=28), 7 * 96)
    forecast = forecast_load(week, history, TZ)
    assert forecast.method is LoadMethod.DAY_TYPE_PROFILE
    assert forecast.days_used == 28
    assert forecast.sources == {kind: frozenset({kind}) for kind in DayType}
    days = daily_accuracy(week, forecast.values_w, history, TZ, ForecastQuantity.LOAD)
    mean_actual = np.mean([day.mean_actual_w for day in days])
    weekly_nmae = np.mean([day.mae_w for day in days]) / mean_actual
    assert weekly_nmae < MAX_WEEKLY_NMAE
    assert abs(np.mean([day.bias_w for day in days])) < MAX_WEEKLY_BIAS * mean_actual


@pytest.mark.parametrize(
    "first_day",
    [date(2026, 3, 29), date(2026, 3, 30), date(2026, 10, 25), date(2026, 10, 26), date(2026, 7, 1)],
)
def test_the_profile_keeps_to_the_local_wall_clock_across_dst(first_day: date) -> None:
    midnight = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    history = synthetic(midnight - timedelta(days=28), 28, breakfast_peak)
    grid = StepGrid(midnight - timedelta(hours=2), 2 * 96)  # about local midnight to midnight, two days
    assert_follows(forecast_load(grid, history, TZ).values_w, grid, breakfast_peak)


def test_weekends_and_holidays_have_their_own_profile() -> None:
    def week_rhythm(local: np.ndarray) -> np.ndarray:
        return np.select([weekday(local) == 5, weekday(local) == 6], [700.0, 900.0], 300.0)

    start = datetime(2026, 4, 6, 22, tzinfo=UTC)  # local midnight of Tuesday 7 April
    history = synthetic(start - timedelta(days=28), 28, week_rhythm)
    grid = StepGrid(start, 7 * 96)
    local = local_wall_clock(grid.bucket_s(), TZ)
    forecast = forecast_load(grid, history, TZ)
    assert forecast.values_w == pytest.approx(week_rhythm(local))

    holiday = date(2026, 4, 8)  # a Wednesday
    as_sunday = forecast_load(grid, history, TZ, holidays={holiday})
    on_holiday = local.astype("datetime64[D]") == np.datetime64(holiday)
    assert as_sunday.values_w[on_holiday] == pytest.approx(900.0)
    assert as_sunday.values_w[~on_holiday] == pytest.approx(forecast.values_w[~on_holiday])


def test_a_day_type_with_too_few_days_falls_back_to_the_weekend_and_then_to_all_days() -> None:
    start = datetime(2026, 6, 8, 22, tzinfo=UTC)  # local midnight of Tuesday 9 June
    grid = StepGrid(start, 7 * 96)
    eight_days = synthetic(start - timedelta(days=8), 8, breakfast_peak)  # one Saturday and one Sunday
    assert forecast_load(grid, eight_days, TZ).sources == {
        DayType.WEEKDAY: frozenset({DayType.WEEKDAY}),
        DayType.SATURDAY: frozenset(DayType),
        DayType.SUNDAY: frozenset(DayType),
    }
    fifteen_days = synthetic(start - timedelta(days=15), 15, breakfast_peak)  # two of each
    sources = forecast_load(grid, fifteen_days, TZ).sources
    assert sources[DayType.SATURDAY] == sources[DayType.SUNDAY] == frozenset({DayType.SATURDAY, DayType.SUNDAY})


def test_a_single_spike_does_not_move_the_profile() -> None:
    start = datetime(2026, 4, 6, 22, tzinfo=UTC)
    history = synthetic(start - timedelta(days=28), 28, lambda local: np.full(len(local), 400.0))
    energy = history.energy_wh.copy()
    energy[500] += 11_000.0 * STEP_S / 3600  # one quarter hour of an EV
    forecast = forecast_load(StepGrid(start, 7 * 96), MeasuredSteps(history.bucket_s, energy, history.covered_s), TZ)
    assert forecast.values_w == pytest.approx(400.0)


def test_gaps_are_skipped_not_counted_as_zero() -> None:
    start = datetime(2026, 4, 6, 22, tzinfo=UTC)
    history = synthetic(start - timedelta(days=28), 28, breakfast_peak)
    lost = np.random.default_rng(5).random(len(history.energy_wh)) < 0.3
    energy = np.where(lost, 0.0, history.energy_wh)  # what a rollup of a minute or two might hold
    covered = np.where(lost, 90.0, history.covered_s)
    gappy = MeasuredSteps(history.bucket_s, energy, covered)
    grid = StepGrid(start, 96)
    forecast = forecast_load(grid, gappy, TZ)
    assert_follows(forecast.values_w, grid, breakfast_peak)


def test_less_than_a_day_of_history_gives_no_forecast() -> None:
    start = datetime(2026, 4, 6, 22, tzinfo=UTC)
    grid = StepGrid(start, 96)
    almost_a_day = synthetic(start - timedelta(days=1), 1, breakfast_peak).between(0, start.timestamp() - STEP_S)
    for history in (None, almost_a_day):
        forecast = forecast_load(grid, history, TZ)
        assert forecast.method is LoadMethod.UNAVAILABLE
        assert not forecast.available
        assert "less than a day" in forecast.reason
    one_day = synthetic(start - timedelta(days=1), 1, breakfast_peak)
    assert_follows(forecast_load(grid, one_day, TZ).values_w, grid, breakfast_peak)
