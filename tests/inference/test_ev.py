"""EV charging told from household consumption: single bouts, confounding loads, and a simulated population."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solarfleet.connectors.simulator import profiles
from solarfleet.connectors.simulator.home import EvSpec, HomeParameters, _utc_offset_minutes
from solarfleet.inference.ev import FULL_CONFIDENCE_BOUTS, ChargingBout, EvInference, detect_ev
from solarfleet.inference.readings import ReadingArrays
from solarfleet.solar_geometry import MINUTES_PER_DAY

from .simulated import plausible_home, simulate, simulated_home

FIRST_S = int(datetime(2025, 1, 6, tzinfo=UTC).timestamp())
DAYS = 14


def arrays(household_w: np.ndarray, first_s: int = FIRST_S) -> ReadingArrays:
    """One reading a minute from `first_s`; only household consumption is measured."""
    count = len(household_w)
    unmeasured = np.full(count, np.nan)
    return ReadingArrays(
        first_s + 60 * np.arange(count),
        np.full(count, 60.0),
        unmeasured,
        unmeasured,
        household_w,
        unmeasured,
        unmeasured,
    )


def detect(household_w: np.ndarray) -> EvInference:
    """Inference just after the last minute of `household_w`."""
    return detect_ev(arrays(household_w), FIRST_S + 60 * (len(household_w) - 1))


def quiet_home(seed: int, days: int = DAYS, base_w: float = 400.0) -> np.ndarray:
    """A household with no large loads: its base load with the simulator's per-minute noise (σ 18 %)."""
    rng = np.random.default_rng(seed)
    return base_w * rng.lognormal(-0.5 * 0.18**2, 0.18, days * MINUTES_PER_DAY)


