"""One linear program per site (one building behind one grid meter) over the price horizon, solved with HiGHS.

Variables per step, all ≥ 0: the site's grid import i and export e (where the site has a grid limit,
split into the part within it and a penalised part beyond it); per device the PV curtailment u and,
with a battery, its AC charge c, discharge d and state of charge s at the end of the step.

Constraints per step t (h = step hours, η = a battery's efficiency each way):
- balance (hard): i − e = load − Σ(pv − u) + Σc − Σd;
- SoC: s[t] = s[t−1] + η·c·h − d·h/η from s[−1] = soc_start_wh; floor ≤ s ≤ ceiling is hard when the
  start lies in the window (the battery can always stay where it is) and soft, with penalised slack,
  when it starts outside;
- power: c ≤ max_charge, d ≤ max_discharge, c/max_charge + d/max_discharge ≤ 1;
- inverter AC limit: −ac ≤ pv − u + d − c ≤ ac;
- curtailment: u ≤ pv where solarfleet can curtail, else u = 0 (PV is given after the inverter's own
  limit, pv ≤ ac, so every input is feasible: the soft limits take what nothing else can);
- grid limits on i and e (soft).

How the policies become bounds (per step; a battery "may charge from the grid" when its device has
forced mode and `Optimize grid balancing` or `Export all`, "may discharge to the grid" when forced mode
and `Optimize grid balancing`; a paused device's battery may do neither):
- the meter: i ≤ max(load − Σpv, 0) unless some battery of the site may charge from the grid, and
  e ≤ max(Σpv − load, 0) unless some battery may discharge to the grid: the grid serves only the
  house's deficit and receives only PV surplus. Several devices share one meter, so the meter opens
  as soon as one device's policy allows it (a neighbour's policy must not block it); then each battery
  that may not use the grid is held to the building's own flows instead: it charges at most the PV
  surplus (c ≤ max(Σpv − load, 0)) and discharges at most the house's deficit (d ≤ max(load − Σpv, 0)).
- `Optimize self consumption`, and `Optimize grid balancing` without forced mode: only the above.
- `Export all`: PV goes to the grid first. A battery without grid charging may charge only from the
  surplus the grid cannot take — above the export limit, all of it at a negative export price or in a
  pause — split among the site's `Export all` batteries in proportion to their charging power. With
  forced mode it may also charge from the grid, and so from any PV (at one meter that is the same flow).
- pause (any device paused in a step): the site exports nothing (the bound e ≤ 0 is soft: PV that no
  battery can take and no inverter can curtail is exported and reported as `pause_export`).

Objective (EUR): Σ (i·p_import − e·p_export)·h/1e6 + throughput_cost·Σ(c + d)·h/1e6 + penalties
− the value of the energy left in each battery at the end. Choices:
- where both import and export are open in a step and export pays more than import costs, export is
  priced at the import price (a meter sees only the net flow; otherwise the LP would import and export
  at once for a profit no site can make); the plan's `cost_eur` uses the real prices.
- terminal value: stored energy at the end is worth η × 0.95 × (25 % quantile of the horizon's import
  prices − throughput_cost), at least 0, per MWh in the cells. Tomorrow's prices are unknown; the energy
  will most likely displace imports then, after the discharge loss η and one more throughput cost.
  A low quantile keeps energy through the cheap end of the horizon instead of dumping it, without
  holding it back through the dear hours; the 5 % discount for tomorrow's uncertainty makes using
  energy now win the tie on flat tariffs, so a fixed-price home still serves itself from its battery.
- penalties: 1e5 EUR/MWh for energy beyond a grid limit, and for each Wh outside the SoC window per
  step: ten times the dearest price any market clears (prices beyond ±1e4 EUR/MWh are refused), so
  soft limits give way only where nothing else can.

Implementation: the HiGHS model of a shape (steps, which grid limits exist, and per device: battery,
soft window, AC limit) is built once and cached; every solve changes costs, column and row bounds in bulk, and the two
battery-dependent matrix coefficients only when they changed, and HiGHS starts from the previous
optimal basis. The objective is scaled to µEUR so prices enter as O(1–1000) (HiGHS's tolerances are
absolute), and each state of charge is counted in units of η·h Wh (what one W of charging stores in
one step), so its dynamics carry a single battery-dependent coefficient, 1/η² on discharge.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace

import highspy
import numpy as np

from solarfleet.optimization.checks import (
    TOLERANCE,
    curtailable_w,
    failed_residuals,
    paused_steps,
    plan_residuals,
    site_paused,
    soft_violations,
    validate_site,
)
from solarfleet.optimization.fallback import rule_based_plan
from solarfleet.optimization.problem import (
    BatteryPolicy,
    DevicePlan,
    PlanSource,
    SiteInput,
    SitePlan,
    energy_cost_eur,
)

PENALTY_EUR_PER_MWH = 1e5
TERMINAL_QUANTILE = 0.25
TOMORROW_DISCOUNT = 0.95
MODELS_KEPT = 32  # shapes differ by horizon length as the day goes on; keep the recent ones
MICRO = 1e6  # objective unit: µEUR
INF = math.inf
GRID_CHARGING = (BatteryPolicy.GRID_BALANCING, BatteryPolicy.EXPORT_ALL)


@dataclass(frozen=True)
class _DeviceShape:
    battery: bool
    soft_window: bool  # the SoC starts outside its window: the window needs penalised slack
    ac_limit: bool


@dataclass(frozen=True)
class _Shape:
    steps: int
    import_limit: bool
    export_limit: bool  # an export limit, or a pause (no export) in some step
    devices: tuple[_DeviceShape, ...]

    @classmethod
    def of(cls, site: SiteInput) -> _Shape:
        return cls(
            site.steps,
            site.import_limit_w is not None,
            site.export_limit_w is not None
            or any(device.paused is not None and np.any(device.paused) for device in site.devices),
            tuple(
                _DeviceShape(
                    device.battery is not None,
                    device.battery is not None
                    and not device.battery.floor_wh <= device.soc_start_wh <= device.battery.ceiling_wh,
                    device.ac_limit_w is not None,
                )
                for device in site.devices
            ),
        )


@dataclass
class _DeviceBlocks:
    """First column or row of each of a device's blocks (one entry per step); None where it has none."""

    curtail: int
    charge: int | None = None
    discharge: int | None = None
    soc: int | None = None
    below: int | None = None  # soft window: s = soc − below + above
    above: int | None = None
    dynamics: int | None = None  # rows
    exclusive: int | None = None
    ac: int | None = None


