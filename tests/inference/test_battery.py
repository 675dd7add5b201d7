"""Battery inference: power limits, reserve and capacity learnt from history, checked against simulated homes
whose truth is known and against synthetic histories built for one evidence rule at a time."""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solarfleet.battery_physics import BatteryModel
from solarfleet.connectors.simulator.home import BatterySpec
from solarfleet.inference.battery import BatteryInference, Estimate, infer_battery
from solarfleet.inference.readings import ReadingArrays

from .simulated import SimulatedHistory, simulated_home

DAYS = 14
POPULATION = 40
FIRST_SEED = 1000
NOISES = (0.01, 0.02)
# estimate: (the truth it is compared with, tolerance, whether the tolerance is relative)
TRUTH = {
    "max_charge_w": ("max_charge_w", 0.05, True),
    "max_discharge_w": ("max_discharge_w", 0.05, True),
    "min_battery_soc_percent": ("reserve_percent", 2.0, False),
    "battery_capacity_kwh": ("capacity_kwh", 0.05, True),
    "round_trip_efficiency": ("round_trip_efficiency", 0.02, False),
}
# The share of the population each estimate is made for, at either noise: measured 16/40 homes for the
# maximum charge power, 22/40 for the maximum discharge power (18 of the 20 homes with an EV, 4 of the 20
# without), 30/40 for the reserve and 40/40 for capacity and efficiency. In plain self-consumption the
# battery is clamped only when the house offers (asks) more than it can take (give): charging needs a
# morning surplus above the limit before the battery is full, which winter and big batteries in summer
# rarely give; discharging needs an EV or a large appliance. The reserve shows only on days the battery
# runs empty, which summer homes with big batteries may not see in two weeks. Where the evidence is
# missing the estimate is None, which is right.
LEAST_SHARE = {
    "max_charge_w": 0.3,
    "max_discharge_w": 0.45,
    "min_battery_soc_percent": 0.65,
    "battery_capacity_kwh": 0.95,
    "round_trip_efficiency": 0.95,
}
LEAST_EV_HOME_DISCHARGE_SHARE = 0.8
FIRST_S = 1_735_689_600  # 2025-01-01T00:00:00Z
MINUTES_PER_DAY = 1440


@cache
def population() -> dict[float, list[tuple[SimulatedHistory, BatteryInference]]]:
    """Every second home has an EV. Simulated home by home, so its two noises share its clear-sky days."""
    homes: dict[float, list[tuple[SimulatedHistory, BatteryInference]]] = {noise: [] for noise in NOISES}
    for number in range(POPULATION):
        for noise in NOISES:
            history = simulated_home(FIRST_SEED + number, DAYS, ev=number % 2 == 0, measurement_noise=noise)
            homes[noise].append((history, infer_battery(history.readings)))
    return homes


def error(name: str, estimate: Estimate, battery: BatterySpec) -> float:
    attribute, _, relative = TRUTH[name]
    truth = getattr(battery, attribute)
    return (estimate.value - truth) / truth if relative else estimate.value - truth


def wrong(inference: BatteryInference, battery: BatterySpec) -> dict[str, float]:
    """The estimates that miss the truth by more than their tolerance, with their errors."""
    errors = {
        name: error(name, estimate, battery) for name in TRUTH if (estimate := getattr(inference, name)) is not None
    }
    return {name: value for name, value in errors.items() if abs(value) > TRUTH[name][1]}


def history(battery_w: np.ndarray, grid_w: np.ndarray, soc_percent: np.ndarray) -> ReadingArrays:
    """Readings a minute apart from FIRST_S; the house and the panels unmetered."""
    count = len(battery_w)
    unmetered = np.full(count, np.nan)
    return ReadingArrays(
        time_s=FIRST_S + 60 * np.arange(count),
        interval_s=np.full(count, 60.0),
        solar_w=unmetered,
        grid_w=grid_w,
        household_w=unmetered,
        battery_w=battery_w,
        soc_percent=soc_percent,
    )