def metered(load_w: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """What a meter with relative `noise` reports, as SimulatedHome.reading applies it."""
    return load_w * np.random.default_rng([seed, 4]).normal(1.0, noise, len(load_w))


def test_an_11_kw_two_hour_bout_is_found_with_its_start_end_and_power() -> None:
    load = quiet_home(1)
    start = 5 * MINUTES_PER_DAY + 18 * 60
    load[start : start + 120] += 11_000
    inference = detect(metered(load, 0.01, 1))
    assert inference.bouts == (
        ChargingBout(FIRST_S + 60 * start, FIRST_S + 60 * (start + 120), pytest.approx(11_000, rel=0.02)),
    )
    assert inference.ev_inference_confidence == 1 / FULL_CONFIDENCE_BOUTS
    assert inference.has_ev_in_household is False  # one bout can be a guest's car
    assert inference.history_covered_s == DAYS * 86_400


def test_a_20_minute_bout_is_not_charging() -> None:
    load = quiet_home(2)
    load[3 * MINUTES_PER_DAY + 1100 :][:20] += 11_000
    assert detect(metered(load, 0.01, 2)).bouts == ()


@pytest.mark.parametrize(("on", "off"), [(5, 5), (12, 3), (20, 15)])
def test_a_cycling_load_is_not_charging(on: int, off: int) -> None:
    load = quiet_home(3)
    minute = np.arange(len(load))
    load[(minute // 60 % 24 >= 6) & (minute % (on + off) < on)] += 7000  # all day, every day
    assert detect(metered(load, 0.01, 3)).bouts == ()


def test_a_sauna_that_cycles_on_its_thermostat_after_warming_up_is_not_charging() -> None:
    load = quiet_home(4)
    start = 4 * MINUTES_PER_DAY + 1080
    load[start : start + 45] += 8000  # warm-up: as flat as a charger
    for pause in range(start + 50, start + 120, 9):
        load[pause : pause + 4] += 8000
    assert detect(metered(load, 0.01, 4)).bouts == ()


def test_an_irregular_load_in_the_band_is_not_charging() -> None:
    load = quiet_home(5)
    rng = np.random.default_rng(5)
    start = 6 * MINUTES_PER_DAY + 700
    load[start : start + 60] += np.repeat(rng.uniform(3500, 7400, 20), 3)  # an induction hob, zones changing
    assert detect(metered(load, 0.01, 5)).bouts == ()


def test_gaps_inside_a_bout_are_bridged_and_long_outages_do_not_invent_bouts() -> None:
    load = metered(quiet_home(6), 0.02, 6)
    start = 8 * MINUTES_PER_DAY + 1200
    load[start : start + 90] += 7400
    load[start + 40 : start + 46] = np.nan  # six readings lost mid-bout
    load[2 * MINUTES_PER_DAY : 2 * MINUTES_PER_DAY + 600] = np.nan  # a ten-hour outage
    inference = detect(load)
    assert [(bout.start_s, bout.end_s) for bout in inference.bouts] == [
        (FIRST_S + 60 * start, FIRST_S + 60 * (start + 90))
    ]
    assert inference.history_covered_s == (DAYS * MINUTES_PER_DAY - 606) * 60
    assert inference.ev_inference_confidence is not None


def test_sparse_readings_stand_for_the_minutes_before_them() -> None:
    load = quiet_home(7)
    start = 9 * MINUTES_PER_DAY + 1140
    load[start : start + 120] += 3700
    every = 5
    minutes = np.arange(every - 1, len(load), every)  # one reading every five minutes, for the five before it
    readings = arrays(load[minutes])
    readings = ReadingArrays(
        FIRST_S + 60 * minutes,
        np.full(len(minutes), 60.0 * every),
        readings.solar_w,
        readings.grid_w,
        readings.household_w,
        readings.battery_w,
        readings.soc_percent,
    )
    inference = detect_ev(readings, FIRST_S + 60 * int(minutes[-1]))
    assert [(bout.start_s, bout.end_s) for bout in inference.bouts] == [
        (FIRST_S + 60 * start, FIRST_S + 60 * (start + 120))
    ]
    assert inference.history_covered_s == DAYS * 86_400


def test_too_little_history_gives_no_answer_but_still_the_bouts() -> None:
    load = quiet_home(8, days=6)
    for day in range(6):
        load[day * MINUTES_PER_DAY + 1100 :][:90] += 11_000
    inference = detect(load)
    assert (inference.has_ev_in_household, inference.ev_inference_confidence) == (None, None)
    assert len(inference.bouts) == 6
    patchy = quiet_home(8, days=20)
    patchy[MINUTES_PER_DAY : 6 * MINUTES_PER_DAY] = np.nan  # 15 days measured of the 20 since the first reading
    assert detect(patchy).ev_inference_confidence is None
    assert detect(quiet_home(8, days=7)).ev_inference_confidence == 0.0
    unmetered = detect(np.full(DAYS * MINUTES_PER_DAY, np.nan))  # no consumption meter
    assert (unmetered.ev_inference_confidence, unmetered.bouts, unmetered.history_covered_s) == (None, (), 0)


def test_confidence_is_capped_at_one_and_counts_only_the_last_30_days() -> None:
    load = quiet_home(9, days=40)
    for day in range(40):
        load[day * MINUTES_PER_DAY + 1100 :][:90] += 11_000
    inference = detect(load)
    assert len(inference.bouts) == 30
    assert inference.bouts[0].start_s > FIRST_S + 60 * (len(load) - 30 * MINUTES_PER_DAY)
    assert (inference.has_ev_in_household, inference.ev_inference_confidence) == (True, 1.0)


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(DAYS // 2 * MINUTES_PER_DAY, (DAYS - 1) * MINUTES_PER_DAY),
    minutes=st.integers(30, 600),
    power_w=st.floats(3600, 22_000),
    base_w=st.floats(150, 1200),
    noise=st.floats(0.0, 0.02),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_flat_bout_in_the_band_is_found(
    start: int, minutes: int, power_w: float, base_w: float, noise: float, seed: int
) -> None:
    load = quiet_home(seed, base_w=base_w)
    load[start : start + minutes] += power_w
    bouts = detect(metered(load, noise, seed)).bouts
    assert [(bout.start_s, bout.end_s) for bout in bouts] == [(FIRST_S + 60 * start, FIRST_S + 60 * (start + minutes))]
    assert bouts[0].power_w == pytest.approx(power_w, rel=0.03)


# -- simulated homes ------------------------------------------------------------------------------------

POPULATION = 200
POPULATION_START = date(2025, 1, 6)  # winter: heat pumps run all day


def household(parameters: HomeParameters, start: date, days: int) -> tuple[np.ndarray, np.ndarray]:
    """The simulated home's true household load and, within it, its EV charger's, per minute from midnight UTC
    of `start`: the profiles that SimulatedHome adds up, without stepping its physics (PV and the battery do
    not change the consumption), which takes 200 homes a second rather than half a minute."""
    load, charging = [], []
    for day in (start + timedelta(days=offset) for offset in range(days)):
        offset = _utc_offset_minutes(parameters.timezone, day)
        load.append(profiles.household_load(parameters.seed, day, parameters.annual_consumption_kwh, offset))
        if ev := parameters.ev:
            charging.append(profiles.ev_charging(parameters.seed, day, ev.power_w, ev.sessions_per_week, offset))
        else:
            charging.append(np.zeros(MINUTES_PER_DAY))
    charger_w = np.concatenate(charging)
    return np.concatenate(load) + charger_w, charger_w


def sessions(charger_w: np.ndarray) -> list[tuple[int, int]]:
    """The charging sessions, as (first, end) minutes."""
    edges = np.diff((charger_w > 0).astype(np.int8), prepend=0, append=0)
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def minutes_of(bout: ChargingBout, first_s: int) -> tuple[int, int]:
    """A bout's first and end minute counted from `first_s`."""
    return (bout.start_s - first_s) // 60, (bout.end_s - first_s) // 60


def thermostat(rng: np.random.Generator, minutes: int, first: tuple[int, int], then: tuple[int, int]) -> np.ndarray:
    """Whether a cycling appliance is in its first phase, per minute: phases alternate, each lasting a
    number of minutes drawn from its range (end exclusive)."""
    phases = np.stack([rng.integers(*first, minutes), rng.integers(*then, minutes)], axis=1).ravel()
    return np.repeat(np.tile([True, False], minutes), phases)[:minutes]


def oven(rng: np.random.Generator) -> np.ndarray:
    """40–90 min: heats up without a pause, then its thermostat cycles every few minutes."""
    minutes, heat_up = int(rng.integers(40, 91)), int(rng.integers(8, 16))
    on = np.concatenate([np.ones(heat_up, bool), thermostat(rng, minutes - heat_up, (1, 5), (2, 6))])
    return rng.uniform(2000, 3500) * on


def sauna(rng: np.random.Generator) -> np.ndarray:
    """6–9 kW: flat for a 30–60 min warm-up, then the thermostat cycles for another 30–90 min."""
    warm_up, holding = int(rng.integers(30, 61)), int(rng.integers(30, 91))
    on = np.concatenate([np.ones(warm_up, bool), ~thermostat(rng, holding, (3, 11), (2, 7))])
    return rng.uniform(6000, 9000) * on


def induction_hob(rng: np.random.Generator) -> np.ndarray:
    """20–60 min of cooking, zones and settings changing every 1–4 minutes, up to 7.4 kW."""
    minutes = int(rng.integers(20, 61))
    return np.repeat(rng.uniform(500, 7400, minutes), rng.integers(1, 5, minutes))[:minutes]


def shower(rng: np.random.Generator) -> np.ndarray:
    """An instantaneous water heater: 18–24 kW for a 5–15 min shower, following flow and inlet temperature."""
    minutes = int(rng.integers(5, 16))
    return rng.uniform(18_000, 24_000) * rng.uniform(0.85, 1.0, minutes)


# name: (share of homes that have one, chance per day of using it, hours of the day (UTC) it starts in, its load)
APPLIANCES = {
    "oven": (0.5, 0.5, (11, 19), oven),
    "sauna": (0.25, 2 / 7, (17, 21), sauna),
    "induction hob": (0.4, 0.7, (11, 20), induction_hob),
    "instantaneous water heater": (0.3, 0.9, (6, 22), shower),
}


def confounders(rng: np.random.Generator, days: int) -> tuple[np.ndarray, list[str]]:
    """Large loads that are not an EV, in watts per minute, and their names: each home has a seeded few."""
    load = np.zeros((days + 1) * MINUTES_PER_DAY)  # room for a load that runs past the last midnight
    kinds = []
    if rng.random() < 0.4:  # an air-source heat pump in winter: on 10–20 min, off 10–20 min, all day
        kinds.append("heat pump")
        load += rng.uniform(2000, 4000) * thermostat(rng, len(load), (10, 21), (10, 21))
    for name, (share, chance, hours, appliance) in APPLIANCES.items():
        if rng.random() < share:
            kinds.append(name)
            for day in np.flatnonzero(rng.random(days) < chance):
                start = day * MINUTES_PER_DAY + int(rng.integers(hours[0] * 60, hours[1] * 60))
                profile = appliance(rng)
                load[start : start + len(profile)] += profile
    return load[: days * MINUTES_PER_DAY], kinds


def test_the_population_helper_is_the_simulated_home() -> None:
    parameters = plausible_home(11, battery=False, measurement_noise=0.0).model_copy(update={"ev": EvSpec()})
    truth = simulate(parameters, POPULATION_START, 2).readings.household_w
    np.testing.assert_array_equal(household(parameters, POPULATION_START, 2)[0], truth)


def test_the_sessions_of_a_simulated_ev_home_are_found_with_their_times_and_power() -> None:
    history = simulated_home(21, DAYS, ev=True)  # stepped minute by minute, with a battery and meter noise
    first_s = int(history.readings.time_s[0])
    inference = detect_ev(history.readings, int(history.readings.time_s[-1]))
    _, charger_w = household(history.parameters, datetime.fromtimestamp(first_s, UTC).date(), DAYS)
    assert len(sessions(charger_w)) >= 2
    assert [minutes_of(bout, first_s) for bout in inference.bouts] == sessions(charger_w)
    assert [bout.power_w for bout in inference.bouts] == pytest.approx(
        [history.parameters.ev.power_w] * len(inference.bouts), rel=0.03
    )
    assert inference.has_ev_in_household is True


def test_ev_presence_is_right_for_at_least_95_percent_of_a_simulated_population() -> None:
    """200 homes as the demo draws them, over two winter weeks, half with an EV of 3.7–22 kW charging 1–6
    times a week, many with heat pumps, ovens, saunas, induction hobs or instantaneous water heaters, with
    meter noise of 1–2 %, lost readings and outages."""
    confusion = {(truth, told): 0 for truth in (True, False) for told in (True, False)}
    found = total = 0
    false_bouts: dict[str, int] = {}
    for home in range(POPULATION):
        rng = np.random.default_rng([home, 7])
        noise = rng.uniform(0.01, 0.02)
        parameters = plausible_home(1000 + home, battery=False, measurement_noise=noise)
        has_ev = home % 2 == 0
        ev = EvSpec(power_w=rng.uniform(3700, 22_000), sessions_per_week=rng.uniform(1, 6)) if has_ev else None
        parameters = parameters.model_copy(update={"ev": ev})
        extra_w, kinds = confounders(rng, DAYS)
        load_w, charger_w = household(parameters, POPULATION_START, DAYS)
        load_w = metered(load_w + extra_w, noise, parameters.seed)
        load_w[rng.random(len(load_w)) < 0.01] = np.nan  # readings lost now and then
        if rng.random() < 0.3:  # and an outage of a few hours
            outage = int(rng.integers(len(load_w)))
            load_w[outage : outage + int(rng.integers(120, 360))] = np.nan
        inference = detect(load_w)
        confusion[has_ev, bool(inference.has_ev_in_household)] += 1
        in_bout = np.zeros(len(load_w), dtype=bool)
        for bout in inference.bouts:
            first, end = minutes_of(bout, FIRST_S)
            in_bout[first:end] = True
            if not charger_w[first:end].any():
                key = ", ".join(kinds)
                false_bouts[key] = false_bouts.get(key, 0) + 1
        truth = sessions(charger_w)
        total += len(truth)
        found += sum(in_bout[first:end].any() for first, end in truth)
    right = confusion[True, True] + confusion[False, False]
    print(
        f"\nEV homes told EV {confusion[True, True]}, told none {confusion[True, False]}; "
        f"homes without an EV told EV {confusion[False, True]}, told none {confusion[False, False]}; "
        f"accuracy {right / POPULATION:.1%}; charging sessions found {found} of {total}; "
        f"bouts that were no charging, by the home's large loads: {false_bouts}"
    )
    assert right >= 0.95 * POPULATION
