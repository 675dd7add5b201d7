"""The steering loop: plan every quarter hour, carry out each device's current slot, read it back.

It runs inside the monitoring worker, which holds each device's open connector and capabilities:
commands go through the same connection the polls use, and the read-back happens on the poll after
a command. At each slot boundary (and soon after a device strays from its plan) the worker's
optimised devices are planned again from their measured state: model-predictive control.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import insert, update

from solarfleet.connectors.base import Command, ConnectorError, ControlMode, ControlState, Reading, Unsupported
from solarfleet.database import Database
from solarfleet.inverters.models import Inverter
from solarfleet.optimization.models import PlanSlot
from solarfleet.optimization.problem import BatteryPolicy
from solarfleet.optimization.service import PlanningService, planning_devices
from solarfleet.optimization.store import slots_at
from solarfleet.steering.commands import (
    PlannedMode,
    ReadBack,
    SlotIntent,
    SteeringState,
    assess,
    command_for,
    is_forced,
)
from solarfleet.steering.models import SteeringCommand

if TYPE_CHECKING:
    from solarfleet.monitoring.pipeline import DeviceSlot, MonitoringWorker

log = structlog.get_logger(__name__)

SLOT_S = 900
UNCONFIRMED_WARNING_POLLS = 2  # inverter-fields.md: a warning when a command is not confirmed after two polls
UNCONFIRMED_ERROR_POLLS = 6  # ignored for six polls (three minutes at 30 s): the device does not follow
SOC_DEVIATION_POINTS = 5.0  # measured SoC this far from the plan's path means the plan no longer fits
REPLAN_PAUSE = timedelta(minutes=5)  # a device that keeps straying is planned again at most this often
STEERING_STATUS_OK, STEERING_STATUS_WARNING, STEERING_STATUS_ERROR = "ok", "warning", "error"


@dataclass
class _DeviceSteering:
    """What the loop remembers of one device between rounds."""

    command: Command | None = None
    command_id: uuid.UUID | None = None
    slot_start_s: int | None = None
    planned: PlannedMode | None = None
    forced: bool = False
    unconfirmed_polls: int = 0
    confirmed: bool = False
    forced_since: datetime | None = None
    handed_back: bool = False
    target_soc_percent: float | None = None
    soc_tolerance: float = SOC_DEVIATION_POINTS
    replanned_at: datetime | None = None


class SteeringLoop:
    def __init__(self, database: Database, planning: PlanningService | None = None) -> None:
        self.database = database
        self.planning = planning or PlanningService()
        self._devices: dict[uuid.UUID, _DeviceSteering] = {}
        self._boundary_s: int | None = None
        self._replan: set[uuid.UUID] = set()
        self._skipped: dict[uuid.UUID, str | None] = {}
        self._updates: dict[uuid.UUID, dict[str, Any]] = {}
        self._command_updates: list[dict[str, Any]] = []
        self.rounds = 0

    # -- each quarter hour -------------------------------------------------------------------------

    async def run_step(self, worker: MonitoringWorker, now: datetime) -> None:
        """Plan and command when a slot boundary passed or a device strayed; store read-back results."""
        boundary_s = int(now.timestamp()) // SLOT_S * SLOT_S
        if boundary_s != self._boundary_s:
            self._boundary_s = boundary_s
            await self._round(worker, now, "slot", None)
        elif self._replan:
            replan, self._replan = self._replan, set()
            await self._round(worker, now, "deviation", replan)
        await self._write_updates()

    async def _round(self, worker: MonitoringWorker, now: datetime, reason: str, only: set[uuid.UUID] | None) -> None:
        slots = {
            inverter_id: slot
            for inverter_id, slot in worker.steerable_slots().items()
            if only is None or inverter_id in only
        }
        if not slots:
            return
        intents, optimised = await asyncio.to_thread(self._plan, slots, now, reason)
        self.rounds += 1
        # Commands go out side by side, as many at once as the worker polls: a slow device holds one.
        limit = asyncio.Semaphore(worker.settings.concurrency)

        async def steer(inverter_id: uuid.UUID, slot: DeviceSlot) -> None:
            async with limit:
                intent = intents.get(inverter_id)
                if intent is not None:
                    await self._carry_out(slot, intent, now)
                elif inverter_id not in optimised:
                    await self._hand_back(slot, now)

        await asyncio.gather(*(steer(inverter_id, slot) for inverter_id, slot in slots.items()))

    def _plan(
        self, slots: dict[uuid.UUID, DeviceSlot], now: datetime, reason: str
    ) -> tuple[dict[uuid.UUID, tuple[PlanSlot, SlotIntent, float]], set[uuid.UUID]]:
        """Plan the devices and read back the slot each is in now (in a worker thread)."""
        capabilities = {inverter_id: slot.capabilities for inverter_id, slot in slots.items()}
        with self.database.session() as session:
            devices = planning_devices(session, slots, capabilities)
            result = self.planning.plan(session, devices, now, reason)
            for outcome in result.skipped:
                if self._skipped.get(outcome.site_id) != outcome.skipped:  # once per reason, not every quarter hour
                    log.info("site not planned", site_id=str(outcome.site_id), reason=outcome.skipped)
                self._skipped[outcome.site_id] = outcome.skipped
            for outcome in result.planned:
                self._skipped.pop(outcome.site_id, None)
            current = slots_at(session, [d.inverter_id for d in devices], int(now.timestamp()))
        by_id = {d.inverter_id: d for d in devices}
        intents = {}
        for inverter_id, plan_slot in current.items():
            device = by_id[inverter_id]
            battery = device.battery
            # The target is the SoC at the slot's end: within the slot the battery is still on its way there.
            moving = abs(plan_slot.battery_power_w or 0.0) * plan_slot.duration_s / 3600.0
            tolerance = SOC_DEVIATION_POINTS + (100.0 * moving / battery.capacity_wh if battery else 0.0)
            intents[inverter_id] = (
                plan_slot,
                SlotIntent(
                    battery_power_w=plan_slot.battery_power_w,
                    expected_solar_w=plan_slot.expected_solar_w + plan_slot.curtail_w,
                    expected_load_w=plan_slot.expected_load_w,
                    curtail_w=plan_slot.curtail_w,
                    paused=plan_slot.mode == PlannedMode.PAUSED,
                    policy=BatteryPolicy(device.policy),
                    max_power_w=max(battery.max_charge_w, battery.max_discharge_w) if battery else None,
                ),
                tolerance,
            )
        return intents, set(by_id)

    async def _carry_out(self, slot: DeviceSlot, planned: tuple[PlanSlot, SlotIntent, float], now: datetime) -> None:
        plan_slot, intent, soc_tolerance = planned
        state = self._devices.setdefault(slot.inverter_id, _DeviceSteering())
        state.soc_tolerance = soc_tolerance
        mode = PlannedMode(plan_slot.mode)
        command = command_for(intent, slot.capabilities.controls if slot.capabilities else frozenset())
        state.planned, state.handed_back = mode, False
        state.target_soc_percent = plan_slot.target_soc_percent
        state.forced = (
            is_forced(intent)
            and command is not None
            and command.mode
            in (
                ControlMode.CHARGE,
                ControlMode.DISCHARGE,
            )
        )
        fields: dict[str, Any] = {"current_mode": mode.value}
        if command is None:
            # a read-only device: planned and shown, but its own logic decides
            fields |= {"actual_steering_state": SteeringState.DEVICE_CONTROL.value}
            self._update(slot.inverter_id, fields)
            return
        # The same command again within its slot's life needs no new message; a new slot renews the revert timer.
        if state.command == command and state.slot_start_s == plan_slot.start_s:
            self._update(slot.inverter_id, fields)
            return
        await self._send(slot, state, command, plan_slot.start_s, mode, now, fields)

    async def _hand_back(self, slot: DeviceSlot, now: datetime) -> None:
        """Smart optimisation off (or the device not planned): back to the device's own logic, once."""
        state = self._devices.get(slot.inverter_id)
        if state is None or state.handed_back:
            return
        state.planned, state.forced, state.handed_back = None, False, True
        fields = {
            "current_mode": None,
            "is_inverter_forced_mode_active": False,
            "is_curtailment_active": False,
            "pause_power_confirmed": False,
        }
        controls = slot.capabilities.controls if slot.capabilities else frozenset()
        if state.command is not None and ControlMode.SELF_CONSUMPTION in controls:
            await self._send(slot, state, Command(ControlMode.SELF_CONSUMPTION), None, None, now, fields)
        else:
            self._update(slot.inverter_id, fields | {"actual_steering_state": SteeringState.DEVICE_CONTROL.value})

    async def _send(
        self,
        slot: DeviceSlot,
        state: _DeviceSteering,
        command: Command,
        slot_start_s: int | None,
        mode: PlannedMode | None,
        now: datetime,
        fields: dict[str, Any],
    ) -> None:
        outcome, error = "sent", None
        try:
            await slot.connector.apply(command)
        except Unsupported as exc:
            outcome, error = "unsupported", str(exc)
        except ConnectorError as exc:
            outcome, error = ("failed" if exc.transient else "rejected"), str(exc) or type(exc).__name__
        except Exception as exc:  # a connector bug costs this device its command, not the loop
            log.exception("applying a command failed unexpectedly", inverter_id=str(slot.inverter_id))
            outcome, error = "failed", f"unexpected {type(exc).__name__}"
        command_id = uuid.uuid4()
        self._command_updates.append(
            {
                "id": command_id,
                "inverter_id": slot.inverter_id,
                "issued_at": now,
                "slot_start_s": slot_start_s,
                "planned_mode": mode.value if mode else None,
                "command_mode": command.mode.value,
                "power_w": command.power_w,
                "limit_w": command.limit_w,
                "outcome": outcome,
                "error": error,
            }
        )
        if outcome == "sent":
            state.command, state.command_id, state.slot_start_s = command, command_id, slot_start_s
            state.unconfirmed_polls, state.confirmed = 0, False
        else:
            state.command = None
            log.warning(
                "device did not take a command", inverter_id=str(slot.inverter_id), outcome=outcome, error=error
            )
            fields |= {
                "steering_status": STEERING_STATUS_WARNING if outcome == "failed" else STEERING_STATUS_ERROR,
                "actual_steering_state": SteeringState.DEVICE_CONTROL.value,
                "is_inverter_forced_mode_active": False,
            }
        self._update(slot.inverter_id, fields)

    # -- after each poll ---------------------------------------------------------------------------

    async def read_back(self, slot: DeviceSlot, reading: Reading, now: datetime) -> None:
        """On the poll after a command: ask the device what is in force and compare it and the
        measured powers with the command (called by the worker within the poll's timeout)."""
        state = self._devices.get(slot.inverter_id)
        if (
            state is None
            or state.command is None
            or (state.confirmed and state.command.mode is ControlMode.SELF_CONSUMPTION)
        ):
            return
        control: ControlState | None
        try:
            control = await slot.connector.read_control()
        except ConnectorError:
            control = None  # no read-back (unsupported, or it failed this time): the measured powers must tell
        battery = slot.capabilities.battery if slot.capabilities else None
        max_power = max(battery.max_charge_w or 0.0, battery.max_discharge_w or 0.0) if battery else None
        result = assess(state.command, control, reading, max_power)
        self._note(slot, state, result, control, reading, now)

    def _note(
        self,
        slot: DeviceSlot,
        state: _DeviceSteering,
        result: ReadBack,
        control: ControlState | None,
        reading: Reading,
        now: datetime,
    ) -> None:
        command = state.command
        if result.confirmed:
            state.confirmed, state.unconfirmed_polls = True, 0
            status = STEERING_STATUS_OK
        else:
            state.unconfirmed_polls += 1
            ignored = state.unconfirmed_polls >= UNCONFIRMED_ERROR_POLLS and not result.reverted
            status = STEERING_STATUS_ERROR if ignored else STEERING_STATUS_WARNING
            if state.unconfirmed_polls < UNCONFIRMED_WARNING_POLLS and not result.reverted:
                status = None  # not yet: a command may take a poll to show
        forced_now = state.forced and result.confirmed
        if forced_now and state.forced_since is None:
            state.forced_since = now
        if not forced_now:
            state.forced_since = None
        in_force = control.mode if control is not None else (command.mode if result.confirmed else None)
        fields: dict[str, Any] = {
            "actual_steering_state": result.state.value,
            "is_inverter_forced_mode_active": forced_now,
            "is_curtailment_active": in_force in (ControlMode.CURTAIL, ControlMode.PAUSE),
            "pause_power_confirmed": in_force is ControlMode.PAUSE,
        }
        if forced_now:
            fields["inverter_forced_mode_since"] = state.forced_since
        if status is not None:
            fields["steering_status"] = status
        self._update(slot.inverter_id, fields)
        if state.command_id is not None:
            self._command_updates.append(
                {
                    "id": state.command_id,
                    "read_back_at": now,
                    "read_back_mode": in_force.value if in_force is not None else None,
                    "measured_battery_w": reading.battery_charge_discharge_power_w,
                    "measured_grid_w": reading.power_to_grid_w,
                    "outcome": "confirmed" if result.confirmed else ("reverted" if result.reverted else "deviating"),
                }
            )
        soc = reading.battery_charge_level_percent
        strayed = (
            state.target_soc_percent is not None
            and soc is not None
            and abs(soc - state.target_soc_percent) > state.soc_tolerance
        )
        rested = state.replanned_at is None or now - state.replanned_at >= REPLAN_PAUSE
        if (result.reverted or strayed or status == STEERING_STATUS_ERROR) and rested:
            state.replanned_at = now
            self._replan.add(slot.inverter_id)

    # -- storing -----------------------------------------------------------------------------------

    def _update(self, inverter_id: uuid.UUID, fields: dict[str, Any]) -> None:
        self._updates.setdefault(inverter_id, {}).update(fields)

    async def _write_updates(self) -> None:
        """Store what the rounds and read-backs found; on failure it stays queued for the next call, as
        monitoring's batches do, with newer values of a field winning."""
        if not self._updates and not self._command_updates:
            return
        updates, self._updates = self._updates, {}
        commands, self._command_updates = self._command_updates, []
        try:
            await asyncio.to_thread(self._write, updates, commands)
        except Exception:
            for inverter_id, fields in updates.items():
                self._updates[inverter_id] = fields | self._updates.get(inverter_id, {})
            self._command_updates[:0] = commands
            raise

    def _write(self, updates: dict[uuid.UUID, dict[str, Any]], commands: list[dict[str, Any]]) -> None:
        """One transaction: new commands, then read-backs and inverter fields as bulk updates by primary key."""
        with self.database.session() as session:
            new = [change for change in commands if "command_mode" in change]
            if new:
                session.execute(insert(SteeringCommand), new)
            read_backs = [change for change in commands if "command_mode" not in change]
            if read_backs:
                session.execute(update(SteeringCommand), read_backs)
            if updates:
                session.execute(
                    update(Inverter), [{"id": inverter_id, **fields} for inverter_id, fields in updates.items()]
                )
