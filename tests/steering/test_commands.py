"""Slot → mode → command, and read-back assessment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from solarfleet.connectors.base import Command, ControlMode, ControlState, Reading
from solarfleet.optimization.problem import BatteryPolicy
from solarfleet.steering.commands import (
    PlannedMode,
    SlotIntent,
    SteeringState,
    assess,
    command_for,
    is_forced,
    planned_mode,
)

ALL_CONTROLS = frozenset(ControlMode)
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def intent(battery: float | None, solar: float = 0.0, load: float = 500.0, **kw) -> SlotIntent:
    return SlotIntent(
        battery_power_w=battery,
        expected_solar_w=solar,
        expected_load_w=load,
        curtail_w=kw.pop("curtail", 0.0),
        paused=kw.pop("paused", False),
        policy=kw.pop("policy", BatteryPolicy.GRID_BALANCING),
        max_power_w=kw.pop("max_power", 5000.0),
    )


@pytest.mark.parametrize(
    ("slot", "mode", "forced"),
    [
        (intent(500.0, load=500.0), PlannedMode.SELF_CONSUMPTION, False),  # the battery covers the house
        (intent(-2000.0, solar=3000.0, load=1000.0), PlannedMode.SELF_CONSUMPTION, False),  # stores the surplus
        (intent(0.0, load=800.0), PlannedMode.HOLD, False),  # keeps its energy for a dearer hour
        (intent(-3000.0, load=400.0), PlannedMode.CHARGE, True),  # from the grid at night
        (intent(-1000.0, solar=3000.0, load=500.0), PlannedMode.CHARGE, False),  # only part of the surplus
        (intent(4000.0, load=500.0), PlannedMode.DISCHARGE, True),  # into the grid at the evening peak
        (intent(0.0, solar=4000.0, load=500.0, policy=BatteryPolicy.EXPORT_ALL), PlannedMode.EXPORT, False),
        (intent(0.0, solar=4000.0, load=500.0, curtail=2000.0), PlannedMode.CURTAIL, False),
        (intent(0.0, solar=4000.0, load=500.0, paused=True), PlannedMode.PAUSED, False),
        (intent(None, solar=2000.0), PlannedMode.SELF_CONSUMPTION, False),  # no battery, nothing to do
    ],
)
def test_each_slot_gets_its_mode(slot, mode, forced):
    assert planned_mode(slot) is mode
    assert is_forced(slot) is forced


def test_a_set_point_where_the_device_takes_one_and_the_nearest_mode_where_it_does_not():
    charge = intent(-3000.0, load=400.0)
    command = command_for(charge, ALL_CONTROLS)
    assert command.mode is ControlMode.CHARGE
    assert command.power_w == pytest.approx(3000.0)
    assert command.revert_after is not None
    without_charge = ALL_CONTROLS - {ControlMode.CHARGE}
    assert command_for(charge, without_charge).mode is ControlMode.HOLD
    only_own_logic = frozenset({ControlMode.SELF_CONSUMPTION})
    assert command_for(charge, only_own_logic).mode is ControlMode.SELF_CONSUMPTION
    assert command_for(charge, frozenset()) is None  # a read-only device is not commanded


def test_curtailment_limits_output_to_what_the_plan_keeps():
    command = command_for(intent(0.0, solar=4000.0, load=500.0, curtail=2500.0), ALL_CONTROLS)
    assert command.mode is ControlMode.CURTAIL
    assert command.limit_w == pytest.approx(1500.0)


@given(
    battery=st.floats(-10_000, 10_000),
    solar=st.floats(0, 10_000),
    load=st.floats(0, 10_000),
    controls=st.sets(st.sampled_from(list(ControlMode))),
)
def test_a_command_is_always_one_the_device_accepts(battery, solar, load, controls):
    slot = intent(battery, solar=solar, load=load)
    command = command_for(slot, frozenset(controls))
    if command is None:  # nothing it accepts comes close: it stays on its own logic
        assert ControlMode.SELF_CONSUMPTION not in controls
    else:
        assert command.mode in controls


def reading(battery: float, soc: float = 50.0) -> Reading:
    return Reading(NOW, 0.0, -400.0, 400.0 + battery, battery, soc)


def test_read_back_confirms_a_charge_the_battery_follows():
    command = Command(ControlMode.CHARGE, power_w=3000.0)
    result = assess(command, ControlState(ControlMode.CHARGE, power_w=3000.0), reading(-2950.0), 5000.0)
    assert result.confirmed
    assert result.state is SteeringState.CHARGING


def test_a_device_that_reports_the_mode_but_does_not_move_is_not_confirmed():
    command = Command(ControlMode.CHARGE, power_w=3000.0)
    result = assess(command, ControlState(ControlMode.CHARGE, power_w=3000.0), reading(0.0), 5000.0)
    assert not result.confirmed
    assert result.state is SteeringState.HOLDING


def test_a_full_battery_that_stops_charging_still_follows():
    command = Command(ControlMode.CHARGE, power_w=3000.0)
    assert assess(command, ControlState(ControlMode.CHARGE), reading(0.0, soc=100.0), 5000.0).confirmed


def test_a_device_back_on_its_own_logic_is_seen():
    command = Command(ControlMode.DISCHARGE, power_w=3000.0)
    result = assess(command, ControlState(ControlMode.SELF_CONSUMPTION), reading(400.0), 5000.0)
    assert result.reverted
    assert not result.confirmed
    assert result.state is SteeringState.DEVICE_CONTROL


def test_without_a_read_back_the_measured_power_decides():
    command = Command(ControlMode.DISCHARGE, power_w=3000.0)
    assert assess(command, None, reading(3010.0), 5000.0).confirmed
    assert assess(command, None, reading(0.0), 5000.0).state is SteeringState.UNKNOWN
