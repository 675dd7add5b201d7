"""PriceCurve: validation, sampling on other grids, cutting, resampling and merging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from solarfleet.prices.curve import PriceCurve, PriceSource
from solarfleet.prices.zones import HOUR, QUARTER_HOUR, PriceZone

T0 = datetime(2026, 1, 15, 0, 0, tzinfo=UTC)
prices = st.floats(min_value=-500, max_value=4000, allow_nan=False, allow_infinity=False)


def curve(values, start=T0, resolution=HOUR, zone=PriceZone.DE_LU, source=PriceSource.ENTSOE) -> PriceCurve:
    return PriceCurve(zone, start, resolution, np.array(values, dtype=float), source)


# -- validation ---------------------------------------------------------------------------------------


def test_a_valid_curve_keeps_its_facts_and_knows_its_end():
    hourly = curve([50.0, 60.0, np.nan])

    assert hourly.end == T0 + 3 * HOUR
    assert len(hourly) == 3
    assert hourly.zone is PriceZone.DE_LU
    assert hourly.source is PriceSource.ENTSOE
    assert not hourly.is_complete()
    assert curve([1.0, 2.0]).is_complete()
    assert not curve([]).is_complete()


def test_start_in_another_zone_is_kept_as_utc():
    cet = timezone(timedelta(hours=1))

    moved = curve([1.0], start=datetime(2026, 1, 15, 1, 0, tzinfo=cet))

    assert moved.start == T0
    assert moved.start.tzinfo is UTC


def test_strings_are_taken_for_their_enums():
    labelled = PriceCurve("AT", T0, HOUR, np.array([1.0]), "synthetic")  # type: ignore[arg-type]

    assert labelled.zone is PriceZone.AT
    assert labelled.source is PriceSource.SYNTHETIC


@pytest.mark.parametrize(
    ("start", "resolution", "values", "message"),
    [
        (datetime(2026, 1, 15), HOUR, [1.0], "timezone-aware"),
        (T0 + timedelta(minutes=15), HOUR, [1.0], "60-minute grid"),
        (T0 + timedelta(minutes=7), QUARTER_HOUR, [1.0], "15-minute grid"),
        (T0, timedelta(minutes=30), [1.0], "15 or 60 minutes"),
        (T0, HOUR, [1.0, np.inf], "finite"),
        (T0, HOUR, [[1.0, 2.0]], "one-dimensional"),
    ],
)
def test_invalid_curves_are_refused(start, resolution, values, message):
    with pytest.raises(ValueError, match=message):
        PriceCurve(PriceZone.AT, start, resolution, np.array(values), PriceSource.ENTSOE)


def test_values_are_a_read_only_copy():
    given_values = np.array([1.0, 2.0])
    prices_curve = PriceCurve(PriceZone.AT, T0, HOUR, given_values, PriceSource.ENTSOE)

    given_values[0] = 99.0
    assert prices_curve.values[0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        prices_curve.values[0] = 5.0


def test_equal_curves_are_equal_and_hash_alike_unknown_steps_included():
    first, second = curve([1.0, np.nan]), curve([1.0, np.nan])

    assert first == second
    assert hash(first) == hash(second)
    assert first != curve([1.0, 2.0])
    assert first != curve([1.0, np.nan], source=PriceSource.PARTNER)
    assert len({first, second}) == 1


# -- sampling -----------------------------------------------------------------------------------------


def test_an_hourly_price_applies_to_each_of_its_quarters():
    hourly = curve([40.0, 80.0])

    assert hourly.on_steps(T0, 8).tolist() == [40.0] * 4 + [80.0] * 4
    # From the second quarter of the first hour.
    assert hourly.on_steps(T0 + QUARTER_HOUR, 4).tolist() == [40.0, 40.0, 40.0, 80.0]


def test_an_hour_of_quarters_costs_their_mean_and_is_unknown_unless_all_four_are_known():
    quarters = curve([10.0, 20.0, 30.0, 40.0, 1.0, np.nan, 1.0, 1.0], resolution=QUARTER_HOUR)

    hours = quarters.on_steps(T0, 2, HOUR)

    assert hours[0] == 25.0
    assert np.isnan(hours[1])


def test_steps_outside_the_curve_are_unknown():
    hourly = curve([40.0], start=T0 + HOUR)

    sampled = hourly.on_steps(T0, 12)

    assert np.isnan(sampled[:4]).all()
    assert sampled[4:8].tolist() == [40.0] * 4
    assert np.isnan(sampled[8:]).all()
    assert np.isnan(hourly.on_steps(T0 + 10 * HOUR, 3, HOUR)).all()
    assert hourly.on_steps(T0, 0).shape == (0,)


def test_steps_must_lie_on_their_grid():
    with pytest.raises(ValueError, match="60-minute grid"):
        curve([1.0]).on_steps(T0 + QUARTER_HOUR, 1, HOUR)
    with pytest.raises(ValueError, match="15 or 60 minutes"):
        curve([1.0]).on_steps(T0, 1, timedelta(minutes=5))


@given(st.lists(prices, min_size=1, max_size=48), st.integers(min_value=-8, max_value=8))
def test_quarters_of_an_hourly_curve_repeat_each_hour_four_times(values, shift_quarters):
    hourly = curve(values)
    start = T0 + shift_quarters * QUARTER_HOUR

    sampled = hourly.on_steps(start, 4 * len(values))

    quarters = [value for value in values for _ in range(4)]
    expected = [
        quarters[k] if 0 <= k < len(quarters) else np.nan for k in range(shift_quarters, shift_quarters + len(quarters))
    ]
    np.testing.assert_array_equal(sampled, expected)


# -- cutting, resampling, merging ------------------------------------------------------------------------


def test_a_window_cuts_and_pads_on_the_curves_own_grid():
    hourly = curve([1.0, 2.0, 3.0])

    cut = hourly.window(T0 + HOUR, T0 + 5 * HOUR)

    assert cut.start == T0 + HOUR
    assert cut.resolution == HOUR
    np.testing.assert_array_equal(cut.values, [2.0, 3.0, np.nan, np.nan])
    with pytest.raises(ValueError, match="whole number"):
        hourly.window(T0, T0 + 90 * timedelta(minutes=1))


@given(st.lists(prices, min_size=1, max_size=48))
def test_quarters_of_an_hourly_curve_average_back_to_it(values):
    hourly = curve(values)

    quarters = hourly.resample(QUARTER_HOUR)

    assert len(quarters) == 4 * len(values)
    np.testing.assert_allclose(quarters.resample(HOUR).values, hourly.values, rtol=1e-12, atol=1e-9)


def test_resampling_to_hours_leaves_a_partly_covered_hour_unknown():
    quarters = curve([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], start=T0 + QUARTER_HOUR, resolution=QUARTER_HOUR)

    hours = quarters.resample(HOUR)

    # The first hour lacks its first quarter, the third has only one.
    assert hours.start == T0
    assert hours.end == T0 + 3 * HOUR
    np.testing.assert_array_equal(hours.values, [np.nan, 5.5, np.nan])


def test_merging_lets_the_first_curve_that_knows_a_step_win():
    trusted = curve([10.0, np.nan, 30.0])
    fallback = curve([99.0, 20.0, 99.0, 40.0])

    merged = PriceCurve.merge([trusted, fallback])

    np.testing.assert_array_equal(merged.values, [10.0, 20.0, 30.0, 40.0])


def test_merging_spans_all_curves_at_the_finest_resolution_with_gaps_unknown():
    morning = curve([10.0], start=T0)
    quarters = curve([1.0, 2.0, 3.0, 4.0], start=T0 + 2 * HOUR, resolution=QUARTER_HOUR)

    merged = PriceCurve.merge([morning, quarters])

    assert merged.start == T0
    assert merged.resolution == QUARTER_HOUR
    assert merged.end == T0 + 3 * HOUR
    np.testing.assert_array_equal(merged.values[:4], [10.0] * 4)
    assert np.isnan(merged.values[4:8]).all()
    np.testing.assert_array_equal(merged.values[8:], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(PriceCurve.merge([morning, quarters], HOUR).values, [10.0, np.nan, 2.5])


def test_only_curves_of_one_zone_and_source_merge():
    with pytest.raises(ValueError, match="one zone and one source"):
        PriceCurve.merge([curve([1.0]), curve([1.0], zone=PriceZone.AT)])
    with pytest.raises(ValueError, match="one zone and one source"):
        PriceCurve.merge([curve([1.0]), curve([1.0], source=PriceSource.SYNTHETIC)])
    with pytest.raises(ValueError, match="nothing"):
        PriceCurve.merge([])
