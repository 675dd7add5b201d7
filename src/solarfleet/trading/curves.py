"""The fleet's curves from stored plan slots, pure: no database, no I/O.

A site (a building, or an inverter without one) is given as the plan slots of its devices over the
same consecutive quarter hours. Its optimised net consumption is the site meter of its plan; its
unoptimised one is plain self-consumption (`self_consumption_plan`) on the plan's own forecasts:
PV available per device = expected_solar_w + curtail_w (what the panels give before curtailment),
the household's load per site, and each device's battery from the state of charge before the first
slot. Energies are Wh per quarter hour of net grid consumption: import − export, so positive = the
site takes energy from the grid.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from solarfleet.battery_physics import BatteryModel
from solarfleet.optimization.models import PlanSlot
from solarfleet.optimization.problem import DeviceInput, SiteInput, SitePlan
from solarfleet.steering.commands import PlannedMode

STEP_S = 900


@dataclass(frozen=True)
class MemberSlots:
    """One device of a site: its slots (the site's quarter hours, in order), its battery as planning
    models it (None without one), and its state of charge before the first slot (% of capacity)."""

    inverter_id: uuid.UUID
    slots: Sequence[PlanSlot]
    battery: BatteryModel | None
    soc_start_percent: float | None


@dataclass(frozen=True)
class SiteSlots:
    members: tuple[MemberSlots, ...]

    @property
    def lead(self) -> Sequence[PlanSlot]:
        # The site meter, the household load and the prices are the site's: every member's slots repeat them.
        return self.members[0].slots


def net_consumption_wh(grid_w: np.ndarray) -> np.ndarray:
    """Wh per quarter hour taken from the grid, from the meter's mean power (partner sign: + = export)."""
    return -np.asarray(grid_w, dtype=float) * STEP_S / 3600.0


def planned_grid_w(site: SiteSlots) -> np.ndarray:
    """The site meter the stored plan expects (+ = export), once per site."""
    return np.array([slot.expected_grid_w for slot in site.lead], dtype=float)


def baseline_input(site: SiteSlots) -> SiteInput:
    """The site as plain self-consumption sees it, on the plan's forecasts and prices. A device without
    a known state of charge starts empty, as the planner assumes."""
    lead = site.lead
    devices = []
    for member in site.members:
        soc_start_wh = 0.0
        if member.battery is not None:
            soc_start_wh = member.battery.capacity_wh * (member.soc_start_percent or 0.0) / 100.0
        devices.append(
            DeviceInput(
                pv_w=np.array([slot.expected_solar_w + slot.curtail_w for slot in member.slots], dtype=float),
                battery=member.battery,
                soc_start_wh=soc_start_wh,
            )
        )
    return SiteInput(
        start=datetime.fromtimestamp(lead[0].start_s, UTC),
        import_price=np.array([slot.import_price_eur_mwh for slot in lead], dtype=float),
        export_price=np.array([slot.export_price_eur_mwh for slot in lead], dtype=float),
        load_w=np.array([slot.expected_load_w for slot in lead], dtype=float),
        devices=tuple(devices),
    )


def baseline_slots(site: SiteSlots, baseline: SiteInput, plan: SitePlan) -> list[dict[str, Any]]:
    """Slot rows (without `plan_run_id`) that put each device of the site on plain self-consumption
    (`plan` = `self_consumption_plan(baseline)`), committed so that re-plans keep them. Costs are the
    site's, per quarter hour, as the planner stores them."""
    grid_w = plan.grid_w
    rows: list[dict[str, Any]] = []
    for member, device, device_plan in zip(site.members, baseline.devices, plan.devices, strict=True):
        battery = member.battery
        rows += [
            {
                "inverter_id": member.inverter_id,
                "start_s": slot.start_s,
                "duration_s": STEP_S,
                "mode": PlannedMode.SELF_CONSUMPTION.value,
                "battery_power_w": float(device_plan.battery_w[index]) if battery is not None else None,
                "target_soc_percent": (
                    float(100.0 * device_plan.soc_wh[index] / battery.capacity_wh) if battery is not None else None
                ),
                "curtail_w": 0.0,
                "expected_solar_w": float(device.pv_w[index]),
                "expected_load_w": float(baseline.load_w[index]),
                "expected_grid_w": float(grid_w[index]),
                "import_price_eur_mwh": float(baseline.import_price[index]),
                "export_price_eur_mwh": float(baseline.export_price[index]),
                "expected_cost_eur": float(plan.cost_eur[index]),
                "committed": True,
            }
            for index, slot in enumerate(member.slots)
        ]
    return rows
