"""Steering rules, pure: which mode a plan slot asks for, the command a device can carry out for it,
and what the read-back and the measured powers say the device is really doing.

Where the plan's battery power is what the device's own self-consumption logic would do anyway,
the device is left on that logic: it follows the real PV and load minute by minute, which a
set-point computed from a forecast cannot. Only a difference from self-consumption is commanded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from solarfleet.connectors.base import Command, ControlMode, ControlState, Reading
from solarfleet.optimization.problem import BatteryPolicy

# Both sides of a plan are averages over 15 minutes of forecast values: differences below this are noise.
POWER_TOLERANCE_W = 150.0
POWER_TOLERANCE_SHARE = 0.05
# A command outlives its slot by one slot, so a missed boundary does not drop the device back at once,
# yet a stopped solarfleet hands the device back to its own logic within half an hour.
REVERT_AFTER = timedelta(minutes=30)


class PlannedMode(StrEnum):
    """`current_mode`: what the plan asks of the battery in a slot."""

    SELF_CONSUMPTION = "self_consumption"
    CHARGE = "charge"
    HOLD = "hold"
    DISCHARGE = "discharge"
    EXPORT = "export"
    CURTAIL = "curtail"
    PAUSED = "paused"


class SteeringState(StrEnum):
    """`actual_steering_state`: what the device really does, from read-back and measured power."""

    UNKNOWN = "unknown"
    SELF_CONSUMPTION = "self_consumption"
    CHARGING = "charging"
    DISCHARGING = "discharging"
    HOLDING = "holding"
    CURTAILED = "curtailed"
    PAUSED = "paused"
    DEVICE_CONTROL = "device_control"


@dataclass(frozen=True, slots=True)
class SlotIntent:
    """One plan slot of one device, as the steering loop needs it (powers are 15-minute averages)."""

    battery_power_w: float | None  # partner sign: positive = discharging; None = no battery
    expected_solar_w: float
    expected_load_w: float
    curtail_w: float
    paused: bool
    policy: BatteryPolicy
    max_power_w: float | None = None  # the larger of the battery's charge and discharge limits


def tolerance_w(max_power_w: float | None) -> float:
    return max(POWER_TOLERANCE_W, POWER_TOLERANCE_SHARE * (max_power_w or 0.0))


def planned_mode(slot: SlotIntent) -> PlannedMode:
    if slot.paused:
        return PlannedMode.PAUSED
    tolerance = tolerance_w(slot.max_power_w)
    if slot.curtail_w > tolerance:
        return PlannedMode.CURTAIL
    if slot.battery_power_w is None:
        return PlannedMode.SELF_CONSUMPTION
    deficit = slot.expected_load_w - slot.expected_solar_w  # what self-consumption would ask of the battery
    power = slot.battery_power_w
    if abs(power - deficit) <= tolerance:
        return PlannedMode.SELF_CONSUMPTION
    if abs(power) <= tolerance:
        exporting_pv = slot.policy is BatteryPolicy.EXPORT_ALL and deficit < -tolerance
        return PlannedMode.EXPORT if exporting_pv else PlannedMode.HOLD
    return PlannedMode.DISCHARGE if power > 0 else PlannedMode.CHARGE


def is_forced(slot: SlotIntent) -> bool:
    """Forced mode: the plan charges the battery from the grid or discharges it into the grid,
    beyond what the PV surplus or the house's deficit would explain."""
    if slot.battery_power_w is None:
        return False
    tolerance = tolerance_w(slot.max_power_w)
    deficit = slot.expected_load_w - slot.expected_solar_w
    power = slot.battery_power_w
    if power < 0:
        return -power > max(-deficit, 0.0) + tolerance
    return power > max(deficit, 0.0) + tolerance


_FALLBACKS: dict[ControlMode, tuple[ControlMode, ...]] = {
    # the nearest mode a device without the wanted one can do; self-consumption is always the last resort
    ControlMode.CHARGE: (ControlMode.HOLD,),
    ControlMode.DISCHARGE: (),
    ControlMode.HOLD: (),
    ControlMode.CURTAIL: (ControlMode.PAUSE,),
    ControlMode.PAUSE: (ControlMode.CURTAIL,),
}


