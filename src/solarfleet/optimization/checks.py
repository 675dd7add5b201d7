"""What makes a site's input plannable and a plan physically sound, for the LP and the fallback alike.

`validate_site` refuses inputs no plan can be made from (a ValueError before any solving).
`plan_residuals` measures how far a plan is from the site's hard physics — energy balance at the
meter, each battery's state-of-charge dynamics, power and inverter limits — so a solver's answer
is trusted only when every residual is within a tolerance. `soft_violations` lists the soft limits
a plan exceeds (grid limits, no export in a pause, the SoC window); they are reported, not fatal.
"""

from __future__ import annotations

import math

import numpy as np

from solarfleet.optimization.problem import DeviceInput, DevicePlan, SiteInput, SitePlan, Violation

TOLERANCE = 1e-3  # W or Wh: far above a simplex solution's rounding, far below anything a device could act on
# No market clears beyond ±10,000 EUR/MWh; the LP's penalties for soft limits are set to dominate that.
MAX_ABS_PRICE = 1e4


def validate_site(site: SiteInput) -> None:
    """Raise ValueError, saying which field, when the site cannot be planned as given."""
    steps = len(site.load_w)
    if steps == 0:
        raise ValueError("the horizon has no steps")
    if not site.devices:
        raise ValueError("a site needs at least one device")
    _series("load_w", site.load_w, steps, non_negative=True)
    for name in ("import_price", "export_price"):
        values = _series(name, getattr(site, name), steps, non_negative=False)
        if np.abs(values).max() > MAX_ABS_PRICE:
            raise ValueError(f"{name} beyond ±{MAX_ABS_PRICE:g} EUR/MWh")
    if not site.step_s > 0:
        raise ValueError("step_s must be positive")
    _number("throughput_cost", site.throughput_cost)
    for name in ("import_limit_w", "export_limit_w"):
        if getattr(site, name) is not None:
            _number(name, getattr(site, name))
    for index, device in enumerate(site.devices):
        _validate_device(f"devices[{index}]", device, steps)


def _validate_device(where: str, device: DeviceInput, steps: int) -> None:
    _series(f"{where}.pv_w", device.pv_w, steps, non_negative=True)
    if device.paused is not None and np.shape(device.paused) != (steps,):
        raise ValueError(f"{where}.paused has {np.size(device.paused)} values for {steps} steps")
    if device.ac_limit_w is not None:
        _number(f"{where}.ac_limit_w", device.ac_limit_w)
        if (np.asarray(device.pv_w) > device.ac_limit_w).any():
            raise ValueError(f"{where}.pv_w above ac_limit_w: PV is given after the inverter's own limit")
    battery = device.battery
    if battery is None:
        return
    for name in ("capacity_wh", "floor_wh", "ceiling_wh", "max_charge_w", "max_discharge_w"):
        _number(f"{where}.battery.{name}", getattr(battery, name))
    _number(f"{where}.soc_start_wh", device.soc_start_wh)
    if battery.floor_wh > battery.ceiling_wh:
        raise ValueError(f"{where}.battery: floor_wh above ceiling_wh")
    if not 0.0 < battery.efficiency <= 1.0:
        raise ValueError(f"{where}.battery.efficiency must lie in (0, 1]")


def _series(name: str, values: np.ndarray, steps: int, non_negative: bool) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.shape != (steps,):
        raise ValueError(f"{name} has shape {array.shape}, the horizon {steps} steps")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    if non_negative and (array < 0).any():
        raise ValueError(f"{name} holds negative values")
    return array


