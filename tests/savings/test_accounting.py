"""Savings accounting: baseline, costs and signs, local periods (DST included), the optimisation score."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from forecasts import VIENNA, simulate
from solarfleet.battery_physics import BatteryModel
from solarfleet.connectors.simulator.home import BatterySpec, HomeParameters
from solarfleet.forecasts.validation import StepGrid
from solarfleet.savings.accounting import (
    MeasuredPeriod,
    SavingsDayTotals,
    SavingsResolution,
    account,
    daily_totals,
    local_midnight,
    optimization_score,
    savings_by_period,
    savings_periods,
)
from solarfleet.savings.models import SavingsDay

TZ = "Europe/Vienna"
BATTERY = BatteryModel.of(10_000.0, 5000.0, 5000.0, 0.9, floor_percent=10.0)
HOUR = 4  # quarter hours
START = datetime(2026, 3, 2, tzinfo=UTC)  # 01:00 local, a Monday


def balanced(solar_wh: np.ndarray, household_wh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Import and export of a site without a battery whose meter sees only the step's net flow."""
    net = household_wh - solar_wh
    return np.clip(net, 0, None), np.clip(-net, 0, None)


def period(
    solar_wh,
    household_wh,
    import_wh,
    export_wh,
    import_price,
    export_price,
    start: datetime = START,
) -> MeasuredPeriod:
    return MeasuredPeriod(
        StepGrid(start, len(solar_wh)), solar_wh, household_wh, import_wh, export_wh, import_price, export_price
    )


energies = hnp.arrays(float, st.integers(1, 3 * 96), elements=st.floats(0, 3000))


@st.composite
def periods(draw) -> tuple[MeasuredPeriod, BatteryModel | None, float]:
    solar = draw(energies)
    steps = len(solar)
    household = draw(hnp.arrays(float, steps, elements=st.floats(0, 3000)))
    flows = hnp.arrays(float, steps, elements=st.floats(0, 3000))
    import_price = draw(hnp.arrays(float, steps, elements=st.floats(-100, 500)))
    export_price = draw(hnp.arrays(float, steps, elements=st.floats(-100, 200)))
    gaps = draw(hnp.arrays(bool, steps))
    start = START + timedelta(minutes=15) * draw(st.integers(0, 365 * 96))
    measured = period(
        np.where(gaps, np.nan, solar), household, draw(flows), draw(flows), import_price, export_price, start
    )
    battery = draw(st.sampled_from([None, BATTERY]))
    soc = draw(st.floats(0, 10_000)) if battery else 0.0
    return measured, battery, soc


# -- the baseline and the money ---------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(periods())
def test_running_the_baseline_itself_saves_nothing(drawn: tuple[MeasuredPeriod, BatteryModel | None, float]) -> None:
    measured, battery, soc = drawn
    baseline = account(measured, battery, soc)
    as_baseline = dataclasses.replace(
        measured, import_wh=baseline.baseline_import_wh, export_wh=baseline.baseline_export_wh
    )
    again = account(as_baseline, battery, soc)
    assert np.abs(again.savings_eur).max() == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(periods(), st.sampled_from(list(SavingsResolution)), st.sampled_from([TZ, "America/New_York", "Asia/Kolkata"]))
def test_periods_add_up_to_the_steps(
    drawn: tuple[MeasuredPeriod, BatteryModel | None, float], resolution: SavingsResolution, timezone: str
) -> None:
    measured, battery, soc = drawn
    steps = account(measured, battery, soc)
    rows = savings_by_period(measured, battery, soc, resolution, timezone)
    assert sum(row.steps for row in rows) == steps.counted.sum()
    assert sum(row.savings_eur or 0.0 for row in rows) == pytest.approx(steps.savings_eur.sum(), abs=1e-9)
    assert sum(row.baseline_cost_eur for row in rows) == pytest.approx(steps.baseline_cost_eur.sum(), abs=1e-9)
    assert sum(row.solar_production_wh for row in rows) == pytest.approx(np.nansum(measured.solar_wh))
    assert sum(row.grid_export_wh for row in rows) == pytest.approx(np.nansum(measured.export_wh))
    assert all(row.start < row.end for row in rows)
    assert all(earlier.end <= later.start for earlier, later in itertools.pairwise(rows))


@settings(max_examples=40, deadline=None)
@given(periods(), st.floats(0, 2000))
def test_flows_both_ways_within_a_quarter_hour_change_no_savings(
    drawn: tuple[MeasuredPeriod, BatteryModel | None, float], both_ways_wh: float
) -> None:
    """A kettle while the sun shines: the meter sees import and export in one quarter hour. The baseline
    is replayed at the same meter, so such flows cost both sides the same."""
    measured, battery, soc = drawn
    busier = dataclasses.replace(
        measured, import_wh=measured.import_wh + both_ways_wh, export_wh=measured.export_wh + both_ways_wh
    )
    assert account(busier, battery, soc).savings_eur == pytest.approx(
        account(measured, battery, soc).savings_eur, abs=1e-9
    )


