"""Each battery policy, pause and cost term on small hand-made sites whose answer is known (hourly steps)."""

from __future__ import annotations

import numpy as np
import pytest

from solarfleet.optimization.lp import SitePlanner
from solarfleet.optimization.problem import PlanSource, SiteInput, SitePlan

from . import EA, GB, SC, battery, device, site

HOUR = 3600
TOL = 1e-3
NIGHT_AND_EVENING = [50.0] * 4 + [300.0] * 4  # cheap night, dear evening


def plan_of(site_input: SiteInput) -> SitePlan:
    plan = SitePlanner().solve(site_input)
    assert plan.source == PlanSource.LINEAR_PROGRAM, plan.message
    return plan


def night_and_evening(policy, forced: bool) -> SitePlan:
    """No PV, 1 kW of load, an empty battery; export pays 20 EUR/MWh less than import costs."""
    prices = np.array(NIGHT_AND_EVENING)
    home = device(0.0, 8, battery=battery(), policy=policy, forced_mode_allowed=forced)
    return plan_of(site(prices, 1000.0, [home], prices - 20.0, step_s=HOUR))


def test_grid_balancing_with_forced_mode_charges_at_night_for_the_evening() -> None:
    plan = night_and_evening(GB, forced=True)
    battery_plan = plan.devices[0]
    assert battery_plan.charge_w[:4].sum() > 1000.0
    assert (plan.import_w[:4] >= 1000.0 - TOL).all()  # the house and the battery
    assert battery_plan.discharge_w[4:].sum() > 1000.0
    assert plan.total_cost_eur < night_and_evening(SC, forced=True).total_cost_eur


@pytest.mark.parametrize(("policy", "forced"), [(SC, True), (SC, False), (GB, False), (EA, False)])
def test_without_grid_permission_the_battery_does_not_charge_from_the_grid(policy, forced: bool) -> None:
    plan = night_and_evening(policy, forced)
    assert not plan.devices[0].charge_w.any()
    np.testing.assert_allclose(plan.import_w, 1000.0)
    assert not plan.export_w.any()


def test_self_consumption_stores_midday_surplus_for_the_evening() -> None:
    pv = [0, 4000, 4000, 0, 0]
    home = device(pv, battery=battery(), policy=SC)
    plan = plan_of(site([300.0] * 5, [500, 500, 500, 2000, 2000], [home], 80.0, step_s=HOUR))
    np.testing.assert_allclose(plan.devices[0].charge_w[1:3], 3500.0)
    assert not plan.export_w.any()
    assert plan.devices[0].discharge_w[3:].sum() > 3000.0


def export_all(export_limit_w: float | None, export_price: float = 80.0) -> SitePlan:
    pv = [0, 4000, 4000, 0, 0]
    home = device(pv, battery=battery(), policy=EA)
    return plan_of(
        site([300.0] * 5, [500, 500, 500, 2000, 2000], [home], export_price, step_s=HOUR, export_limit_w=export_limit_w)
    )


def test_export_all_exports_midday_pv_instead_of_storing_it() -> None:
    plan = export_all(export_limit_w=None)
    assert not plan.devices[0].charge_w.any()
    np.testing.assert_allclose(plan.export_w[1:3], 3500.0)


def test_export_all_stores_only_what_the_grid_cannot_take() -> None:
    plan = export_all(export_limit_w=2000.0)
    np.testing.assert_allclose(plan.export_w[1:3], 2000.0)
    np.testing.assert_allclose(plan.devices[0].charge_w[1:3], 1500.0)
    # and the stored energy covers the house in the evening
    assert plan.devices[0].discharge_w[3:].sum() == pytest.approx(2 * 1500.0 * 0.9)
    assert not plan.violations


def test_export_all_stores_at_a_negative_export_price() -> None:
    plan = export_all(export_limit_w=None, export_price=-20.0)
    assert not plan.export_w.any()
    np.testing.assert_allclose(plan.devices[0].charge_w[1:3], 3500.0)


def test_export_all_with_forced_mode_charges_from_the_grid_but_never_discharges_to_it() -> None:
    prices = np.array(NIGHT_AND_EVENING)
    home = device(0.0, 8, battery=battery(), policy=EA, forced_mode_allowed=True)
    plan = plan_of(site(prices, 1000.0, [home], prices + 50.0, step_s=HOUR))  # export pays more than import
    assert plan.devices[0].charge_w[:4].sum() > 1000.0
    assert not plan.export_w.any()


def test_negative_export_price_curtails_or_stores_instead_of_exporting() -> None:
    pv = [0, 6000, 6000, 6000, 0]
    prices = [300.0] * 5
    home = device(pv, battery=battery(capacity_wh=5000.0), policy=SC)
    plan = plan_of(site(prices, 1000.0, [home], [80, -30, -30, -30, 80], step_s=HOUR))
    assert not plan.export_w.any()
    assert plan.devices[0].soc_wh[3] == pytest.approx(5000.0)  # stored what it could
    assert plan.devices[0].curtail_w[1:4].sum() == pytest.approx(3 * 5000.0 - 5000.0 / 0.9**0.5)
    # an inverter that cannot curtail has to export, at a cost, and that is no violation
    fixed = plan_of(site(prices, 1000.0, [device(pv, can_curtail=False)], [80, -30, -30, -30, 80], step_s=HOUR))
    np.testing.assert_allclose(fixed.export_w[1:4], 5000.0)
    assert not fixed.violations