class _Layout:
    """Where each variable and constraint of a shape sits: blocks of one column (row) per step."""

    def __init__(self, shape: _Shape) -> None:
        self.steps = shape.steps
        self.cols = self.rows = 0
        self.imp, self.exp = self._cols(), self._cols()
        # the penalised flow beyond a soft grid limit, where the site has one
        self.imp_over = self._cols() if shape.import_limit else None
        self.exp_over = self._cols() if shape.export_limit else None
        self.balance = self._rows()
        self.devices: list[_DeviceBlocks] = []
        for device in shape.devices:
            blocks = _DeviceBlocks(self._cols())
            if device.battery:
                blocks.charge, blocks.discharge, blocks.soc = self._cols(), self._cols(), self._cols()
                if device.soft_window:
                    blocks.below, blocks.above = self._cols(), self._cols()
                blocks.dynamics, blocks.exclusive = self._rows(), self._rows()
            if device.ac_limit:
                blocks.ac = self._rows()
            self.devices.append(blocks)

    def _cols(self) -> int:
        self.cols += self.steps
        return self.cols - self.steps

    def _rows(self) -> int:
        self.rows += self.steps
        return self.rows - self.steps

    def span(self, start: int) -> slice:
        return slice(start, start + self.steps)

    def matrix(self, coefficients: list[tuple[float, float] | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The constraint matrix, column-wise (start, index, value), with each battery's (1/η², ratio)."""
        steps = np.arange(self.steps)
        later = steps[1:]
        entries: list[tuple[np.ndarray, np.ndarray, float]] = []

        def add(row: int, col: int, value: float, at: np.ndarray = steps, shift: int = 0) -> None:
            entries.append((row + at, col + at - shift, value))

        for col, sign in ((self.imp, 1.0), (self.imp_over, 1.0), (self.exp, -1.0), (self.exp_over, -1.0)):
            if col is not None:
                add(self.balance, col, sign)
        for blocks, battery in zip(self.devices, coefficients, strict=True):
            add(self.balance, blocks.curtail, -1.0)
            if blocks.ac is not None:
                add(blocks.ac, blocks.curtail, -1.0)
            if battery is None:
                continue
            inverse_efficiency_squared, ratio = battery
            add(self.balance, blocks.charge, -1.0)
            add(self.balance, blocks.discharge, 1.0)
            # s[t] − s[t−1] − c[t] + d[t]/η² = 0, s in units of η·h Wh; a soft window adds −below + above
            for col, sign in ((blocks.soc, 1.0), (blocks.below, -1.0), (blocks.above, 1.0)):
                if col is not None:
                    add(blocks.dynamics, col, sign)
                    add(blocks.dynamics, col, -sign, later, shift=1)
            add(blocks.dynamics, blocks.charge, -1.0)
            add(blocks.dynamics, blocks.discharge, inverse_efficiency_squared)
            # c + d·max_c/max_d ≤ max_c
            add(blocks.exclusive, blocks.charge, 1.0)
            add(blocks.exclusive, blocks.discharge, ratio)
            if blocks.ac is not None:
                add(blocks.ac, blocks.charge, -1.0)
                add(blocks.ac, blocks.discharge, 1.0)
        rows = np.concatenate([row for row, _, _ in entries])
        cols = np.concatenate([col for _, col, _ in entries])
        values = np.concatenate([np.broadcast_to(value, row.shape) for row, _, value in entries])
        order = np.lexsort((rows, cols))
        start = np.concatenate(([0], np.cumsum(np.bincount(cols, minlength=self.cols))))
        return start.astype(np.int32), rows[order].astype(np.int32), values[order]


@dataclass
class _Problem:
    """One site's numbers laid out for a shape: costs, bounds and the battery coefficients."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    coefficients: list[tuple[float, float] | None]  # per device: (1/η², max_charge/max_discharge)
    soc_unit_wh: list[float]  # per device: Wh per unit of its SoC columns (η·h)


def _within_and_over(cap: np.ndarray, limit: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper bounds of a flow's part within a soft limit and of the penalised part beyond it."""
    within = np.minimum(cap, limit)
    # (`where` keeps ∞ − ∞ out where neither the cap nor the limit binds)
    return within, np.subtract(cap, within, out=np.zeros(len(cap)), where=within < cap)


def _terminal_value(import_price: np.ndarray, throughput_cost: float) -> float:
    """EUR per MWh (AC, before the discharge loss) of energy left in a battery at the end of the horizon."""
    # np.quantile costs ~20 µs a call; this is its default (linear) interpolation
    ordered = np.sort(import_price)
    position = TERMINAL_QUANTILE * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    quantile = ordered[below] + (position - below) * (ordered[above] - ordered[below])
    return TOMORROW_DISCOUNT * max(quantile - throughput_cost, 0.0)


def _problem(site: SiteInput, layout: _Layout) -> _Problem:
    """The costs, bounds and coefficients of `site` in its shape's layout, by the rules of the module docstring."""
    steps, hours, devices = site.steps, site.step_hours, site.devices
    import_price = np.asarray(site.import_price, dtype=float)
    export_price = np.asarray(site.export_price, dtype=float)
    pv = [np.asarray(device.pv_w, dtype=float) for device in devices]
    net = np.asarray(site.load_w, dtype=float) - sum(pv)
    deficit, surplus = np.maximum(net, 0.0), np.maximum(-net, 0.0)
    paused = [paused_steps(device, steps) for device in devices]
    any_paused = site_paused(site)

    # Per device, the steps in which its battery may charge from / discharge to the grid.
    never = np.zeros(steps, dtype=bool)
    grid_charge, grid_discharge = [], []
    for device, device_paused in zip(devices, paused, strict=True):
        forced = device.battery is not None and device.forced_mode_allowed
        grid_charge.append(~device_paused if forced and device.policy in GRID_CHARGING else never)
        grid_discharge.append(~device_paused if forced and device.policy == BatteryPolicy.GRID_BALANCING else never)
    import_open = np.logical_or.reduce(grid_charge)
    export_open = np.logical_or.reduce(grid_discharge) & ~any_paused
    import_cap = np.where(import_open, INF, deficit)
    export_cap = np.where(export_open, INF, surplus)
    export_limit = np.where(any_paused, 0.0, INF if site.export_limit_w is None else site.export_limit_w)
    # a meter nets import and export: where both are open, exporting earns at most what importing costs
    both_open = (import_cap > 0) & (export_cap > 0)
    export_lp_price = np.where(both_open, np.minimum(export_price, import_price), export_price)

    cost = np.zeros(layout.cols)
    lower = np.zeros(layout.cols)
    upper = np.empty(layout.cols)
    row_lower = np.empty(layout.rows)
    row_upper = np.empty(layout.rows)
    span = layout.span
    penalty = PENALTY_EUR_PER_MWH * hours
    cost[span(layout.imp)] = import_price * hours
    cost[span(layout.exp)] = -export_lp_price * hours
    if layout.imp_over is None:
        upper[span(layout.imp)] = import_cap
    else:
        cost[span(layout.imp_over)] = import_price * hours + penalty
        upper[span(layout.imp)], upper[span(layout.imp_over)] = _within_and_over(import_cap, site.import_limit_w)
    if layout.exp_over is None:
        upper[span(layout.exp)] = export_cap
    else:
        cost[span(layout.exp_over)] = penalty - export_lp_price * hours
        upper[span(layout.exp)], upper[span(layout.exp_over)] = _within_and_over(export_cap, export_limit)
    row_lower[span(layout.balance)] = row_upper[span(layout.balance)] = net

    # Export all: the surplus the grid cannot take, shared among the Export-all batteries that may not
    # charge from the grid, in proportion to their charging power.
    export_all = [
        ~charge if device.battery is not None and device.policy == BatteryPolicy.EXPORT_ALL else never
        for device, charge in zip(devices, grid_charge, strict=True)
    ]
    weights = [
        mask * (device.battery.max_charge_w if device.battery else 0.0)
        for device, mask in zip(devices, export_all, strict=True)
    ]
    total = sum(weights)
    excess = np.maximum(surplus - np.where(export_price < 0, 0.0, export_limit), 0.0)
    excess_per_w = np.divide(excess, total, out=np.zeros(steps), where=total > 0)
    value_of_stored = _terminal_value(import_price, site.throughput_cost)

    coefficients: list[tuple[float, float] | None] = []
    soc_unit_wh: list[float] = []
    for k, (device, blocks) in enumerate(zip(devices, layout.devices, strict=True)):
        upper[span(blocks.curtail)] = curtailable_w(device)
        if blocks.ac is not None:
            row_lower[span(blocks.ac)] = -device.ac_limit_w - pv[k]
            row_upper[span(blocks.ac)] = device.ac_limit_w - pv[k]
        battery = device.battery
        if battery is None:
            coefficients.append(None)
            soc_unit_wh.append(0.0)
            continue
        charge_cap = np.where(
            export_all[k], np.minimum(excess_per_w * weights[k], battery.max_charge_w), battery.max_charge_w
        )
        charge_cap = np.where(import_open & ~grid_charge[k], np.minimum(charge_cap, surplus), charge_cap)
        upper[span(blocks.charge)] = charge_cap
        upper[span(blocks.discharge)] = np.where(
            export_open & ~grid_discharge[k], np.minimum(battery.max_discharge_w, deficit), battery.max_discharge_w
        )
        cost[span(blocks.charge)] = cost[span(blocks.discharge)] = site.throughput_cost * hours

        efficiency = battery.efficiency
        unit = efficiency * hours
        lower[span(blocks.soc)] = battery.floor_wh / unit
        upper[span(blocks.soc)] = battery.ceiling_wh / unit
        # energy left at the end, valued per Wh in the cells (η × the AC value)
        terminal = efficiency * value_of_stored * unit
        cost[blocks.soc + steps - 1] = -terminal
        if blocks.below is not None:
            upper[span(blocks.below)] = upper[span(blocks.above)] = INF
            cost[span(blocks.below)] = cost[span(blocks.above)] = PENALTY_EUR_PER_MWH * unit
            cost[blocks.below + steps - 1] += terminal
            cost[blocks.above + steps - 1] -= terminal
        row_lower[span(blocks.dynamics)] = row_upper[span(blocks.dynamics)] = 0.0
        row_lower[blocks.dynamics] = row_upper[blocks.dynamics] = device.soc_start_wh / unit
        row_lower[span(blocks.exclusive)] = -INF
        row_upper[span(blocks.exclusive)] = battery.max_charge_w
        both = battery.max_charge_w > 0 and battery.max_discharge_w > 0
        coefficients.append((1.0 / efficiency**2, battery.max_charge_w / battery.max_discharge_w if both else 0.0))
        soc_unit_wh.append(unit)
    return _Problem(cost, lower, upper, row_lower, row_upper, coefficients, soc_unit_wh)


class _Model:
    """The HiGHS model of one shape, re-solved for each site of that shape from the last optimal basis."""

    def __init__(self, layout: _Layout, problem: _Problem, options: Mapping[str, bool | int | float | str]) -> None:
        self.layout = layout
        self.highs = highspy.Highs()
        for name, value in {"output_flag": False, "threads": 1, **options}.items():
            self.highs.setOptionValue(name, value)
        start, index, value = layout.matrix(problem.coefficients)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = layout.cols, layout.rows
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = problem.cost, problem.col_lower, problem.col_upper
        lp.row_lower_, lp.row_upper_ = problem.row_lower, problem.row_upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = start, index, value
        self.highs.passModel(lp)
        self.held = problem  # the numbers the HiGHS model holds now

    def update(self, problem: _Problem) -> bool:
        """Change what differs from the numbers held (HiGHS sorts and copies each change set, so a smaller
        set is faster: typically prices, PV and load, not limits). False if HiGHS refused a change."""
        highs, steps, held = self.highs, self.layout.steps, self.held
        change = highs.changeCoeff  # there is no bulk call for matrix coefficients; they change with the battery
        for blocks, before, after in zip(self.layout.devices, held.coefficients, problem.coefficients, strict=True):
            if after is None:
                continue
            for row, old, new in ((blocks.dynamics, before[0], after[0]), (blocks.exclusive, before[1], after[1])):
                if new != old:
                    for t in range(steps):
                        change(row + t, blocks.discharge + t, new)
        cols = np.flatnonzero(problem.cost != held.cost).astype(np.int32)
        costs = highs.changeColsCost(len(cols), cols, problem.cost[cols])
        cols = np.flatnonzero((problem.col_lower != held.col_lower) | (problem.col_upper != held.col_upper))
        cols = cols.astype(np.int32)
        col_bounds = highs.changeColsBounds(len(cols), cols, problem.col_lower[cols], problem.col_upper[cols])
        rows = np.flatnonzero((problem.row_lower != held.row_lower) | (problem.row_upper != held.row_upper))
        rows = rows.astype(np.int32)
        row_bounds = highs.changeRowsBounds(len(rows), rows, problem.row_lower[rows], problem.row_upper[rows])
        self.held = problem
        return highspy.HighsStatus.kError not in (costs, col_bounds, row_bounds)

    def run(self) -> tuple[highspy.HighsModelStatus, np.ndarray, float]:
        self.highs.run()
        status = self.highs.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            return status, np.empty(0), math.nan
        return status, np.array(self.highs.getSolution().col_value), self.highs.getObjectiveValue()


class SitePlanner:
    """Plans sites with the LP; keeps one HiGHS model per shape and re-solves it warm.

    `options` are HiGHS options applied to every model (e.g. `time_limit`). `solve` raises ValueError for
    inputs no plan can be made from; whatever the solver does, it returns a plan: the LP's when it is
    optimal and checks out within `tolerance`, else the rule-based fallback with the reason as message.
    A planner holds mutable HiGHS models: one per worker thread.
    """

    def __init__(
        self,
        options: Mapping[str, bool | int | float | str] | None = None,
        tolerance: float = TOLERANCE,
        models_kept: int = MODELS_KEPT,
    ) -> None:
        self.options = dict(options or {})
        self.tolerance = tolerance
        self.models_kept = models_kept
        self._models: OrderedDict[_Shape, _Model] = OrderedDict()

    def solve(self, site: SiteInput) -> SitePlan:
        began = time.perf_counter()
        validate_site(site)
        shape = _Shape.of(site)
        model = self._models.pop(shape, None)
        if model is None:
            layout = _Layout(shape)
            problem = _problem(site, layout)
            model = _Model(layout, problem, self.options)
        else:
            problem = _problem(site, model.layout)
            if not model.update(problem):
                return rule_based_plan(site, "HiGHS refused the model's new numbers", time.perf_counter() - began)
        status, solution, objective = model.run()
        if status != highspy.HighsModelStatus.kOptimal:
            # the model is dropped: its next use starts from a fresh build, not from what this run left
            reason = f"HiGHS did not find the optimum: {model.highs.modelStatusToString(status)}"
            return rule_based_plan(site, reason, time.perf_counter() - began)
        plan = self._plan(site, model.layout, problem, solution, objective)
        reason = failed_residuals(plan.residuals, self.tolerance)
        if reason is not None:
            return rule_based_plan(site, f"the LP's plan does not check out: {reason}", time.perf_counter() - began)
        self._models[shape] = model
        while len(self._models) > self.models_kept:
            self._models.popitem(last=False)
        return replace(plan, solve_seconds=time.perf_counter() - began)

    def _plan(self, site: SiteInput, layout: _Layout, problem: _Problem, x: np.ndarray, objective: float) -> SitePlan:
        """The plan in the solution `x`, with its residuals (including the model's own column bounds)."""
        bounds = max((problem.col_lower - x).max(), (x - problem.col_upper).max(), 0.0)
        x = np.clip(x, problem.col_lower, problem.col_upper)  # a simplex solution may cross a bound by ~1e-9
        span = layout.span
        import_w, export_w = x[span(layout.imp)], x[span(layout.exp)]
        if layout.imp_over is not None:
            import_w = import_w + x[span(layout.imp_over)]
        if layout.exp_over is not None:
            export_w = export_w + x[span(layout.exp_over)]
        both = np.minimum(import_w, export_w)  # a meter measures only the net flow
        import_w, export_w = import_w - both, export_w - both
        devices = []
        for device, blocks, unit in zip(site.devices, layout.devices, problem.soc_unit_wh, strict=True):
            curtail = x[span(blocks.curtail)]
            if blocks.soc is None:
                zeros = np.zeros(site.steps)
                devices.append(DevicePlan(zeros, zeros, curtail, np.full(site.steps, device.soc_start_wh)))
                continue
            soc = x[span(blocks.soc)]
            if blocks.below is not None:
                soc = soc - x[span(blocks.below)] + x[span(blocks.above)]
            devices.append(DevicePlan(x[span(blocks.charge)], x[span(blocks.discharge)], curtail, soc * unit))
        plan = SitePlan(
            PlanSource.LINEAR_PROGRAM,
            import_w,
            export_w,
            tuple(devices),
            energy_cost_eur(import_w, export_w, site),
            soft_violations(site, import_w, export_w, tuple(devices), self.tolerance),
            objective=objective / MICRO,
        )
        return replace(plan, residuals={**plan_residuals(site, plan), "model_bounds": float(bounds)})
