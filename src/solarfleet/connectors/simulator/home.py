"""A physically plausible home with PV, household load, maybe a battery and an EV, stepped minute by minute.

Pure computation: no I/O, no wall clock. The home is told what time it is (`advance_to`), obeys
commands like a hybrid inverter would, and keeps its true parameters in `parameters` so tests of
inference can compare what was learnt with what is true.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from solarfleet.battery_physics import BatteryModel
from solarfleet.connectors.base import (
    BatteryNameplate,
    Capabilities,
    Command,
    ControlMode,
    ControlState,
    Quantity,
    Reading,
)
from solarfleet.connectors.simulator import profiles
from solarfleet.solar_geometry import clear_sky_pv_per_kwp

STEP = timedelta(minutes=1)
_STEP_HOURS = STEP.total_seconds() / 3600
_INITIAL_SOC_SHARE = 0.5  # of the usable window, when a home first comes to life
_NOISE_READINGS = 16  # readings' worth of measurement noise per numpy call: a call costs far more than 4 values


class BatterySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity_kwh: float = Field(gt=0, le=200)
    max_charge_w: float = Field(gt=0, le=50_000)
    max_discharge_w: float = Field(gt=0, le=50_000)
    round_trip_efficiency: float = Field(default=0.92, gt=0.5, le=1.0)
    reserve_percent: float = Field(default=10.0, ge=0, le=50)


class EvSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    power_w: float = Field(default=11_000, ge=3_600, le=22_000)
    sessions_per_week: float = Field(default=3.0, ge=0, le=7)


class HomeParameters(BaseModel):
    """The truth about one simulated home (also the simulator connector's stored settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(ge=0, lt=2**63)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    timezone: str = "Europe/Vienna"
    pv_kwp: float = Field(ge=0, le=100)
    pv_tilt: float = Field(default=30.0, ge=0, le=90)
    pv_azimuth: float = Field(default=180.0, ge=0, lt=360)
    inverter_ac_limit_w: float | None = Field(default=None, gt=0, le=100_000)
    annual_consumption_kwh: float = Field(default=4000.0, gt=0, le=100_000)
    battery: BatterySpec | None = None
    ev: EvSpec | None = None
    household_metered: bool = Field(
        default=True, description="False: no consumption meter, so readings omit household consumption."
    )
    measurement_noise: float = Field(default=0.01, ge=0, le=0.2, description="Relative noise of each reading.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception:
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _ac_limit(self) -> HomeParameters:
        if self.inverter_ac_limit_w is None:
            object.__setattr__(self, "inverter_ac_limit_w", max(self.pv_kwp * 1000.0, 3000.0))
        return self


@dataclass(frozen=True, slots=True)
class HomeState:
    """The true instantaneous powers of the last simulated minute (partner-API signs)."""

    time: datetime
    solar_w: float
    household_w: float
    battery_w: float
    grid_w: float
    soc_percent: float | None
    solar_energy_wh: float
    curtailed_w: float


@lru_cache(maxsize=4096)
def _utc_offset_minutes(timezone: str, day: date) -> int:
    offset = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(timezone)).utcoffset()
    return int(offset.total_seconds() // 60)


class SimulatedHome:
    """One home's physics. Time advances in whole minutes; within a minute every value is constant."""

    def __init__(self, parameters: HomeParameters) -> None:
        self.parameters = parameters
        battery = parameters.battery
        self._capacity_wh = battery.capacity_kwh * 1000.0 if battery else 0.0
        self._battery = (
            BatteryModel.of(
                self._capacity_wh,
                battery.max_charge_w,
                battery.max_discharge_w,
                battery.round_trip_efficiency,
                floor_percent=battery.reserve_percent,
            )
            if battery
            else None
        )
        self._noise = np.random.default_rng([parameters.seed, 4])
        self._noise_drawn = array("d")
        self._noise_used = 0
        self._day: date | None = None
        self._available_w = array("d")
        self._household_w = array("d")
        self._minute: datetime | None = None
        self._soc_wh = 0.0
        self._energy_wh = 0.0
        self._control = ControlState(ControlMode.SELF_CONSUMPTION)
        self._state: HomeState | None = None
        self._capabilities = self._describe()

    # -- commands --------------------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        return self._capabilities

    def _describe(self) -> Capabilities:
        reads = {Quantity.SOLAR_PRODUCTION_W, Quantity.POWER_TO_GRID_W, Quantity.SOLAR_ENERGY_WH}
        if self.parameters.household_metered:
            reads.add(Quantity.HOUSEHOLD_CONSUMPTION_W)
        controls = {ControlMode.SELF_CONSUMPTION, ControlMode.CURTAIL, ControlMode.PAUSE}
        nameplate = None
        if battery := self.parameters.battery:
            reads |= {Quantity.BATTERY_POWER_W, Quantity.BATTERY_SOC_PERCENT}
            controls |= {ControlMode.HOLD, ControlMode.CHARGE, ControlMode.DISCHARGE}
            nameplate = BatteryNameplate(
                capacity_wh=self._capacity_wh,
                max_charge_w=battery.max_charge_w,
                max_discharge_w=battery.max_discharge_w,
                reserve_percent=battery.reserve_percent,
            )
        return Capabilities(
            reads=frozenset(reads),
            controls=frozenset(controls),
            ac_limit_w=self.parameters.inverter_ac_limit_w,
            battery=nameplate,
            identity={"manufacturer": "solarfleet", "model": "simulated home", "serial": f"SIM-{self.parameters.seed}"},
        )

    def apply(self, command: Command, now: datetime) -> ControlState:
        """Take a command at `now`; the inverter clamps power to what the hardware can do."""
        from solarfleet.connectors.base import Unsupported

        if command.mode not in self._capabilities.controls:
            raise Unsupported(f"this home has no battery, so it cannot {command.mode}")
        self.advance_to(now)
        power = command.power_w
        if battery := self.parameters.battery:
            if command.mode is ControlMode.CHARGE:
                power = min(power, battery.max_charge_w)
            elif command.mode is ControlMode.DISCHARGE:
                power = min(power, battery.max_discharge_w)
        reverts_at = now + command.revert_after if command.revert_after else None
        self._control = ControlState(command.mode, power_w=power, limit_w=command.limit_w, reverts_at=reverts_at)
        return self._control

    def control(self, now: datetime) -> ControlState:
        self.advance_to(now)
        return self._control

    # -- physics ---------------------------------------------------------------------------------

    def advance_to(self, when: datetime) -> HomeState:
        """Simulate every whole minute up to `when` (never backwards) and return the latest state."""
        target = when.astimezone(UTC).replace(second=0, microsecond=0)
        if self._minute is None:
            self._minute = target - STEP
            reserve_wh = self._battery.floor_wh if self._battery else 0.0
            self._soc_wh = reserve_wh + _INITIAL_SOC_SHARE * (self._capacity_wh - reserve_wh)
        while self._minute < target:
            self._minute += STEP
            self._state = self._step(self._minute)
        return self._state

    def _profiles_for(self, day: date) -> None:
        p = self.parameters
        offset = _utc_offset_minutes(p.timezone, day)
        clear = clear_sky_pv_per_kwp(round(p.latitude, 2), round(p.longitude, 2), p.pv_tilt, p.pv_azimuth, day)
        available = clear * p.pv_kwp * profiles.cloud_factor(p.seed, day)
        household = profiles.household_load(p.seed, day, p.annual_consumption_kwh, offset)
        if p.ev is not None:
            household = household + profiles.ev_charging(p.seed, day, p.ev.power_w, p.ev.sessions_per_week, offset)
        self._day = day
        # Indexing an array of doubles gives Python floats, several times faster than numpy scalars, and
        # takes 8 bytes a minute where a list of floats takes 32 (a fleet of 100,000 homes holds two each).
        self._available_w = array("d", available.astype(float).tobytes())
        self._household_w = array("d", household.astype(float).tobytes())

    def _step(self, minute: datetime) -> HomeState:
        day = minute.date()
        if day != self._day:
            self._profiles_for(day)
        index = minute.hour * 60 + minute.minute
        control = self._control
        if control.reverts_at is not None and minute >= control.reverts_at:
            control = self._control = ControlState(ControlMode.SELF_CONSUMPTION)
        mode = control.mode

        available = self._available_w[index]
        solar = min(available, self.parameters.inverter_ac_limit_w)
        if mode is ControlMode.CURTAIL:
            solar = min(solar, control.limit_w)
        household = self._household_w[index]

        battery = 0.0
        if self._battery is not None:
            if mode is ControlMode.CHARGE:
                wanted = -control.power_w
            elif mode is ControlMode.DISCHARGE:
                wanted = control.power_w
            elif mode is ControlMode.HOLD:
                wanted = 0.0
            else:  # self-consumption, and under curtailment or pause: the battery serves the house
                wanted = household - solar
            battery, self._soc_wh = self._battery.step(wanted, self._soc_wh, _STEP_HOURS)

        grid = solar + battery - household
        if mode is ControlMode.PAUSE and grid > 0:
            # nothing may leave the house: the inverter throttles PV down to what is used here
            reduction = min(grid, solar)
            solar -= reduction
            grid -= reduction
        self._energy_wh += solar * _STEP_HOURS
        soc = 100.0 * self._soc_wh / self._capacity_wh if self._capacity_wh else None
        return HomeState(minute, solar, household, battery, grid, soc, self._energy_wh, available - solar)

    # -- what a meter would report ----------------------------------------------------------------

    def _wobble(self, noise: float) -> array:
        """The next four relative errors, N(1, noise). Drawn for several readings at a time: the
        generator fills an array value by value, so values and order are those of one draw per reading."""
        if self._noise_used == len(self._noise_drawn):
            self._noise_drawn = array("d", self._noise.normal(1.0, noise, 4 * _NOISE_READINGS).tobytes())
            self._noise_used = 0
        start = self._noise_used
        self._noise_used = start + 4
        return self._noise_drawn[start : start + 4]

    def reading(self, when: datetime) -> Reading:
        """A reading at `when`, with the home's measurement noise on every power."""
        state = self.advance_to(when)
        noise = self.parameters.measurement_noise
        wobble = self._wobble(noise) if noise else (1.0, 1.0, 1.0, 1.0)
        has_battery = self.parameters.battery is not None
        reported = self._capabilities.reads
        return Reading(
            time=when,
            solar_production_w=state.solar_w * wobble[0],
            power_to_grid_w=state.grid_w * wobble[1],
            household_consumption_w=state.household_w * wobble[2] if self.parameters.household_metered else None,
            battery_charge_discharge_power_w=state.battery_w * wobble[3] if has_battery else None,
            battery_charge_level_percent=state.soc_percent,
            solar_energy_wh=state.solar_energy_wh,
            reported=reported,
        )
