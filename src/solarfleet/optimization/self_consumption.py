"""Plain self-consumption: what a site does with no price steering. Each battery serves the house
from PV surplus and covers the deficit, within its limits; nothing is charged from the grid or
discharged to it, nothing is curtailed. It is the savings baseline and the heart of the fallback plan.
"""

from __future__ import annotations

import numpy as np

from solarfleet.optimization.problem import DevicePlan, PlanSource, SiteInput, SitePlan, energy_cost_eur


def self_consumption_plan(site: SiteInput, message: str | None = None) -> SitePlan:
    """Simulate the site step by step. Batteries take the house's deficit or surplus in device order
    (the first covers what it can, the next the rest), as the devices of one building share one meter."""
    steps, hours = site.steps, site.step_hours
    net = np.asarray(site.load_w, dtype=float) - sum(np.asarray(d.pv_w, dtype=float) for d in site.devices)
    remaining = net.tolist()
    plans = []
    for device in site.devices:
        battery_w = np.zeros(steps)
        soc = np.full(steps, device.soc_start_wh, dtype=float)
        if device.battery is not None:
            soc_wh = device.soc_start_wh
            step = device.battery.step
            pv = np.asarray(device.pv_w, dtype=float).tolist()
            limit = device.ac_limit_w if device.ac_limit_w is not None else float("inf")
            for index in range(steps):
                # the inverter passes PV and battery together: at most its AC limit either way
                wanted = min(max(remaining[index], -limit - pv[index]), limit - pv[index])
                power, soc_wh = step(wanted, soc_wh, hours)
                battery_w[index] = power
                soc[index] = soc_wh
                remaining[index] -= power
        plans.append(DevicePlan(np.clip(-battery_w, 0, None), np.clip(battery_w, 0, None), np.zeros(steps), soc))
    grid_deficit = np.asarray(remaining)
    import_w = np.clip(grid_deficit, 0, None)
    export_w = np.clip(-grid_deficit, 0, None)
    return SitePlan(
        PlanSource.RULE_BASED,
        import_w,
        export_w,
        tuple(plans),
        energy_cost_eur(import_w, export_w, site),
        message=message,
    )