def without(readings: ReadingArrays, drop: np.ndarray) -> ReadingArrays:
    """The readings less those `drop` marks, each kept one standing for the time since the one before."""
    kept = {field.name: getattr(readings, field.name)[~drop] for field in dataclasses.fields(readings)}
    kept["interval_s"] = np.diff(kept["time_s"], prepend=kept["time_s"][0] - 60).astype(float)
    return ReadingArrays(**kept)


# -- the simulated population ---------------------------------------------------------------------------


@pytest.mark.parametrize("noise", NOISES)
def test_every_estimate_of_the_population_is_within_its_tolerance_of_the_truth(noise: float) -> None:
    misses = {}
    for home, inference in population()[noise]:
        if errors := wrong(inference, home.parameters.battery):
            misses[home.parameters.seed] = errors
    assert misses == {}


@pytest.mark.parametrize("noise", NOISES)
def test_the_estimates_are_made_where_the_population_gives_evidence(noise: float) -> None:
    homes = population()[noise]
    shares = {name: sum(getattr(found, name) is not None for _, found in homes) / len(homes) for name in TRUTH}
    ev_homes = [found for home, found in homes if home.parameters.ev is not None]
    ev_discharge = sum(found.max_discharge_w is not None for found in ev_homes) / len(ev_homes)
    print(f"noise {noise}: share of homes with an estimate {shares}, discharge in EV homes {ev_discharge:.0%}")
    assert all(shares[name] >= least for name, least in LEAST_SHARE.items()), shares
    assert ev_discharge >= LEAST_EV_HOME_DISCHARGE_SHARE