@pytest.mark.parametrize(("throughput_cost", "cycles"), [(0.0, True), (2.0, False)])
def test_throughput_cost_stops_cycling_for_nothing_on_flat_prices(throughput_cost: float, cycles: bool) -> None:
    prices = [100.0, 101.0] * 4  # a 1 EUR/MWh ripple, and a lossless battery
    home = device(0.0, 8, battery=battery(round_trip=1.0), policy=GB, forced_mode_allowed=True)
    plan = plan_of(site(prices, 0.0, [home], step_s=HOUR, throughput_cost=throughput_cost))
    assert bool(plan.devices[0].charge_w.sum() > 1000.0) is cycles


def test_terminal_value_keeps_energy_rather_than_dumping_it_at_the_end() -> None:
    """Full battery, nothing to serve, export paid far below the import price: tomorrow is unknown, so
    the energy stays (valued at 0.95 × (the import prices' lower quartile − throughput cost) × η)."""
    home = device(0.0, 8, battery=battery(), policy=GB, forced_mode_allowed=True, soc_start_wh=10_000.0)
    plan = plan_of(site([250.0] * 8, 0.0, [home], 80.0, step_s=HOUR))
    assert not plan.export_w.any()
    np.testing.assert_allclose(plan.devices[0].soc_wh, 10_000.0)
    # the terminal value enters the objective: −10 kWh × 0.95 × (250 − 2) EUR/MWh × η
    assert plan.objective == pytest.approx(-10.0 * 0.95 * 248.0 * 0.9**0.5 / 1000.0)


def test_terminal_value_does_not_stop_a_home_on_a_flat_tariff_serving_itself() -> None:
    home = device(0.0, 8, battery=battery(), policy=SC, soc_start_wh=10_000.0)
    plan = plan_of(site([300.0] * 8, 1000.0, [home], 80.0, step_s=HOUR))
    np.testing.assert_allclose(plan.devices[0].discharge_w, 1000.0)
    assert not plan.import_w.any()


def test_terminal_value_keeps_energy_through_the_cheap_end_of_the_horizon() -> None:
    prices = [400.0] * 3 + [100.0] * 3 + [40.0] * 2  # lower quartile 85 EUR/MWh
    home = device(0.0, 8, battery=battery(), policy=SC, soc_start_wh=10_000.0)
    plan = plan_of(site(prices, 1000.0, [home], 0.0, step_s=HOUR))
    discharge = plan.devices[0].discharge_w
    np.testing.assert_allclose(discharge[:6], 1000.0)  # worth more than kept
    assert not discharge[6:].any()  # worth less than kept


def test_pause_sends_surplus_to_the_battery_or_curtails_it() -> None:
    pv = [5000.0] * 4
    paused = [False, True, True, False]
    home = device(pv, battery=battery(capacity_wh=3000.0), policy=SC, paused=paused)
    plan = plan_of(site([300.0] * 4, 1000.0, [home], 200.0, step_s=HOUR))
    assert not plan.export_w[1:3].any()
    assert plan.devices[0].curtail_w[1:3].sum() > 0
    assert plan.export_w[3] == pytest.approx(4000.0)
    assert not plan.violations


def test_pause_export_that_nothing_can_take_is_reported() -> None:
    home = device([5000.0] * 3, can_curtail=False, paused=[False, True, False])
    plan = plan_of(site([300.0] * 3, 1000.0, [home], 50.0, step_s=HOUR))
    assert [(v.limit, v.step, v.amount) for v in plan.violations] == [("pause_export", 1, pytest.approx(4000.0))]


def test_pause_stops_grid_charging_and_discharging_to_the_grid() -> None:
    prices = np.array(NIGHT_AND_EVENING)
    paused = [True] * 8
    home = device(0.0, 8, battery=battery(), policy=GB, forced_mode_allowed=True, paused=paused)
    plan = plan_of(site(prices, 1000.0, [home], prices + 50.0, step_s=HOUR))
    assert not plan.devices[0].charge_w.any()
    assert not plan.export_w.any()


def test_start_below_the_floor_recovers_from_pv_and_reports_the_violation() -> None:
    pv = [0.0, 0.0, 3000.0, 3000.0]
    home = device(pv, battery=battery(floor_percent=20.0), policy=SC, soc_start_wh=1000.0)
    plan = plan_of(site([50.0] * 4, 500.0, [home], 20.0, step_s=HOUR))
    soc = plan.devices[0].soc_wh
    np.testing.assert_allclose(soc[:2], 1000.0)  # it neither discharges further nor charges from the grid
    assert soc[2] >= 2000.0 - TOL
    floor_violations = [(v.step, v.amount) for v in plan.violations if v.limit == "soc_floor[0]"]
    assert floor_violations == [(0, pytest.approx(1000.0)), (1, pytest.approx(1000.0))]


def test_import_limit_is_soft_the_battery_helps_and_the_rest_is_reported() -> None:
    home = device(0.0, 2, battery=battery(max_w=2000.0), policy=SC, soc_start_wh=10_000.0)
    plan = plan_of(site([300.0] * 2, 8000.0, [home], 80.0, step_s=HOUR, import_limit_w=5000.0))
    np.testing.assert_allclose(plan.devices[0].discharge_w, 2000.0)
    assert [(v.limit, v.amount) for v in plan.violations] == [("import_limit", pytest.approx(1000.0))] * 2


def test_export_dearer_than_import_does_not_make_the_site_import_and_export_at_once() -> None:
    prices = np.array([100.0, 100.0])
    home = device([3000.0, 3000.0], battery=battery(), policy=GB, forced_mode_allowed=True)
    plan = plan_of(site(prices, 1000.0, [home], [150.0, 150.0], step_s=HOUR, import_limit_w=10_000.0))
    assert (np.minimum(plan.import_w, plan.export_w) <= TOL).all()
    # the cost is at the real prices
    np.testing.assert_allclose(plan.cost_eur, (plan.import_w * 100.0 - plan.export_w * 150.0) / 1e6)
