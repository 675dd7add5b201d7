"""The plan a site gets when the LP fails or its answer does not check out: plain self-consumption
(which keeps each battery within its SoC window, or moves it back towards it), plus the pause rule —
no export while a device of the site is paused, so surplus PV the batteries cannot take is curtailed
where an inverter allows it, and what remains is reported as a violation.

Known gap: `self_consumption_plan` does not know the inverters' AC limits, so a battery may be asked
for more than its inverter can pass (the inverter then limits itself); `residuals['ac_limit_w']` shows it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from solarfleet.optimization.checks import curtailable_w, plan_residuals, site_paused, soft_violations
from solarfleet.optimization.problem import DevicePlan, PlanSource, SiteInput, SitePlan, energy_cost_eur
from solarfleet.optimization.self_consumption import self_consumption_plan


def rule_based_plan(site: SiteInput, reason: str, solve_seconds: float | None = None) -> SitePlan:
    """Self-consumption for `site` with pauses respected; `reason` (why the LP was not used) becomes the message."""
    baseline = self_consumption_plan(site)
    export_w = baseline.export_w.copy()
    paused = site_paused(site)
    devices = []
    for device, device_plan in zip(site.devices, baseline.devices, strict=True):
        # Curtail the export of paused steps, device by device, as far as each inverter allows.
        curtail = np.where(paused, np.minimum(curtailable_w(device), export_w), 0.0)
        export_w -= curtail
        devices.append(DevicePlan(device_plan.charge_w, device_plan.discharge_w, curtail, device_plan.soc_wh))
    plan = SitePlan(
        PlanSource.RULE_BASED,
        baseline.import_w,
        export_w,
        tuple(devices),
        energy_cost_eur(baseline.import_w, export_w, site),
        soft_violations(site, baseline.import_w, export_w, tuple(devices)),
        message=reason,
        solve_seconds=solve_seconds,
    )
    return replace(plan, residuals=plan_residuals(site, plan))