def test_a_spike_in_the_battery_power_does_not_move_the_power_limits() -> None:
    checked = 0
    for home, clean in population()[NOISES[0]]:
        if clean.max_charge_w is None or clean.max_discharge_w is None:
            continue
        readings, battery = home.readings, home.parameters.battery
        rng = np.random.default_rng(home.parameters.seed)
        # one reading in a hundred, never two in a row, jumps to 1.5–3 times the larger limit, either way
        spikes = 2 * rng.choice(len(readings) // 2, len(readings) // 100, replace=False)
        battery_w = readings.battery_w.copy()
        battery_w[spikes] = (
            rng.choice([-1.0, 1.0], len(spikes))
            * rng.uniform(1.5, 3.0, len(spikes))
            * max(battery.max_charge_w, battery.max_discharge_w)
        )
        spiked = infer_battery(dataclasses.replace(readings, battery_w=battery_w))
        for name in ("max_charge_w", "max_discharge_w"):
            assert getattr(spiked, name).value == pytest.approx(getattr(clean, name).value, rel=0.005)
        checked += 1
    assert checked >= 5


def test_hours_lost_at_random_leave_the_estimates_right() -> None:
    capacities = 0
    for home, _ in population()[NOISES[0]]:
        readings = home.readings
        rng = np.random.default_rng(home.parameters.seed)
        hours = (readings.time_s - readings.time_s[0]) // 3600
        lost = rng.choice(hours[-1] + 1, (hours[-1] + 1) // 10, replace=False)  # a tenth of the hours
        gapped = infer_battery(without(readings, np.isin(hours, lost)))
        assert wrong(gapped, home.parameters.battery) == {}
        capacities += gapped.battery_capacity_kwh is not None
    assert capacities >= LEAST_SHARE["battery_capacity_kwh"] * POPULATION


def test_a_home_without_a_battery_has_no_estimates() -> None:
    home = simulated_home(FIRST_SEED, DAYS, battery=False)
    assert np.isnan(home.readings.battery_w).all()
    assert infer_battery(home.readings) == BatteryInference(None, None, None, None, None, 0, None, None)


def test_a_day_of_history_is_too_little() -> None:
    home, full = next(
        (home, found)
        for home, found in population()[NOISES[0]]
        if all(getattr(found, name) is not None for name in TRUTH)
    )
    first_day = infer_battery(without(home.readings, home.readings.time_s >= home.readings.time_s[0] + 86_400))
    assert [getattr(first_day, name) for name in TRUTH] == [None] * len(TRUTH)
    assert first_day.readings == MINUTES_PER_DAY
    assert first_day.since == full.since
    assert first_day.until < full.until
    empty = np.array([])
    assert infer_battery(history(empty, empty, empty)).readings == 0


# -- synthetic histories, one rule at a time -------------------------------------------------------------


def plateaus(levels: dict[int, float], days: int, per_day: int, noise: float, seed: int, spike: bool) -> ReadingArrays:
    """A battery that follows the house (a few hundred watts, the grid balanced) but for `per_day` plateaus a
    day in each direction at its limit, `levels` by direction (-1 charging, 1 discharging), the grid taking
    the rest; and one lower, commanded plateau a day each way. With `spike`, each plateau has a one-reading
    spike in its middle. The state of charge rises steadily from 10 to 90 % over the history."""
    rng = np.random.default_rng(seed)
    minutes = days * MINUTES_PER_DAY
    battery_w = rng.normal(0.0, 300.0, minutes)
    grid_w = np.zeros(minutes)
    slot = MINUTES_PER_DAY // 8  # the first slot of the history lies at the floor, the last at the ceiling
    for day in range(days):
        for direction, level in levels.items():
            first_slot = 1 if direction < 0 else 1 + per_day
            slots = [(first_slot + number, level) for number in range(per_day)]
            slots.append((7 if direction < 0 else 0, level * rng.uniform(0.3, 0.9)))  # commanded below the limit
            for number, power in slots:
                length = int(rng.integers(15, slot))
                start = day * MINUTES_PER_DAY + number * slot + int(rng.integers(0, slot - length))
                span = slice(start, start + length)
                battery_w[span] = direction * power * rng.normal(1.0, noise, length)
                grid_w[span] = -direction * rng.uniform(150.0, 3000.0)
                if spike:
                    battery_w[start + length // 2] = direction * power * 3
    return history(battery_w, grid_w, np.linspace(10.0, 90.0, minutes))


@settings(max_examples=40, deadline=None)
@given(
    charge_w=st.floats(500.0, 12_000.0),
    discharge_w=st.floats(500.0, 12_000.0),
    days=st.integers(1, 4),
    per_day=st.integers(1, 3),
    noise=st.floats(0.0, 0.02),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_top_plateau_level_is_recovered_through_spikes(
    charge_w: float, discharge_w: float, days: int, per_day: int, noise: float, seed: int
) -> None:
    found = infer_battery(plateaus({-1: charge_w, 1: discharge_w}, days, per_day, noise, seed, spike=True))
    if days == 1:  # a spike splits a plateau in two, but one day never suffices
        assert found.max_charge_w is None
        assert found.max_discharge_w is None
    else:
        assert found.max_charge_w.value == pytest.approx(charge_w, rel=0.02)
        assert found.max_discharge_w.value == pytest.approx(discharge_w, rel=0.02)


def test_two_plateaus_are_too_few() -> None:
    found = infer_battery(plateaus({-1: 5000.0, 1: 4000.0}, 2, 1, 0.01, 7, spike=False))
    assert (found.max_charge_w, found.max_discharge_w) == (None, None)
    assert infer_battery(plateaus({-1: 5000.0, 1: 4000.0}, 3, 1, 0.01, 7, spike=False)).max_charge_w is not None


def test_a_missing_reading_breaks_a_plateau() -> None:
    minutes = 3 * MINUTES_PER_DAY
    battery_w, grid_w = np.zeros(minutes), np.zeros(minutes)
    starts = np.arange(3) * MINUTES_PER_DAY + 600
    for start in starts:  # eight minutes at the limit, the grid exporting the rest
        battery_w[start : start + 8] = -4000.0
        grid_w[start : start + 8] = 500.0
    readings = history(battery_w, grid_w, np.linspace(10.0, 90.0, minutes))
    assert infer_battery(readings).max_charge_w == Estimate(4000.0, 3, 0.0)
    missing = np.zeros(minutes, dtype=bool)
    missing[starts + 4] = True  # leaves four and three minutes either side
    assert infer_battery(without(readings, missing)).max_charge_w is None


@settings(max_examples=40, deadline=None)
@given(
    floor=st.floats(0.0, 45.0),
    days=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_floor_is_the_lowest_level_idle_while_importing_on_three_days(floor: float, days: int, seed: int) -> None:
    """Each day the battery sits at its floor through the night, charges, is held at some higher level while
    the house imports (waiting for a dearer hour), then discharges back to its floor."""
    rng = np.random.default_rng(seed)
    battery_w, grid_w, soc = [], [], []
    for _ in range(days):
        held = rng.uniform(floor + 3.0, 95.0)
        # (minutes, battery power, grid power, state of charge from, to)
        for minutes, power, grid, first, last in (
            (300, 0.0, -rng.uniform(150.0, 1000.0), floor, floor),
            (300, -2000.0, 0.0, floor, held),
            (200, 0.0, -rng.uniform(150.0, 1000.0), held, held),
            (200, -2000.0, 0.0, held, 98.0),
            (300, 600.0, 0.0, 98.0, floor),
            (140, 0.0, -rng.uniform(150.0, 1000.0), floor, floor),
        ):
            battery_w.append(power + rng.normal(0.0, 15.0, minutes))  # standby and meter noise
            grid_w.append(grid * rng.normal(1.0, 0.1, minutes))
            soc.append(np.linspace(first, last, minutes))
    found = infer_battery(history(np.concatenate(battery_w), np.concatenate(grid_w), np.concatenate(soc)))
    if days < 3:
        assert found.min_battery_soc_percent is None
    else:
        assert found.min_battery_soc_percent.value == pytest.approx(floor, abs=1e-9)
        assert found.min_battery_soc_percent.segments == days


@settings(max_examples=30, deadline=None)
@given(
    capacity_kwh=st.floats(3.0, 30.0),
    round_trip=st.floats(0.8, 1.0),
    charge_rate=st.floats(0.15, 1.0),
    discharge_rate=st.floats(0.15, 1.0),
    reserve=st.floats(0.0, 30.0),
    noise=st.floats(0.0, 0.02),
    whole_points=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_capacity_and_efficiency_come_from_energy_against_state_of_charge(
    capacity_kwh: float,
    round_trip: float,
    charge_rate: float,
    discharge_rate: float,
    reserve: float,
    noise: float,
    whole_points: bool,
    seed: int,
) -> None:
    """Two days of discharging through the night and charging through the day, at a rate per hour of the
    capacity, through the battery model the simulator uses; the SoC reported exactly or in whole points."""
    capacity_wh = capacity_kwh * 1000.0
    charge_w, discharge_w = charge_rate * capacity_wh, discharge_rate * capacity_wh
    model = BatteryModel.of(capacity_wh, charge_w, discharge_w, round_trip, floor_percent=reserve)
    rng = np.random.default_rng(seed)
    soc_wh = capacity_wh * 0.9
    wanted = np.tile(np.repeat([discharge_w, -charge_w, discharge_w], [360, 720, 360]), 2)
    battery_w, soc = np.empty(len(wanted)), np.empty(len(wanted))
    for minute, power in enumerate(wanted):
        battery_w[minute], soc_wh = model.step(float(power), soc_wh, 1 / 60)
        soc[minute] = 100.0 * soc_wh / capacity_wh
    if whole_points:
        soc = np.round(soc)
    readings = history(battery_w * rng.normal(1.0, noise, len(wanted)), np.full(len(wanted), np.nan), soc)
    found = infer_battery(readings)
    # whole points: each segment's change of SoC is off by up to a point in some 70
    assert found.battery_capacity_kwh.value == pytest.approx(capacity_kwh, rel=0.02 if whole_points else 0.005)
    assert found.round_trip_efficiency.value == pytest.approx(round_trip, abs=0.03 if whole_points else 0.01)