@settings(max_examples=40, deadline=None)
@given(periods())
def test_a_battery_that_did_what_the_baseline_does_saves_nothing(
    drawn: tuple[MeasuredPeriod, BatteryModel | None, float],
) -> None:
    measured, battery, soc = drawn
    baseline = account(measured, battery, soc)
    as_baseline = dataclasses.replace(
        measured,
        import_wh=np.where(baseline.counted, baseline.baseline_import_wh, measured.import_wh),
        export_wh=np.where(baseline.counted, baseline.baseline_export_wh, measured.export_wh),
    )
    assert account(as_baseline, battery, soc).savings_eur == pytest.approx(0.0, abs=1e-9)


def test_signs_import_costs_export_earns() -> None:
    measured = period(
        solar_wh=np.array([0.0, 2000.0]),
        household_wh=np.array([1000.0, 0.0]),
        import_wh=np.array([1000.0, 0.0]),
        export_wh=np.array([0.0, 2000.0]),
        import_price=np.array([300.0, 300.0]),
        export_price=np.array([100.0, 100.0]),
    )
    steps = account(measured, None, 0.0)
    assert steps.actual_cost_eur.tolist() == pytest.approx([0.3, -0.2])  # 1 kWh at 300 EUR/MWh; 2 kWh at 100
    assert steps.savings_eur.tolist() == pytest.approx([0.0, 0.0])  # no battery: the baseline is what happened


@given(st.floats(0, 5000), st.floats(0.01, 1000), st.floats(0.01, 1000))
def test_every_imported_watt_hour_costs_and_every_exported_one_earns(
    energy_wh: float, import_price: float, export_price: float
) -> None:
    zero = np.zeros(2)
    measured = period(
        zero,
        zero,
        np.array([energy_wh, 0.0]),
        np.array([0.0, energy_wh]),
        np.full(2, import_price),
        np.full(2, export_price),
    )
    cost = account(measured, None, 0.0).actual_cost_eur
    assert cost.tolist() == pytest.approx([energy_wh * import_price / 1e6, -energy_wh * export_price / 1e6])


def test_a_battery_that_shifted_cheap_energy_to_the_evening_saved_it() -> None:
    # Night: cheap, the optimiser charged 4 kWh from the grid. Evening: dear, the battery covered the house.
    night, evening = 2 * HOUR, 2 * HOUR
    household = np.full(night + evening, 500.0)  # 2 kW
    solar = np.zeros(night + evening)
    import_wh = np.concatenate([np.full(night, 1000.0), np.zeros(evening)])  # house 2 kW + battery 2 kW
    measured = period(
        solar,
        household,
        import_wh,
        np.zeros(night + evening),
        np.concatenate([np.full(night, 50.0), np.full(evening, 400.0)]),
        np.zeros(night + evening),
    )
    steps = account(measured, BATTERY, soc_start_wh=BATTERY.floor_wh)  # empty at the start
    assert steps.baseline_import_wh.tolist() == pytest.approx(household.tolist())  # nothing to serve the house from
    assert steps.actual_cost_eur.sum() == pytest.approx(8.0 * 0.05)
    assert steps.baseline_cost_eur.sum() == pytest.approx(4.0 * 0.05 + 4.0 * 0.4)
    [day] = savings_by_period(measured, BATTERY, BATTERY.floor_wh, SavingsResolution.DAY, TZ)
    assert day.savings_eur == pytest.approx(1.8 - 0.4)
    assert day.percentage == pytest.approx(1.4 / 1.8 * 100)


def test_a_home_that_ran_plain_self_consumption_saves_about_nothing() -> None:
    spec = BatterySpec(capacity_kwh=10, max_charge_w=5000, max_discharge_w=5000, round_trip_efficiency=0.9)
    rollups = simulate(HomeParameters(seed=4, pv_kwp=6.0, battery=spec, **VIENNA), START, 3)
    steps = len(rollups.solar_wh)
    measured = period(
        rollups.solar_wh,
        rollups.household_wh,
        rollups.import_wh,
        rollups.export_wh,
        np.full(steps, 300.0),
        np.full(steps, 80.0),
    )
    battery = BatteryModel.of(10_000.0, 5000.0, 5000.0, 0.9, floor_percent=spec.reserve_percent)
    result = account(measured, battery, rollups.soc_start_percent / 100 * 10_000.0)
    # minute-by-minute reality against a quarter-hourly replay: equal up to the flows inside a step
    traffic_eur = (rollups.import_wh.sum() * 300.0 + rollups.export_wh.sum() * 80.0) / 1e6
    assert abs(result.savings_eur.sum()) < 0.01 * traffic_eur


