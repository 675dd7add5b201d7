"""Shared by the optimiser's tests and bench/optimizer.py: builders of sites, and a reference build of the
site LP for scipy's `linprog`, written independently of `solarfleet.optimization.lp`.

The reference states the model of lp.py's docstring step by step with dense matrices and in plain units
(W, Wh; µEUR in the objective), and formulates the soft limits its own way: the state of charge is one
variable per step, held in its window by penalised rows instead of split columns, and a grid limit is a
row `flow − over ≤ limit`. Only the rules are shared, not the code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
from scipy.optimize import linprog

from solarfleet.battery_physics import BatteryModel
from solarfleet.optimization.problem import BatteryPolicy, DeviceInput, SiteInput

START = datetime(2026, 6, 1, tzinfo=UTC)
PENALTY = 1e5  # EUR/MWh beyond a soft limit (per Wh and step for the SoC window)
GB, SC, EA = BatteryPolicy.GRID_BALANCING, BatteryPolicy.SELF_CONSUMPTION, BatteryPolicy.EXPORT_ALL


def battery(
    capacity_wh: float = 10_000.0,
    max_w: float = 5_000.0,
    round_trip: float = 0.9,
    floor_percent: float = 0.0,
    ceiling_percent: float = 100.0,
) -> BatteryModel:
    return BatteryModel.of(capacity_wh, max_w, max_w, round_trip, floor_percent, ceiling_percent)


def device(pv_w: Sequence[float] | float, steps: int | None = None, **fields: object) -> DeviceInput:
    """A device; a scalar `pv_w` is repeated over `steps`."""
    pv = np.full(steps, float(pv_w)) if steps is not None else np.asarray(pv_w, dtype=float)
    if "paused" in fields and fields["paused"] is not None:
        fields["paused"] = np.asarray(fields["paused"], dtype=bool)
    return DeviceInput(pv_w=pv, **fields)


def site(
    import_price: Sequence[float],
    load_w: Sequence[float] | float,
    devices: Sequence[DeviceInput],
    export_price: Sequence[float] | float | None = None,
    **fields: object,
) -> SiteInput:
    """A site over len(import_price) steps; scalars are repeated, and export is paid the import price
    when no export price is given."""
    prices = np.asarray(import_price, dtype=float)
    steps = len(prices)
    export = prices if export_price is None else np.broadcast_to(np.asarray(export_price, dtype=float), steps)
    return SiteInput(
        start=START,
        import_price=prices,
        export_price=np.array(export),
        load_w=np.broadcast_to(np.asarray(load_w, dtype=float), steps).copy(),
        devices=tuple(devices),
        **fields,
    )


class _Program:
    """Dense rows and columns of a linear program, added one at a time."""

    def __init__(self) -> None:
        self.cost: list[float] = []
        self.bounds: list[tuple[float | None, float | None]] = []
        self.equal: list[tuple[dict[int, float], float]] = []
        self.at_most: list[tuple[dict[int, float], float]] = []

    def var(self, lower: float, upper: float, cost: float = 0.0) -> int:
        self.cost.append(cost)
        self.bounds.append((None if lower == -math.inf else lower, None if upper == math.inf else upper))
        return len(self.cost) - 1

    def solve(self) -> float:
        def dense(rows: list[tuple[dict[int, float], float]]) -> tuple[np.ndarray | None, np.ndarray | None]:
            if not rows:
                return None, None
            matrix = np.zeros((len(rows), len(self.cost)))
            for index, (entries, _) in enumerate(rows):
                for col, value in entries.items():
                    matrix[index, col] += value
            return matrix, np.array([rhs for _, rhs in rows])

        a_ub, b_ub = dense(self.at_most)
        a_eq, b_eq = dense(self.equal)
        result = linprog(self.cost, a_ub, b_ub, a_eq, b_eq, self.bounds, method="highs")
        if result.status != 0:
            raise AssertionError(f"reference LP: {result.message}")
        return float(result.fun)


def reference_objective(site: SiteInput) -> float:
    """The optimum (EUR) of the site's LP, built from the documented rules and solved with linprog."""
    steps, hours = site.steps, site.step_hours
    program = _Program()
    load = np.asarray(site.load_w, dtype=float)
    paused = [np.zeros(steps, bool) if d.paused is None else np.asarray(d.paused, bool) for d in site.devices]
    quantile = float(np.quantile(site.import_price, 0.25))
    stored_value = 0.95 * max(quantile - site.throughput_cost, 0.0)  # EUR/MWh AC, before the discharge loss
    previous_soc: dict[int, int] = {}
    for t in range(steps):
        p_import, p_export = float(site.import_price[t]), float(site.export_price[t])
        net = float(load[t] - sum(d.pv_w[t] for d in site.devices))
        deficit, surplus = max(net, 0.0), max(-net, 0.0)
        any_paused = any(p[t] for p in paused)
        forced = [
            d.battery is not None and d.forced_mode_allowed and not paused[k][t] for k, d in enumerate(site.devices)
        ]
        may_charge = [forced[k] and d.policy in (GB, EA) for k, d in enumerate(site.devices)]
        may_discharge = [forced[k] and d.policy == GB for k, d in enumerate(site.devices)]
        import_open = any(may_charge)
        export_open = any(may_discharge) and not any_paused
        import_cap = math.inf if import_open else deficit
        export_cap = math.inf if export_open else surplus
        if import_cap > 0 and export_cap > 0:
            p_export = min(p_export, p_import)
        grid_import = program.var(0, import_cap, p_import * hours)
        grid_export = program.var(0, export_cap, -p_export * hours)
        if site.import_limit_w is not None:
            over = program.var(0, math.inf, PENALTY * hours)
            program.at_most.append(({grid_import: 1, over: -1}, site.import_limit_w))
        export_limit = 0.0 if any_paused else (math.inf if site.export_limit_w is None else site.export_limit_w)
        if export_limit < math.inf:
            over = program.var(0, math.inf, PENALTY * hours)
            program.at_most.append(({grid_export: 1, over: -1}, export_limit))
        balance = {grid_import: 1.0, grid_export: -1.0}

        grid_takes = 0.0 if site.export_price[t] < 0 else export_limit
        excess = max(surplus - grid_takes, 0.0)
        export_all = [
            d.battery is not None and d.policy == EA and not may_charge[k] for k, d in enumerate(site.devices)
        ]
        export_all_power = sum(d.battery.max_charge_w for k, d in enumerate(site.devices) if export_all[k])
        for k, d in enumerate(site.devices):
            pv = float(d.pv_w[t])
            curtail = program.var(0, pv if d.can_curtail else 0.0)
            balance[curtail] = -1.0
            output = {curtail: -1.0}  # the inverter's AC output is pv + this
            b = d.battery
            if b is not None:
                charge_cap, discharge_cap = b.max_charge_w, b.max_discharge_w
                if export_all[k]:
                    charge_cap = min(charge_cap, excess * b.max_charge_w / export_all_power if export_all_power else 0)
                if import_open and not may_charge[k]:
                    charge_cap = min(charge_cap, surplus)
                if export_open and not may_discharge[k]:
                    discharge_cap = min(discharge_cap, deficit)
                charge = program.var(0, charge_cap, site.throughput_cost * hours)
                discharge = program.var(0, discharge_cap, site.throughput_cost * hours)
                balance[charge], balance[discharge] = -1.0, 1.0
                output[charge], output[discharge] = -1.0, 1.0
                inside = b.floor_wh <= d.soc_start_wh <= b.ceiling_wh
                last = t == steps - 1
                terminal = -b.efficiency * stored_value if last else 0.0
                if inside:
                    soc = program.var(b.floor_wh, b.ceiling_wh, terminal)
                else:
                    soc = program.var(-math.inf, math.inf, terminal)
                    below = program.var(0, math.inf, PENALTY)
                    above = program.var(0, math.inf, PENALTY)
                    program.at_most.append(({soc: -1, below: -1}, -b.floor_wh))
                    program.at_most.append(({soc: 1, above: -1}, b.ceiling_wh))
                dynamics = {soc: 1.0, charge: -b.efficiency * hours, discharge: hours / b.efficiency}
                if t == 0:
                    program.equal.append((dynamics, d.soc_start_wh))
                else:
                    dynamics[previous_soc[k]] = -1.0
                    program.equal.append((dynamics, 0.0))
                previous_soc[k] = soc
                if b.max_charge_w > 0 and b.max_discharge_w > 0:
                    program.at_most.append(({charge: 1 / b.max_charge_w, discharge: 1 / b.max_discharge_w}, 1.0))
            if d.ac_limit_w is not None:
                program.at_most.append((output, d.ac_limit_w - pv))
                program.at_most.append(({col: -value for col, value in output.items()}, d.ac_limit_w + pv))
        program.equal.append((balance, net))
    return program.solve() / 1e6