def command_for(slot: SlotIntent, controls: frozenset[ControlMode]) -> Command | None:
    """The command that carries out the slot on a device with these controls: a power set-point where
    the device takes one, else the nearest mode it has; None where it accepts no command at all."""
    if not controls:
        return None
    mode = planned_mode(slot)
    wanted = _wanted(slot, mode)
    for candidate in (wanted.mode, *_FALLBACKS.get(wanted.mode, ())):
        if candidate in controls:
            if candidate is wanted.mode:
                return wanted
            return _wanted(slot, _PLANNED_BY_CONTROL[candidate])
    if ControlMode.SELF_CONSUMPTION in controls:
        return Command(ControlMode.SELF_CONSUMPTION)
    return None


_PLANNED_BY_CONTROL = {
    ControlMode.HOLD: PlannedMode.HOLD,
    ControlMode.CURTAIL: PlannedMode.CURTAIL,
    ControlMode.PAUSE: PlannedMode.PAUSED,
}


def _wanted(slot: SlotIntent, mode: PlannedMode) -> Command:
    power = abs(slot.battery_power_w or 0.0)
    match mode:
        case PlannedMode.CHARGE:
            return Command(ControlMode.CHARGE, power_w=power, revert_after=REVERT_AFTER)
        case PlannedMode.DISCHARGE:
            return Command(ControlMode.DISCHARGE, power_w=power, revert_after=REVERT_AFTER)
        case PlannedMode.HOLD | PlannedMode.EXPORT:
            return Command(ControlMode.HOLD, revert_after=REVERT_AFTER)
        case PlannedMode.CURTAIL:
            limit = max(slot.expected_solar_w - slot.curtail_w, 0.0)
            return Command(ControlMode.CURTAIL, limit_w=limit, revert_after=REVERT_AFTER)
        case PlannedMode.PAUSED:
            return Command(ControlMode.PAUSE, revert_after=REVERT_AFTER)
    return Command(ControlMode.SELF_CONSUMPTION)


@dataclass(frozen=True, slots=True)
class ReadBack:
    """What a read-back and the measured powers say about a command."""

    state: SteeringState
    confirmed: bool  # the device reports the command's mode and its power follows it
    reverted: bool  # the device went back to its own logic before we asked


def assess(command: Command, control: ControlState | None, reading: Reading, max_power_w: float | None) -> ReadBack:
    """Compare a command with what the device reports in force (None where it cannot say) and measures.

    A charge or discharge set-point counts as followed when the measured battery power is within the
    tolerance of it, or beyond it in the wanted direction, or when the battery stopped at a full or
    empty state of charge (the device clamps at its limits, as it should).
    """
    battery = reading.battery_charge_discharge_power_w
    in_force = control.mode if control is not None else None
    if in_force is not None and in_force is not command.mode:
        if in_force is ControlMode.SELF_CONSUMPTION:  # it dropped the command for its own logic
            return ReadBack(SteeringState.DEVICE_CONTROL, False, True)
        return ReadBack(_state_of(in_force, battery, max_power_w), False, False)
    followed = _power_follows(command, battery, reading.battery_charge_level_percent, max_power_w)
    state = _state_of(command.mode, battery, max_power_w) if in_force is not None or followed else SteeringState.UNKNOWN
    return ReadBack(state, followed, False)


def _power_follows(command: Command, battery_w: float | None, soc: float | None, max_power_w: float | None) -> bool:
    if command.mode not in (ControlMode.CHARGE, ControlMode.DISCHARGE, ControlMode.HOLD) or battery_w is None:
        return True  # nothing to compare: the read-back decides
    tolerance = tolerance_w(max_power_w)
    if command.mode is ControlMode.HOLD:
        return abs(battery_w) <= tolerance
    at_limit = soc is not None and (soc >= 99.0 if command.mode is ControlMode.CHARGE else soc <= 1.0)
    wanted = command.power_w if command.mode is ControlMode.DISCHARGE else -(command.power_w or 0.0)
    return at_limit or abs(battery_w - wanted) <= tolerance or (battery_w - wanted) * wanted > 0


def _state_of(mode: ControlMode, battery_w: float | None, max_power_w: float | None) -> SteeringState:
    match mode:
        case ControlMode.SELF_CONSUMPTION:
            return SteeringState.SELF_CONSUMPTION
        case ControlMode.CURTAIL:
            return SteeringState.CURTAILED
        case ControlMode.PAUSE:
            return SteeringState.PAUSED
        case ControlMode.HOLD:
            return SteeringState.HOLDING
    if battery_w is not None and abs(battery_w) <= tolerance_w(max_power_w):
        return SteeringState.HOLDING
    return SteeringState.CHARGING if mode is ControlMode.CHARGE else SteeringState.DISCHARGING
