"""The PV forecast learns a site's scale from its history and falls back to its rating."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from forecasts import VIENNA, Rollups, simulate
from solarfleet.connectors.simulator import profiles
from solarfleet.connectors.simulator.home import HomeParameters
from solarfleet.forecasts.pv import MIN_HISTORY_DAYS, TYPICAL_CLEARNESS, PvMethod, forecast_pv
from solarfleet.forecasts.validation import STEP_S, MeasuredSteps, StepGrid
from solarfleet.solar_geometry import clear_sky_pv_per_kwp, clear_sky_steps

START = datetime(2026, 5, 1, tzinfo=UTC)
DAYS = 14
TOMORROW = StepGrid(START + timedelta(days=DAYS), 96)
LAT, LON = VIENNA["latitude"], VIENNA["longitude"]


@pytest.fixture(scope="module")
def homes() -> dict[float, Rollups]:
    """Two homes under the same sky (same seed), 5 and 10 kWp, south at 30°."""
    return {kwp: simulate(HomeParameters(seed=11, pv_kwp=kwp, **VIENNA), START, DAYS) for kwp in (5.0, 10.0)}


def weather_share(seed: int) -> float:
    """What the simulated clouds let through of the clear-sky energy of the history."""
    clear = clear_sky_steps(LAT, LON, START, DAYS * 96)
    days = [profiles.cloud_factor(seed, (START + timedelta(days=d)).date()) for d in range(DAYS)]
    cloud = np.concatenate(days).reshape(-1, 15).mean(axis=1)
    return float((clear * cloud).sum() / clear.sum())


def test_the_factor_recovers_the_homes_scale_under_their_weather(homes: dict[float, Rollups]) -> None:
    forecasts = {kwp: forecast_pv(TOMORROW, LAT, LON, r.measured(r.solar_wh)) for kwp, r in homes.items()}
    for kwp, forecast in forecasts.items():
        assert forecast.method is PvMethod.HISTORY
        assert forecast.days_used == DAYS
        assert forecast.factor == pytest.approx(kwp * weather_share(11), rel=0.01)
        # the clear days of two weeks show the system itself: kWp less a few % of haze
        assert 0.9 * kwp <= forecast.clear_day_factor <= 1.02 * kwp
    assert forecasts[10.0].factor / forecasts[5.0].factor == pytest.approx(2.0, rel=0.01)


def test_the_forecast_is_the_clear_sky_times_the_mean_factor(homes: dict[float, Rollups]) -> None:
    rollups = homes[5.0]
    forecast = forecast_pv(TOMORROW, LAT, LON, rollups.measured(rollups.solar_wh))
    clear = clear_sky_steps(LAT, LON, TOMORROW.start, TOMORROW.count)
    assert forecast.values_w == pytest.approx(clear * forecast.factor)
    assert forecast.values_w[:12].max() == 0.0  # 00:00–03:00 UTC: night in Vienna
    assert not forecast.values_w.flags.writeable


def test_gaps_and_thin_buckets_do_not_bias_the_factor(homes: dict[float, Rollups]) -> None:
    rollups = homes[5.0]
    full = forecast_pv(TOMORROW, LAT, LON, rollups.measured(rollups.solar_wh)).factor
    rng = np.random.default_rng(3)
    keep = rng.random(len(rollups.solar_wh)) > 0.3  # a third of the buckets never stored
    covered = np.where(rng.random(len(keep)) < 0.1, 60.0, float(STEP_S))  # and some with one minute of data
    energy = np.where(covered < STEP_S, 0.0, rollups.solar_wh)  # ... whose energy is far too low
    gappy = MeasuredSteps(rollups.bucket_s[keep], energy[keep], covered[keep])
    forecast = forecast_pv(TOMORROW, LAT, LON, gappy)
    assert forecast.method is PvMethod.HISTORY
    assert forecast.factor == pytest.approx(full, rel=0.03)


def test_the_true_plane_of_an_east_roof_gives_its_shape_and_its_size() -> None:
    rollups = simulate(HomeParameters(seed=4, pv_kwp=8.0, pv_azimuth=90.0, **VIENNA), START, DAYS)
    history = rollups.measured(rollups.solar_wh)
    assumed_south = forecast_pv(TOMORROW, LAT, LON, history)
    east = forecast_pv(TOMORROW, LAT, LON, history, azimuth=90.0)
    assert 0.9 * 8.0 <= east.clear_day_factor <= 1.02 * 8.0
    assert assumed_south.clear_day_factor < 0.9 * 8.0  # the south plane's clear sky is not this roof's
    noon_utc = 11 * 3600 // STEP_S
    assert np.argmax(east.values_w) < noon_utc - 4  # an east roof peaks in the morning
    assert east.values_w.sum() == pytest.approx(assumed_south.values_w.sum(), rel=0.1)  # energy either way


def test_little_history_gives_way_to_the_rating_and_none_of_either_to_nothing(homes: dict[float, Rollups]) -> None:
    rollups = homes[5.0]
    few_days = rollups.measured(rollups.solar_wh).between(TOMORROW.start_s - 2 * 86_400, TOMORROW.start_s)

    by_rating = forecast_pv(TOMORROW, LAT, LON, few_days, rating_kw=6.0)
    assert by_rating.method is PvMethod.RATING
    assert by_rating.factor == pytest.approx(6.0 * TYPICAL_CLEARNESS)
    assert by_rating.clear_day_factor == 6.0
    assert f"fewer than {MIN_HISTORY_DAYS}" in by_rating.reason
    assert forecast_pv(TOMORROW, LAT, LON, None, rating_kw=6.0).method is PvMethod.RATING

    only_history = forecast_pv(TOMORROW, LAT, LON, few_days)
    assert only_history.method is PvMethod.HISTORY
    assert only_history.days_used == 2
    assert only_history.available

    empty = MeasuredSteps(np.zeros(0), np.zeros(0), np.zeros(0))
    for history in (None, empty, few_days.between(0, 1)):
        nothing = forecast_pv(TOMORROW, LAT, LON, history)
        assert nothing.method is PvMethod.UNAVAILABLE
        assert not nothing.available
        assert nothing.values_w is None
        assert "no solar_power_rating_kw" in nothing.reason


def test_history_after_the_forecast_start_is_not_used(homes: dict[float, Rollups]) -> None:
    rollups = homes[5.0]
    before = StepGrid(START, 96)  # the history lies entirely after this grid
    assert forecast_pv(before, LAT, LON, rollups.measured(rollups.solar_wh)).method is PvMethod.UNAVAILABLE


def test_clear_sky_steps_average_the_minutes_across_midnight() -> None:
    start = datetime(2026, 6, 20, 22, 30, tzinfo=UTC)
    steps = clear_sky_steps(LAT, LON, start, 8, step=timedelta(hours=1), azimuth=135.0)
    minutes = np.concatenate(
        [clear_sky_pv_per_kwp(LAT, LON, 30.0, 135.0, (start + timedelta(days=d)).date()) for d in range(2)]
    )
    assert steps == pytest.approx(minutes[22 * 60 + 30 :][: 8 * 60].reshape(8, 60).mean(axis=1))
    assert clear_sky_steps(LAT, LON, start, 0).shape == (0,)
    with pytest.raises(ValueError, match="whole minute"):
        clear_sky_steps(LAT, LON, start + timedelta(seconds=30), 1)