def test_steps_without_measurements_or_prices_count_for_neither_side() -> None:
    measured = period(
        solar_wh=np.array([0.0, np.nan, 0.0, 0.0]),
        household_wh=np.array([500.0, 500.0, 500.0, 500.0]),
        import_wh=np.array([500.0, 500.0, 500.0, np.nan]),
        export_wh=np.zeros(4),
        import_price=np.array([200.0, 200.0, np.nan, 200.0]),
        export_price=np.zeros(4),
    )
    steps = account(measured, None, 0.0)
    assert steps.counted.tolist() == [True, False, False, False]
    assert steps.actual_cost_eur.tolist() == pytest.approx([0.1, 0, 0, 0])
    assert steps.baseline_cost_eur.tolist() == pytest.approx([0.1, 0, 0, 0])
    [day] = daily_totals(measured, steps, TZ)
    assert (day.steps, day.import_wh, day.household_wh, day.solar_wh) == (1, 1500.0, 2000.0, 0.0)


# -- periods in local time --------------------------------------------------------------------------


def day_totals(day: date, steps: int = 96, baseline: float = 2.0, actual: float = 1.5) -> SavingsDayTotals:
    return SavingsDayTotals(day, steps, actual, baseline, 10_000.0, 4000.0, 3000.0, 9000.0, 5000.0)


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 6, 1), 24)],
)
def test_a_local_day_runs_from_midnight_to_midnight_also_across_dst(day: date, hours: int) -> None:
    start = local_midnight(day, TZ)
    grid_steps = hours * HOUR
    solar = np.full(grid_steps, 100.0)
    measured = period(solar, solar, np.zeros(grid_steps), np.zeros(grid_steps), solar, solar, start)
    [row] = savings_by_period(measured, None, 0.0, SavingsResolution.DAY, TZ)
    assert row.end - row.start == timedelta(hours=hours)
    assert row.start == start
    assert row.steps == grid_steps
    assert row.solar_production_wh == pytest.approx(100.0 * grid_steps)


@pytest.mark.parametrize(
    ("resolution", "first", "after"),
    [
        (SavingsResolution.DAY, date(2026, 3, 29), date(2026, 3, 30)),
        (SavingsResolution.WEEK, date(2026, 3, 23), date(2026, 3, 30)),
        (SavingsResolution.MONTH, date(2026, 3, 1), date(2026, 4, 1)),
        (SavingsResolution.QUARTER, date(2026, 1, 1), date(2026, 4, 1)),
        (SavingsResolution.YEAR, date(2026, 1, 1), date(2027, 1, 1)),
    ],
)
def test_periods_start_at_local_midnights(resolution: SavingsResolution, first: date, after: date) -> None:
    [row] = savings_periods([day_totals(date(2026, 3, 29))], resolution, TZ)
    assert row.resolution is resolution
    assert row.start == local_midnight(first, TZ)
    assert row.end == local_midnight(after, TZ)
    if resolution is SavingsResolution.YEAR:
        assert row.start == datetime(2025, 12, 31, 23, tzinfo=UTC)


def test_days_add_up_into_quarters() -> None:
    days = [day_totals(date(2026, 1, 1) + timedelta(days=d)) for d in range(365)]
    rows = savings_periods(reversed(days), SavingsResolution.QUARTER, TZ)
    assert [row.start.astimezone(UTC).month for row in rows] == [12, 3, 6, 9]  # local midnights of 1 Jan, Apr, ...
    assert [row.steps for row in rows] == [90 * 96, 91 * 96, 92 * 96, 92 * 96]
    assert sum(row.savings_eur for row in rows) == pytest.approx(365 * 0.5)
    assert all(row.percentage == pytest.approx(25.0) for row in rows)


def test_no_counted_step_or_a_baseline_under_a_cent_gives_null() -> None:
    rows = savings_periods(
        [day_totals(date(2026, 5, 1), steps=0, baseline=0, actual=0), day_totals(date(2026, 5, 2), baseline=-1.0)],
        SavingsResolution.DAY,
        TZ,
    )
    assert (rows[0].savings_eur, rows[0].percentage) == (None, None)
    assert rows[0].solar_production_wh == 10_000.0  # energies were still measured
    assert rows[1].savings_eur == pytest.approx(-2.5)
    assert rows[1].percentage is None  # a baseline that earns money has no percentage to save of


def test_daily_totals_are_what_the_savings_days_table_stores() -> None:
    stored = {column.name for column in SavingsDay.__table__.columns} - {"inverter_id", "computed_at"}
    from_elsewhere = {"perfect_cost_eur", "price_source"}  # the LP's cost, and the tariff book's source
    assert stored - from_elsewhere == {field.name for field in dataclasses.fields(SavingsDayTotals)}


# -- the optimisation score -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("realised", "perfect", "data_s", "score"),
    [
        (5.0, 10.0, 30 * 86_400, 50.0),
        (12.0, 10.0, 30 * 86_400, 100.0),  # above the LP on the same data: noise, clipped
        (-3.0, 10.0, 30 * 86_400, 0.0),  # steering lost money
        (0.001, 0.009, 30 * 86_400, None),  # less than a cent to gain: nothing to judge
        (5.0, 10.0, 86_399, None),  # under a day of data
        (float("nan"), 10.0, 30 * 86_400, None),
    ],
)
def test_the_optimisation_score(realised: float, perfect: float, data_s: float, score: float | None) -> None:
    assert optimization_score(realised, perfect, data_s) == score
