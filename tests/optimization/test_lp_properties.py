"""Random sites (prices including negative ones, PV, load, batteries, limits, policies, pauses, one or two
devices, 4–24 steps): the planner's optimum equals an independent linprog build of the same LP, and its
plans keep every hard limit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from solarfleet.battery_physics import BatteryModel
from solarfleet.optimization.lp import SitePlanner
from solarfleet.optimization.problem import BatteryPolicy, DeviceInput, PlanSource, SiteInput, SitePlan

from . import EA, GB, START, reference_objective

TOLERANCE = 1e-3
# One planner for every example: its models are re-solved across shapes and data, as in a worker.
PLANNER = SitePlanner()
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _steps_of(draw: st.DrawFn, steps: int, low: int, high: int, scale: float) -> np.ndarray:
    return draw(arrays(np.int64, steps, elements=st.integers(low, high))).astype(float) * scale


@st.composite
def devices(draw: st.DrawFn, steps: int) -> DeviceInput:
    pv = _steps_of(draw, steps, 0, 60, 100.0) * draw(st.sampled_from([0.0, 1.0, 1.0]))
    battery = None
    soc_start = 0.0
    if draw(st.booleans()):
        capacity = draw(st.integers(0, 20)) * 1000.0
        floor_percent = draw(st.sampled_from([0.0, 5.0, 20.0, 50.0]))
        battery = BatteryModel.of(
            capacity,
            draw(st.integers(0, 6)) * 1000.0,
            draw(st.integers(0, 6)) * 1000.0,
            draw(st.sampled_from([0.7, 0.85, 0.9, 0.95, 1.0])),
            floor_percent,
            draw(st.sampled_from([floor_percent, 80.0, 100.0])),
        )
        # mostly inside the window, sometimes below the floor or above the ceiling
        soc_start = capacity * draw(st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.9, 1.0]))
    paused = draw(st.none() | arrays(bool, steps))
    ac_limit = draw(st.none() | st.integers(1, 10).map(lambda kw: kw * 1000.0))
    return DeviceInput(
        pv_w=pv if ac_limit is None else np.minimum(pv, ac_limit),  # PV comes after the inverter's limit
        battery=battery,
        soc_start_wh=soc_start,
        ac_limit_w=ac_limit,
        can_curtail=draw(st.booleans()),
        policy=draw(st.sampled_from(list(BatteryPolicy))),
        forced_mode_allowed=draw(st.booleans()),
        paused=paused,
    )


@st.composite
def sites(draw: st.DrawFn) -> SiteInput:
    steps = draw(st.integers(4, 24))
    import_price = _steps_of(draw, steps, -50, 400, 1.0)
    export_price = draw(
        st.sampled_from(
            [
                import_price,  # a spot tariff
                np.maximum(import_price - 150.0, -50.0),  # a retail tariff: fees on import only
                _steps_of(draw, steps, -100, 300, 1.0),  # anything, export dearer than import included
            ]
        )
    )
    return SiteInput(
        start=START,
        import_price=import_price,
        export_price=export_price,
        load_w=_steps_of(draw, steps, 0, 50, 100.0),
        devices=tuple(draw(devices(steps)) for _ in range(draw(st.integers(1, 2)))),
        step_s=draw(st.sampled_from([900, 3600])),
        import_limit_w=draw(st.none() | st.integers(1, 10).map(lambda kw: kw * 1000.0)),
        export_limit_w=draw(st.none() | st.integers(0, 8).map(lambda kw: kw * 1000.0)),
        throughput_cost=draw(st.sampled_from([0.0, 2.0, 10.0])),
    )


@given(sites())
@SETTINGS
def test_the_optimum_equals_an_independent_linprog_build(site: SiteInput) -> None:
    plan = PLANNER.solve(site)
    assert plan.source == PlanSource.LINEAR_PROGRAM, plan.message
    assert plan.objective == pytest.approx(reference_objective(site), rel=1e-6, abs=1e-6)


@given(sites())
@SETTINGS
def test_plans_keep_every_hard_limit(site: SiteInput) -> None:
    plan = PLANNER.solve(site)
    assert plan.source == PlanSource.LINEAR_PROGRAM, plan.message
    assert_hard_limits(site, plan)


def assert_hard_limits(site: SiteInput, plan: SitePlan) -> None:
    """Written from the rules, without the planner's own checks."""
    hours, tol = site.step_hours, TOLERANCE
    load = np.asarray(site.load_w)
    pv_total = sum(d.pv_w for d in site.devices)
    deficit, surplus = np.maximum(load - pv_total, 0), np.maximum(pv_total - load, 0)
    assert min(plan.import_w.min(), plan.export_w.min()) >= -tol
    balance = plan.import_w - plan.export_w - load
    paused = [np.zeros(site.steps, bool) if d.paused is None else d.paused for d in site.devices]
    paused_any = np.logical_or.reduce(paused)
    forced = [d.battery is not None and d.forced_mode_allowed for d in site.devices]
    may_charge = [
        ~p if f and d.policy in (GB, EA) else np.zeros(site.steps, bool)
        for d, f, p in zip(site.devices, forced, paused, strict=True)
    ]
    may_discharge = [
        ~p if f and d.policy == GB else np.zeros(site.steps, bool)
        for d, f, p in zip(site.devices, forced, paused, strict=True)
    ]
    import_open = np.logical_or.reduce(may_charge)
    for k, (device, device_plan) in enumerate(zip(site.devices, plan.devices, strict=True)):
        c, d, u = device_plan.charge_w, device_plan.discharge_w, device_plan.curtail_w
        assert min(c.min(), d.min(), u.min()) >= -tol
        balance += device.pv_w - u - c + d
        assert (u <= (device.pv_w if device.can_curtail else 0.0) + tol).all()
        if device.ac_limit_w is not None:
            assert (np.abs(device.pv_w - u + d - c) <= device.ac_limit_w + tol).all()
        b = device.battery
        if b is None:
            assert not np.concatenate((c, d)).any()
            continue
        assert (c <= b.max_charge_w + tol).all()
        assert (d <= b.max_discharge_w + tol).all()
        if b.max_charge_w > 0 and b.max_discharge_w > 0:
            assert (c / b.max_charge_w + d / b.max_discharge_w <= 1 + 1e-6).all()
        soc = np.concatenate(([device.soc_start_wh], device_plan.soc_wh))
        assert np.allclose(np.diff(soc), b.efficiency * c * hours - d * hours / b.efficiency, atol=tol)
        if b.floor_wh <= device.soc_start_wh <= b.ceiling_wh:
            assert (device_plan.soc_wh >= b.floor_wh - tol).all()
            assert (device_plan.soc_wh <= b.ceiling_wh + tol).all()
        # Where a neighbour opened the meter, a battery that may not use the grid takes only PV surplus.
        held = import_open & ~may_charge[k]
        assert (c[held] <= surplus[held] + tol).all()
    assert np.abs(balance).max() <= tol
    # No grid charging / discharging to the grid unless some battery may do it.
    assert (plan.import_w[~import_open] <= deficit[~import_open] + tol).all()
    closed = ~np.logical_or.reduce(may_discharge) | paused_any
    assert (plan.export_w[closed] <= surplus[closed] + tol).all()
    # A pause stops export, unless reported as a violation (PV nothing could take).
    reported = {v.step: v.amount for v in plan.violations if v.limit == "pause_export"}
    for step in np.flatnonzero(paused_any & (plan.export_w > tol)):
        assert reported.get(int(step)) == pytest.approx(plan.export_w[step])
    if site.import_limit_w is not None:
        over = {v.step for v in plan.violations if v.limit == "import_limit"}
        assert over == set(np.flatnonzero(plan.import_w > site.import_limit_w + tol).tolist())
    assert math.isclose(plan.total_cost_eur, float(np.sum(plan.cost_eur)))
