"""What the optimiser is asked and what it answers: plain arrays, no database, no I/O.

Units: power in W (average over a step), energy in Wh, prices in EUR/MWh, money in EUR. A step
is `step_s` seconds long (900 by default). Arrays have one value per step of the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np

from solarfleet.battery_physics import BatteryModel

STEP = timedelta(minutes=15)


class BatteryPolicy(StrEnum):
    """The partner's `battery_policy` (wire values are these labels)."""

    SELF_CONSUMPTION = "Optimize self consumption"
    GRID_BALANCING = "Optimize grid balancing"
    EXPORT_ALL = "Export all"


@dataclass(frozen=True)
class DeviceInput:
    """One inverter of the site, with its battery if it has one.

    `battery` limits are the planning window: the state of charge may move between `floor_wh` and
    `ceiling_wh` (the user's limits when enabled, else the device's reserve and full).
    `soc_start_wh` is the measured state of charge at the start of the horizon.
    """

    pv_w: np.ndarray  # PV the panels can give (forecast, AC, after the inverter's own limit), ≥ 0
    battery: BatteryModel | None = None
    soc_start_wh: float = 0.0
    ac_limit_w: float | None = None  # the inverter's AC power, both ways
    can_curtail: bool = True
    policy: BatteryPolicy = BatteryPolicy.SELF_CONSUMPTION
    forced_mode_allowed: bool = False  # is_inverter_forced_mode_enabled: grid charging / discharging to the grid
    paused: np.ndarray | None = None  # bool per step: pause_power_until covers the step


@dataclass(frozen=True)
class SiteInput:
    """One building (or one inverter without a building): its devices share one grid connection."""

    start: datetime  # UTC, on a step boundary
    import_price: np.ndarray  # EUR/MWh paid per MWh taken from the grid
    export_price: np.ndarray  # EUR/MWh earned per MWh fed in (may be negative)
    load_w: np.ndarray  # household consumption forecast of the whole building, ≥ 0
    devices: tuple[DeviceInput, ...]
    step_s: int = 900
    import_limit_w: float | None = None
    export_limit_w: float | None = None
    throughput_cost: float = 2.0  # EUR/MWh per MWh charged and per MWh discharged: no cycling for nothing

    @property
    def steps(self) -> int:
        return len(self.load_w)

    @property
    def step_hours(self) -> float:
        return self.step_s / 3600.0

    def step_start(self, index: int) -> datetime:
        return self.start + timedelta(seconds=self.step_s * index)


@dataclass(frozen=True)
class DevicePlan:
    charge_w: np.ndarray  # AC power into the battery, ≥ 0
    discharge_w: np.ndarray  # AC power out of the battery, ≥ 0
    curtail_w: np.ndarray  # PV held back, ≥ 0
    soc_wh: np.ndarray  # state of charge at the end of each step

    @property
    def battery_w(self) -> np.ndarray:
        """Partner-API sign: positive = discharging."""
        return self.discharge_w - self.charge_w


@dataclass(frozen=True)
class Violation:
    """A soft limit the plan could not keep (e.g. a start below the SoC floor, PV that can be
    neither used nor curtailed in a pause): which, in which step, by how much (W or Wh)."""

    limit: str
    step: int
    amount: float


class PlanSource(StrEnum):
    LINEAR_PROGRAM = "linear_program"
    RULE_BASED = "rule_based"  # the solver failed or gave a solution that did not check out


@dataclass(frozen=True)
class SitePlan:
    source: PlanSource
    import_w: np.ndarray
    export_w: np.ndarray
    devices: tuple[DevicePlan, ...]
    cost_eur: np.ndarray  # per step: import × import price − export × export price
    violations: tuple[Violation, ...] = ()
    message: str | None = None  # why the fallback was used, or what the solver said
    objective: float | None = None
    solve_seconds: float | None = None
    residuals: dict[str, float] = field(default_factory=dict)

    @property
    def grid_w(self) -> np.ndarray:
        """Partner-API sign: positive = export."""
        return self.export_w - self.import_w

    @property
    def total_cost_eur(self) -> float:
        return float(self.cost_eur.sum())


def energy_cost_eur(import_w: np.ndarray, export_w: np.ndarray, site: SiteInput) -> np.ndarray:
    """What each step costs at the site's prices (EUR; negative = earned)."""
    mwh = site.step_hours / 1e6
    return (import_w * site.import_price - export_w * site.export_price) * mwh
