"""The planner as a whole: warm re-solves, the fallback, input validation, and several devices behind one meter."""

from __future__ import annotations

import math
from dataclasses import replace

import highspy
import numpy as np
import pytest

from solarfleet.optimization import lp
from solarfleet.optimization.fallback import rule_based_plan
from solarfleet.optimization.lp import SitePlanner
from solarfleet.optimization.problem import DeviceInput, PlanSource, SiteInput

from . import EA, GB, SC, battery, device, reference_objective, site

HOUR = 3600
TOL = 1e-3


def day_site(seed: int, steps: int = 96) -> SiteInput:
    """A varied site-day: PV, load, prices, battery size, power, efficiency and SoC all drawn afresh."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps) / steps
    pv = np.clip(np.sin((t - 0.25) * 2 * np.pi), 0, None) * rng.uniform(2000, 8000)
    load = 300 + rng.uniform(0, 600, steps) + 2000 * (np.abs(t - 0.8) < 0.08)
    spot = 90 + 60 * np.sin((t - 0.3) * 2 * np.pi) + rng.normal(0, 20, steps)
    capacity = rng.uniform(5000, 15000)
    home = DeviceInput(
        pv_w=pv,
        battery=battery(capacity, rng.uniform(2000, 6000), rng.uniform(0.8, 0.95), floor_percent=10.0),
        soc_start_wh=capacity * rng.uniform(0.1, 1.0),
        ac_limit_w=10_000.0,
        policy=GB,
        forced_mode_allowed=True,
    )
    return site(spot + 150.0, load, [home], spot, export_limit_w=5000.0)


def test_re_solving_one_planner_gives_what_a_fresh_planner_gives() -> None:
    warm = SitePlanner()
    for seed in range(20):
        day = day_site(seed)
        again = warm.solve(day)
        fresh = SitePlanner().solve(day)
        assert again.source == fresh.source == PlanSource.LINEAR_PROGRAM
        assert again.objective == pytest.approx(fresh.objective, rel=1e-9, abs=1e-9)
        np.testing.assert_allclose(again.grid_w, fresh.grid_w, atol=TOL)
        np.testing.assert_allclose(again.devices[0].soc_wh, fresh.devices[0].soc_wh, atol=TOL)


def test_re_solving_across_shapes_matches_the_reference() -> None:
    planner = SitePlanner(models_kept=2)
    for seed in range(12):
        day = day_site(seed, steps=[24, 12, 24, 8][seed % 4])
        assert planner.solve(day).objective == pytest.approx(reference_objective(day), rel=1e-6, abs=1e-6)


def test_an_iteration_limit_falls_back_to_the_rule_based_plan_with_the_reason() -> None:
    plan = SitePlanner(options={"simplex_iteration_limit": 0}).solve(day_site(1))
    assert plan.source == PlanSource.RULE_BASED
    assert "Iteration limit reached" in plan.message
    assert plan.objective is None
    assert plan.solve_seconds is not None


def test_a_solver_status_other_than_optimal_falls_back_and_the_planner_recovers(monkeypatch) -> None:
    planner = SitePlanner()
    day = day_site(2)
    monkeypatch.setattr(highspy.Highs, "getModelStatus", lambda _: highspy.HighsModelStatus.kInfeasible)
    failed = planner.solve(day)
    assert failed.source == PlanSource.RULE_BASED
    assert failed.message == "HiGHS did not find the optimum: Infeasible"
    monkeypatch.undo()
    assert planner.solve(day).source == PlanSource.LINEAR_PROGRAM


def test_a_refused_model_update_falls_back(monkeypatch) -> None:
    planner = SitePlanner()
    planner.solve(day_site(4))
    monkeypatch.setattr(highspy.Highs, "changeColsCost", lambda *_: highspy.HighsStatus.kError)
    plan = planner.solve(day_site(5))
    assert plan.source == PlanSource.RULE_BASED
    assert plan.message == "HiGHS refused the model's new numbers"


def test_a_solution_that_does_not_check_out_falls_back_with_the_residual(monkeypatch) -> None:
    solve = lp._Model.run

    def corrupted(model: lp._Model) -> tuple[highspy.HighsModelStatus, np.ndarray, float]:
        status, solution, objective = solve(model)
        solution[model.layout.imp] += 0.5  # half a watt imported that the balance does not hold
        return status, solution, objective

    monkeypatch.setattr(lp._Model, "run", corrupted)
    plan = SitePlanner().solve(day_site(3))
    assert plan.source == PlanSource.RULE_BASED
    assert plan.message.startswith("the LP's plan does not check out: residuals beyond 0.001: balance_w 0.5")


def test_the_fallback_keeps_the_pause_and_the_soc_window() -> None:
    paused = [False, True, True, False]
    curtailable = device([5000.0] * 4, battery=battery(capacity_wh=2000.0, floor_percent=20.0), paused=paused)
    fixed = device([1000.0] * 4, can_curtail=False)
    day = site([300.0] * 4, 1000.0, [curtailable, fixed], 80.0, step_s=HOUR)
    plan = rule_based_plan(day, "test")
    assert plan.source == PlanSource.RULE_BASED
    assert plan.message == "test"
    assert not plan.export_w[1:3].any()
    assert plan.export_w[3] == pytest.approx(5000.0)  # the battery is full by then
    soc = plan.devices[0].soc_wh
    assert (soc >= 400.0 - TOL).all()
    assert (soc <= 2000.0 + TOL).all()
    assert all(value <= TOL for value in plan.residuals.values())
    # PV that neither a battery nor a curtailable inverter can take is exported, and reported
    stuck = rule_based_plan(site([300.0] * 2, 0.0, [device([800.0] * 2, can_curtail=False, paused=[True, True])]), "x")
    assert [(v.limit, v.amount) for v in stuck.violations] == [("pause_export", pytest.approx(800.0))] * 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: replace(s, load_w=np.array([np.nan] * 4)), "load_w holds NaN"),
        (lambda s: replace(s, import_price=np.ones(3)), "import_price has shape (3,)"),
        (lambda s: replace(s, export_price=np.full(4, 2e4)), "export_price beyond"),
        (lambda s: replace(s, devices=(replace(s.devices[0], pv_w=-np.ones(4)),)), "devices[0].pv_w holds negative"),
        (lambda s: replace(s, devices=(replace(s.devices[0], pv_w=np.ones(5)),)), "devices[0].pv_w has shape"),
        (lambda s: replace(s, devices=(replace(s.devices[0], paused=np.ones(3, bool)),)), "devices[0].paused"),
        (lambda s: replace(s, devices=(replace(s.devices[0], ac_limit_w=0.5),)), "above ac_limit_w"),
        (lambda s: replace(s, devices=(replace(s.devices[0], soc_start_wh=math.inf),)), "soc_start_wh"),
        (lambda s: replace(s, devices=()), "at least one device"),
        (lambda s: replace(s, import_limit_w=-1.0), "import_limit_w"),
    ],
)
def test_invalid_inputs_raise_before_solving(change, message: str) -> None:
    valid = site([100.0] * 4, 500.0, [device(1.0, 4, battery=battery())])
    SitePlanner().solve(valid)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        SitePlanner().solve(change(valid))


def test_a_battery_window_upside_down_is_refused() -> None:
    upside_down = replace(battery(), floor_wh=6000.0, ceiling_wh=5000.0)
    with pytest.raises(ValueError, match="floor_wh above ceiling_wh"):
        SitePlanner().solve(site([100.0] * 2, 0.0, [device(0.0, 2, battery=upside_down)]))


# --- several devices of one building behind one meter -------------------------------------------


def test_a_battery_inverter_stores_the_neighbouring_pv_inverters_surplus() -> None:
    pv_only = device([0, 5000, 5000, 0, 0])
    battery_only = device(0.0, 5, battery=battery(), policy=SC)
    plan = SitePlanner().solve(
        site([300.0] * 5, [500, 500, 500, 2000, 2000], [pv_only, battery_only], 80.0, step_s=HOUR)
    )
    assert plan.source == PlanSource.LINEAR_PROGRAM
    np.testing.assert_allclose(plan.devices[1].charge_w[1:3], 4500.0)
    assert not plan.export_w.any()
    np.testing.assert_allclose(plan.devices[1].discharge_w[3:], 2000.0)  # and covers the evening
    assert not plan.import_w[1:].any()
    assert not plan.devices[0].charge_w.any()


def test_one_devices_grid_permission_does_not_extend_to_its_neighbour() -> None:
    prices = np.array([50.0] * 4 + [300.0] * 4)
    arbitrage = device(0.0, 8, battery=battery(), policy=GB, forced_mode_allowed=True)
    self_use = device(0.0, 8, battery=battery(), policy=SC, forced_mode_allowed=True, soc_start_wh=5000.0)
    building = site(prices, 1000.0, [arbitrage, self_use], prices - 20.0, step_s=HOUR)
    plan = SitePlanner().solve(building)
    assert plan.devices[0].charge_w[:4].sum() > 1000.0  # the meter is open for the first battery
    assert plan.export_w[4:].sum() > 1000.0  # both ways
    # but the second takes only PV surplus (there is none) and gives at most the house's deficit
    assert not plan.devices[1].charge_w.any()
    assert (plan.devices[1].discharge_w <= 1000.0 + TOL).all()
    assert plan.objective == pytest.approx(reference_objective(building))


def test_a_pause_of_one_device_stops_the_export_of_the_whole_site() -> None:
    paused = device([3000.0] * 2, paused=[True, False])
    free = device([3000.0] * 2, can_curtail=False)
    plan = SitePlanner().solve(site([300.0] * 2, 1000.0, [paused, free], 80.0, step_s=HOUR))
    assert plan.export_w[0] == pytest.approx(2000.0)  # what nothing can take, reported
    assert plan.devices[0].curtail_w[0] == pytest.approx(3000.0)
    assert [(v.limit, v.step) for v in plan.violations] == [("pause_export", 0)]
    assert plan.export_w[1] == pytest.approx(5000.0)


def test_export_all_batteries_share_what_the_grid_cannot_take_by_charging_power() -> None:
    pv = device([9000.0, 0.0])
    small = device(0.0, 2, battery=battery(max_w=1000.0), policy=EA)
    large = device(0.0, 2, battery=battery(max_w=3000.0), policy=EA)
    plan = SitePlanner().solve(
        site([300.0] * 2, [1000.0, 2000.0], [pv, small, large], 80.0, step_s=HOUR, export_limit_w=6000.0)
    )
    assert plan.export_w[0] == pytest.approx(6000.0)
    assert plan.devices[1].charge_w[0] == pytest.approx(500.0)
    assert plan.devices[2].charge_w[0] == pytest.approx(1500.0)
