"""Synthetic day-ahead prices: deterministic, split-invariant, and shaped like a real market's."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solarfleet.prices.curve import PriceCurve, PriceSource
from solarfleet.prices.synthetic import synthetic_prices
from solarfleet.prices.zones import HOUR, QUARTER_HOUR, ZONES, PriceZone, local_day_bounds

YEAR = date(2025, 1, 1)


@pytest.fixture(scope="module")
def germany_year() -> PriceCurve:
    return synthetic_prices(PriceZone.DE_LU, YEAR, 365, seed=11)


def hourly_by_local_time(curve: PriceCurve) -> tuple[np.ndarray, list]:
    """The curve's hourly prices and the local time each hour starts at."""
    hours = curve.resample(HOUR)
    timezone = ZoneInfo(ZONES[curve.zone].location.timezone)
    starts = [(hours.start + index * HOUR).astimezone(timezone) for index in range(len(hours))]
    return hours.values, starts


def test_a_curve_is_synthetic_at_the_zones_resolution_over_whole_local_days():
    curve = synthetic_prices(PriceZone.SE_3, date(2026, 3, 28), 3, seed=1)  # across spring-forward

    assert curve.source is PriceSource.SYNTHETIC
    assert curve.resolution == QUARTER_HOUR
    assert (curve.start, curve.end) == (
        local_day_bounds(PriceZone.SE_3, date(2026, 3, 28))[0],
        local_day_bounds(PriceZone.SE_3, date(2026, 3, 30))[1],
    )
    assert len(curve) == 96 + 92 + 96
    assert curve.is_complete()
    assert synthetic_prices(PriceZone.CH, date(2026, 10, 25), 1, seed=1).values.shape == (25,)


def test_the_same_seed_gives_the_same_prices_and_another_seed_others():
    first = synthetic_prices(PriceZone.IT_NORD, date(2026, 5, 1), 14, seed=5)

    assert synthetic_prices(PriceZone.IT_NORD, date(2026, 5, 1), 14, seed=5) == first
    assert not np.array_equal(synthetic_prices(PriceZone.IT_NORD, date(2026, 5, 1), 14, seed=6).values, first.values)
    assert not np.array_equal(synthetic_prices(PriceZone.IT_SUD, date(2026, 5, 1), 14, seed=5).values, first.values)


@settings(max_examples=25, deadline=None)
@given(
    zone=st.sampled_from(list(PriceZone)),
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 1)),
    days=st.integers(min_value=2, max_value=20),
    split=st.data(),
    seed=st.integers(min_value=-(2**40), max_value=2**40),
)
def test_a_curve_does_not_depend_on_how_it_is_cut_into_calls(zone, start, days, split, seed):
    cut = split.draw(st.integers(min_value=1, max_value=days - 1))

    whole = synthetic_prices(zone, start, days, seed)
    first = synthetic_prices(zone, start, cut, seed)
    rest = synthetic_prices(zone, start + timedelta(days=cut), days - cut, seed)

    assert PriceCurve.merge([first, rest]) == whole


def test_the_hourly_austrian_product_is_the_mean_of_the_quarter_hours():
    quarters = synthetic_prices(PriceZone.AT, date(2026, 7, 4), 2, seed=3)
    hourly = synthetic_prices(PriceZone.AT_HOURLY, date(2026, 7, 4), 2, seed=3)

    assert hourly.resolution == HOUR
    assert hourly.zone is PriceZone.AT_HOURLY
    np.testing.assert_allclose(hourly.values, quarters.resample(HOUR).values)


def test_no_price_is_absurd():
    for zone in PriceZone:
        values = synthetic_prices(zone, YEAR, 365, seed=2).values
        assert values.min() >= -500, zone
        assert values.max() <= 1000, zone


def test_weekends_are_cheaper_than_weekdays(germany_year):
    values, starts = hourly_by_local_time(germany_year)
    weekend = np.array([start.weekday() >= 5 for start in starts])

    assert values[weekend].mean() < values[~weekend].mean() - 5


def test_the_evening_peak_is_dearer_than_the_night_trough(germany_year):
    values, starts = hourly_by_local_time(germany_year)
    evening = np.array([start.hour in (18, 19, 20) for start in starts])
    night = np.array([start.hour in (2, 3, 4) for start in starts])

    assert values[evening].mean() > values[night].mean() + 20


def test_sunny_middays_dip_deeper_in_summer(germany_year):
    values, starts = hourly_by_local_time(germany_year)

    def midday_dip(months: set[int]) -> float:
        season = np.array([start.month in months for start in starts])
        midday = np.array([start.hour in (12, 13, 14) for start in starts])
        return values[season & ~midday].mean() - values[season & midday].mean()

    assert midday_dip({6, 7}) > 2 * midday_dip({12, 1})


def test_summer_weekends_bring_a_few_negative_hours_and_winter_none(germany_year):
    values, starts = hourly_by_local_time(germany_year)
    months = np.array([start.month for start in starts])
    negative = values < 0

    summer_negative = negative[(months >= 5) & (months <= 8)]
    assert 0 < summer_negative.sum() < 0.1 * summer_negative.size
    assert not negative[(months <= 2) | (months >= 11)].any()
    weekend = np.array([start.weekday() >= 5 for start in starts])
    assert negative[weekend].sum() > negative[~weekend].sum()


def test_zones_keep_their_price_levels():
    def mean(zone: PriceZone) -> float:
        return float(np.nanmean(synthetic_prices(zone, YEAR, 120, seed=4).values))

    assert mean(PriceZone.SE_1) < mean(PriceZone.SE_4) < mean(PriceZone.DE_LU) < mean(PriceZone.IT_NORD)


def test_at_least_one_day_is_asked_for():
    with pytest.raises(ValueError, match="at least 1"):
        synthetic_prices(PriceZone.AT, YEAR, 0, seed=1)
