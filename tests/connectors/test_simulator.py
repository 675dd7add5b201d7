"""The simulated home: deterministic for a seed, physically plausible, and obedient to commands."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solarfleet.connectors.base import Command, ControlMode, Quantity, Unsupported
from solarfleet.connectors.registry import ConnectorContext, InvalidConnectionSettings, open_connector
from solarfleet.connectors.simulator import profiles
from solarfleet.connectors.simulator.clock import SimulationClock
from solarfleet.connectors.simulator.home import BatterySpec, EvSpec, HomeParameters, SimulatedHome
from solarfleet.solar_geometry import clear_sky_pv_per_kwp

SUMMER_NOON = datetime(2026, 6, 21, 11, 0, tzinfo=UTC)  # 13:00 in Vienna
WINTER_NIGHT = datetime(2026, 12, 21, 1, 0, tzinfo=UTC)
BATTERY = BatterySpec(
    capacity_kwh=10.0, max_charge_w=5000, max_discharge_w=4000, round_trip_efficiency=0.9, reserve_percent=10.0
)


def home(**overrides) -> SimulatedHome:
    fields = {
        "seed": 5,
        "latitude": 48.21,
        "longitude": 16.37,
        "pv_kwp": 8.0,
        "battery": BATTERY,
        "measurement_noise": 0.0,
        **overrides,
    }
    return SimulatedHome(HomeParameters(**fields))


def test_the_same_seed_gives_the_same_home_however_it_is_polled() -> None:
    often, seldom = home(), home()
    start = SUMMER_NOON - timedelta(hours=6)
    seldom.advance_to(start)  # a home comes to life at its first reading
    for minute in range(0, 12 * 60, 1):
        often.advance_to(start + timedelta(minutes=minute))
    end = start + timedelta(hours=12)
    assert often.advance_to(end) == seldom.advance_to(end)
    assert home(seed=6).advance_to(end) != seldom.advance_to(end)


def test_pv_follows_the_sun_and_the_rating() -> None:
    clear = clear_sky_pv_per_kwp(48.21, 16.37, 30.0, 180.0, SUMMER_NOON.date())
    assert clear.max() == pytest.approx(850, rel=0.15)  # about 1 kW/kWp of sunlight, less the losses
    assert clear[:60].max() == 0.0  # midnight UTC: dark in Vienna
    state = home().advance_to(SUMMER_NOON)
    assert 0 < state.solar_w <= 8000 * 1.08
    assert home().advance_to(WINTER_NIGHT).solar_w == 0.0


def test_household_load_matches_the_annual_consumption() -> None:
    days = [datetime(2026, 1, 1, tzinfo=UTC).date() + timedelta(days=d) for d in range(0, 365, 7)]
    daily_kwh = [profiles.household_load(3, day, 4000.0, 60).sum() / 60 / 1000 for day in days]
    assert np.mean(daily_kwh) * 365 == pytest.approx(4000, rel=0.1)
    assert min(profiles.household_load(3, days[0], 4000.0, 60)) >= 40


def test_an_ev_charges_in_flat_bouts_of_one_to_three_hours_in_the_evening() -> None:
    days = [SUMMER_NOON.date() + timedelta(days=d) for d in range(28)]
    bouts = []
    for day in days:
        charging = profiles.ev_charging(9, day, 11_000.0, 4.0, 120)
        minutes = np.flatnonzero(charging)
        if minutes.size:
            assert set(charging[minutes]) == {11_000.0}
            assert minutes[-1] - minutes[0] + 1 == minutes.size  # one uninterrupted bout
            bouts.append((minutes[0], minutes.size))
    assert 8 <= len(bouts) <= 24  # about four evenings a week
    for start, length in bouts:
        assert 60 <= length <= 180
        assert 15 * 60 <= start <= 20 * 60  # 17–22 h local at UTC+2


def test_the_balance_holds_at_every_minute() -> None:
    subject = home(ev=EvSpec())
    for minute in range(0, 24 * 60, 7):
        state = subject.advance_to(SUMMER_NOON + timedelta(minutes=minute))
        assert state.household_w == pytest.approx(state.solar_w + state.battery_w - state.grid_w)
        assert state.solar_w >= 0
        assert state.household_w > 0
        assert BATTERY.reserve_percent - 1e-9 <= state.soc_percent <= 100 + 1e-9


def test_charging_at_a_power_stores_energy_with_the_charging_efficiency() -> None:
    subject = home()
    start = subject.advance_to(WINTER_NIGHT)
    subject.apply(Command(ControlMode.CHARGE, power_w=3000), WINTER_NIGHT)
    after = subject.advance_to(WINTER_NIGHT + timedelta(hours=1))
    assert after.battery_w == -3000
    assert after.grid_w < -3000  # the house and the battery both draw from the grid at night
    stored_kwh = (after.soc_percent - start.soc_percent) / 100 * 10.0
    assert stored_kwh == pytest.approx(3.0 * np.sqrt(0.9), rel=0.02)


def test_the_battery_stops_at_its_reserve_and_when_full() -> None:
    subject = home()
    subject.apply(Command(ControlMode.DISCHARGE, power_w=9000), WINTER_NIGHT)
    assert subject.control(WINTER_NIGHT).power_w == 4000  # clamped to the nameplate
    drained = subject.advance_to(WINTER_NIGHT + timedelta(hours=3))
    assert drained.soc_percent == pytest.approx(10.0)
    assert drained.battery_w == 0.0
    subject.apply(Command(ControlMode.CHARGE, power_w=5000), drained.time)
    full = subject.advance_to(drained.time + timedelta(hours=4))
    assert full.soc_percent == pytest.approx(100.0)
    assert full.battery_w == 0.0


def test_hold_curtail_pause_and_revert() -> None:
    subject = home()
    subject.apply(Command(ControlMode.HOLD), SUMMER_NOON)
    assert subject.advance_to(SUMMER_NOON + timedelta(minutes=5)).battery_w == 0.0
    subject.apply(Command(ControlMode.CURTAIL, limit_w=1000), SUMMER_NOON + timedelta(minutes=5))
    curtailed = subject.advance_to(SUMMER_NOON + timedelta(minutes=10))
    assert curtailed.solar_w <= 1000
    assert curtailed.curtailed_w > 0
    subject.apply(Command(ControlMode.PAUSE), curtailed.time)
    paused = subject.advance_to(curtailed.time + timedelta(minutes=30))
    assert paused.grid_w <= 1e-9  # nothing leaves the house
    moment = paused.time
    subject.apply(Command(ControlMode.CHARGE, power_w=2000, revert_after=timedelta(minutes=15)), moment)
    assert subject.control(moment + timedelta(minutes=14)).mode is ControlMode.CHARGE
    assert subject.control(moment + timedelta(minutes=16)).mode is ControlMode.SELF_CONSUMPTION


def test_a_home_without_battery_refuses_battery_commands_and_reports_no_battery() -> None:
    subject = home(battery=None)
    with pytest.raises(Unsupported):
        subject.apply(Command(ControlMode.CHARGE, power_w=1000), SUMMER_NOON)
    reading = subject.reading(SUMMER_NOON)
    assert reading.battery_charge_discharge_power_w is None
    assert reading.battery_charge_level_percent is None
    assert Quantity.BATTERY_POWER_W not in reading.reported
    assert subject.capabilities().battery is None


@settings(max_examples=40, deadline=None)
@given(noise=st.floats(min_value=0.0, max_value=0.05), minute=st.integers(0, 24 * 60 - 1))
def test_readings_carry_only_measurement_noise(noise: float, minute: int) -> None:
    subject = home(measurement_noise=noise)
    moment = SUMMER_NOON + timedelta(minutes=minute)
    reading = subject.reading(moment)
    truth = home().advance_to(moment)
    tolerance = 6 * noise * abs(truth.household_w) + 1e-6
    assert reading.household_consumption_w == pytest.approx(truth.household_w, abs=tolerance)
    assert reading.reported == subject.capabilities().reads


def test_clocks_real_accelerated_and_stepped() -> None:
    stepped = SimulationClock.stepped(SUMMER_NOON)
    assert stepped.now() == SUMMER_NOON
    assert stepped.advance(timedelta(minutes=5)) == SUMMER_NOON + timedelta(minutes=5)
    with pytest.raises(ValueError, match="back"):
        stepped.advance(timedelta(seconds=-1))
    fast = SimulationClock.accelerated(3600, origin=SUMMER_NOON)
    assert fast.wall_seconds(timedelta(hours=1)) == pytest.approx(1.0)
    assert fast.now() >= SUMMER_NOON
    stepped.run_on(10.0)
    assert stepped.now() >= SUMMER_NOON + timedelta(minutes=5)
    assert abs(SimulationClock.real_time().now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_the_connector_shares_one_home_per_seed_and_validates_its_settings() -> None:
    context = ConnectorContext(clock=SimulationClock.stepped(SUMMER_NOON))
    settings_ = {"seed": 77, "latitude": 48.2, "longitude": 16.4, "pv_kwp": 6.0, "battery": BATTERY.model_dump()}
    first, second = (open_connector("simulator", settings_, context) for _ in range(2))

    async def scenario():
        await first.apply(Command(ControlMode.CHARGE, power_w=2500))
        return await second.read_control()

    assert asyncio.run(scenario()).mode is ControlMode.CHARGE
    with pytest.raises(InvalidConnectionSettings, match="pv_kwp"):
        open_connector("simulator", {**settings_, "pv_kwp": -1}, context)
    with pytest.raises(InvalidConnectionSettings, match="timezone"):
        open_connector("simulator", {**settings_, "timezone": "Mars/Olympus"}, context)