def _number(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number ≥ 0, not {value!r}")


def curtailable_w(device: DeviceInput) -> np.ndarray:
    """PV that may be held back per step: all of it where solarfleet can curtail, else none."""
    pv = np.asarray(device.pv_w, dtype=float)
    return pv if device.can_curtail else np.zeros_like(pv)


def paused_steps(device: DeviceInput, steps: int) -> np.ndarray:
    return np.zeros(steps, dtype=bool) if device.paused is None else np.asarray(device.paused, dtype=bool)


def site_paused(site: SiteInput) -> np.ndarray:
    """Steps in which any device of the site is paused: the site may not export then."""
    paused = np.zeros(site.steps, dtype=bool)
    for device in site.devices:
        paused |= paused_steps(device, site.steps)
    return paused


def plan_residuals(site: SiteInput, plan: SitePlan) -> dict[str, float]:
    """The largest breach of each hard rule in W or Wh (≤ 0 when kept): balance at the meter, SoC dynamics,
    non-negative flows, power limits (each way and together), curtailment, the inverter's AC limit, and
    the SoC window for batteries that start inside it (one that starts outside may take steps to return)."""
    hours = site.step_hours
    balance = plan.import_w - plan.export_w - np.asarray(site.load_w, dtype=float)
    lowest = min(plan.import_w.min(), plan.export_w.min())
    dynamics = power = curtail = ac = window = 0.0
    for device, device_plan in zip(site.devices, plan.devices, strict=True):
        charge, discharge, curtail_w = device_plan.charge_w, device_plan.discharge_w, device_plan.curtail_w
        output = np.asarray(device.pv_w, dtype=float) - curtail_w + discharge - charge  # the inverter's AC side
        balance += output
        lowest = min(lowest, charge.min(), discharge.min(), curtail_w.min())
        curtail = max(curtail, (curtail_w - curtailable_w(device)).max())
        if device.ac_limit_w is not None:
            ac = max(ac, np.abs(output).max() - device.ac_limit_w)
        battery = device.battery
        if battery is None:
            power = max(power, charge.max(), discharge.max())
            continue
        change = np.diff(device_plan.soc_wh, prepend=device.soc_start_wh)
        stored = (battery.efficiency * hours) * charge - (hours / battery.efficiency) * discharge
        dynamics = max(dynamics, np.abs(change - stored).max())
        power = max(power, charge.max() - battery.max_charge_w, discharge.max() - battery.max_discharge_w)
        if battery.max_charge_w > 0 and battery.max_discharge_w > 0:
            # c/max_c + d/max_d ≤ 1, measured in W of charging power
            ratio = battery.max_charge_w / battery.max_discharge_w
            power = max(power, (charge + ratio * discharge).max() - battery.max_charge_w)
        if battery.floor_wh <= device.soc_start_wh <= battery.ceiling_wh:
            soc = device_plan.soc_wh
            window = max(window, battery.floor_wh - soc.min(), soc.max() - battery.ceiling_wh)
    return {
        "balance_w": float(np.abs(balance).max()),
        "soc_dynamics_wh": float(dynamics),
        "negative_flow_w": float(-lowest),
        "power_limit_w": float(power),
        "curtail_w": float(curtail),
        "ac_limit_w": float(ac),
        "soc_window_wh": float(window),
    }


def failed_residuals(residuals: dict[str, float], tolerance: float = TOLERANCE) -> str | None:
    """Why a plan does not check out (the residuals beyond the tolerance), or None when it does."""
    beyond = [f"{name} {value:.3g}" for name, value in residuals.items() if not value <= tolerance]
    return f"residuals beyond {tolerance:g}: " + ", ".join(beyond) if beyond else None


def soft_violations(
    site: SiteInput,
    import_w: np.ndarray,
    export_w: np.ndarray,
    devices: tuple[DevicePlan, ...],
    tolerance: float = TOLERANCE,
) -> tuple[Violation, ...]:
    """Soft limits the plan exceeds by more than the tolerance, step by step: the grid's import and export
    limits, export in a step where a device is paused (`pause_export`), and each battery's SoC window
    (`soc_floor[k]`, `soc_ceiling[k]` for device k)."""
    found: list[Violation] = []

    def check(limit: str, excess: np.ndarray) -> None:
        if excess.max() > tolerance:
            found.extend(
                Violation(limit, int(step), float(excess[step])) for step in np.flatnonzero(excess > tolerance)
            )

    if site.import_limit_w is not None:
        check("import_limit", import_w - site.import_limit_w)
    paused = site_paused(site)
    if paused.any():
        check("pause_export", np.where(paused, export_w, 0.0))
    if site.export_limit_w is not None:
        check("export_limit", np.where(paused, 0.0, export_w - site.export_limit_w))
    for index, (device, plan) in enumerate(zip(site.devices, devices, strict=True)):
        if device.battery is not None:
            check(f"soc_floor[{index}]", device.battery.floor_wh - plan.soc_wh)
            check(f"soc_ceiling[{index}]", plan.soc_wh - device.battery.ceiling_wh)
    return tuple(found)
