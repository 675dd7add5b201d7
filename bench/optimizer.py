"""Benchmark of the site optimiser: HiGHS LP solve times, a fleet re-plan, and the optimum against linprog.

Three figures, each from realistic random site-days (96 quarter hours: a clear-sky PV curve dimmed by
clouds, a household load with morning and evening peaks, day-ahead prices with their night trough,
solar dip and evening peak, import = spot + fees; battery size, power, efficiency, reserve and SoC,
AC and export limits, policy and forced mode drawn per site):

1. one SitePlanner re-solving a 96-step site with one battery, a different site every time (its model
   warm: built by a first solve that is not measured): p50 and p99 of `solve()` over `--solves`;
2. a re-plan of `--sites` sites by one planner, as one worker would after new prices: a mix of one
   battery inverter (80 %), a PV-only inverter (10 %) and a PV inverter beside a battery inverter in
   one building (10 %); total wall seconds, fallbacks counted;
3. the optimum of `--check` of those sites against an independent dense build of the same LP solved
   with scipy's linprog (tests/optimization): the largest relative difference.

Instances are generated before the clock starts. Prints a table and whether the targets are met.

    .venv/bin/python bench/optimizer.py [--solves 2000] [--sites 10000] [--check 50] [--seed 2026]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from solarfleet.battery_physics import BatteryModel
from solarfleet.optimization.lp import SitePlanner
from solarfleet.optimization.problem import BatteryPolicy, DeviceInput, PlanSource, SiteInput

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from optimization import reference_objective  # the tests' independent linprog build of the LP
from report import command_line, verdict

TARGET_P50_MS = 1.0
TARGET_P99_MS = 5.0
TARGET_FLEET_S = 20.0
STEPS = 96
START = datetime(2026, 6, 17, 22, 0, tzinfo=UTC)  # local midnight in central Europe, summer time
FEES_EUR_MWH = 150.0  # grid fees, levies and VAT on import

console = Console(width=None if sys.stdout.isatty() else 132)


@dataclass(frozen=True)
class Figures:
    solve_ms: np.ndarray
    first_solve_ms: float
    fleet_s: float
    fleet_sites: int
    fleet_fallbacks: int
    checked: int
    max_relative_difference: float
    max_absolute_difference_eur: float


# --- realistic site-days -----------------------------------------------------------------------


def _smooth(rng: np.random.Generator, scale: float, width: int = 8) -> np.ndarray:
    """Slowly varying noise: a random walk's moving average, so neighbouring quarter hours stay alike."""
    noise = rng.normal(0.0, scale, STEPS + width)
    return np.convolve(noise, np.ones(width) / width, mode="valid")[:STEPS]


def _pv(rng: np.random.Generator, kwp: float) -> np.ndarray:
    hours = np.arange(STEPS) / 4
    clear_sky = np.clip(np.sin((hours - 5.5) / 15 * np.pi), 0.0, None) ** 1.5
    clouds = np.clip(rng.uniform(0.3, 1.0) + _smooth(rng, 0.6), 0.05, 1.0)
    return kwp * 1000.0 * 0.8 * clear_sky * clouds


def _load(rng: np.random.Generator) -> np.ndarray:
    hours = np.arange(STEPS) / 4
    profile = 0.3 + 0.4 * np.exp(-(((hours - 7.5) / 1.5) ** 2)) + 0.8 * np.exp(-(((hours - 19.0) / 2.5) ** 2))
    base_w = rng.uniform(300.0, 900.0)
    return np.clip(base_w * profile / 0.5 + _smooth(rng, 400.0, 4), 80.0, None)


def _spot(rng: np.random.Generator) -> np.ndarray:
    hours = np.arange(STEPS) / 4
    shape = (
        90.0
        + 40.0 * np.exp(-(((hours - 8.0) / 1.5) ** 2))
        - rng.uniform(20.0, 110.0) * np.exp(-(((hours - 13.0) / 2.5) ** 2))  # the solar dip, negative some days
        + 80.0 * np.exp(-(((hours - 19.5) / 1.8) ** 2))
        - 25.0 * np.exp(-(((hours - 3.0) / 2.0) ** 2))
    )
    return np.round(shape * rng.uniform(0.7, 1.3) + _smooth(rng, 30.0, 4), 2)


def _battery(rng: np.random.Generator) -> tuple[BatteryModel, float]:
    capacity = rng.uniform(5.0, 15.0) * 1000.0
    power = min(rng.uniform(2500.0, 6000.0), capacity)
    model = BatteryModel.of(capacity, power, power, rng.uniform(0.85, 0.95), rng.choice([5.0, 10.0, 20.0]))
    return model, capacity * rng.uniform(0.05, 1.0)


def _policy(rng: np.random.Generator) -> tuple[BatteryPolicy, bool]:
    policy = rng.choice(
        [BatteryPolicy.SELF_CONSUMPTION, BatteryPolicy.GRID_BALANCING, BatteryPolicy.EXPORT_ALL], p=[0.6, 0.3, 0.1]
    )
    return BatteryPolicy(policy), bool(rng.random() < 0.6)


def site_day(rng: np.random.Generator, kind: str = "battery") -> SiteInput:
    """One site-day; `kind` is `battery` (one hybrid inverter), `pv` (PV only) or `pair` (PV inverter and
    battery inverter in one building)."""
    kwp = rng.uniform(3.0, 12.0)
    ac_limit = round(max(kwp * 1000.0, 4000.0), -2)
    pv = np.minimum(_pv(rng, kwp), ac_limit)
    devices = []
    if kind == "pair":
        devices.append(DeviceInput(pv_w=pv, ac_limit_w=ac_limit))
        pv = np.zeros(STEPS)
    if kind in ("battery", "pair"):
        battery, soc = _battery(rng)
        policy, forced = _policy(rng)
        ac = max(ac_limit, battery.max_charge_w) if kind == "battery" else battery.max_charge_w
        devices.append(
            DeviceInput(pv, battery, soc, ac, policy=policy, forced_mode_allowed=forced, can_curtail=rng.random() < 0.8)
        )
    else:
        devices.append(DeviceInput(pv_w=pv, ac_limit_w=ac_limit))
    spot = _spot(rng)
    feed_in = rng.random() < 0.3  # a fixed feed-in tariff instead of the spot price
    return SiteInput(
        start=START,
        import_price=spot + FEES_EUR_MWH,
        export_price=np.full(STEPS, 80.0) if feed_in else spot,
        load_w=_load(rng),
        devices=tuple(devices),
        export_limit_w=round(0.7 * kwp * 1000.0, -2) if rng.random() < 0.3 else None,
    )


def fleet(rng: np.random.Generator, sites: int) -> list[SiteInput]:
    kinds = rng.choice(["battery", "pv", "pair"], size=sites, p=[0.8, 0.1, 0.1])
    return [site_day(rng, str(kind)) for kind in kinds]


# --- measuring ---------------------------------------------------------------------------------


def measure(options: argparse.Namespace) -> Figures:
    rng = np.random.default_rng(options.seed)
    singles = [site_day(rng) for _ in range(options.solves + 1)]
    sites = fleet(rng, options.sites)

    planner = SitePlanner()
    began = time.perf_counter()
    planner.solve(singles[0])  # builds the model of the shape
    first_ms = (time.perf_counter() - began) * 1000.0
    solve_ms = np.empty(options.solves)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("re-solving one site-day", total=options.solves)
        for index, site in enumerate(singles[1:]):
            began = time.perf_counter()
            planner.solve(site)
            solve_ms[index] = (time.perf_counter() - began) * 1000.0
            progress.advance(task)

    fleet_planner = SitePlanner()
    plans = []
    began = time.perf_counter()
    for site in sites:
        plans.append(fleet_planner.solve(site))
    fleet_s = time.perf_counter() - began
    fallbacks = sum(plan.source != PlanSource.LINEAR_PROGRAM for plan in plans)

    relative, absolute = 0.0, 0.0
    sample = rng.choice(len(sites), size=min(options.check, len(sites)), replace=False)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("checking against linprog", total=len(sample))
        for index in sample:
            expected = reference_objective(sites[index])
            difference = abs(plans[index].objective - expected)
            absolute = max(absolute, difference)
            relative = max(relative, difference / max(abs(expected), 1e-9))
            progress.advance(task)
    return Figures(solve_ms, first_ms, fleet_s, len(sites), fallbacks, len(sample), relative, absolute)


# --- report ------------------------------------------------------------------------------------


def report(figures: Figures, options: argparse.Namespace) -> None:
    p50, p99 = np.percentile(figures.solve_ms, [50, 99])
    table = Table(title="Site optimiser (HiGHS via highspy, one thread)")
    for column in ("measure", "value", "target"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_row("first solve of a 96-step site (model build), ms", f"{figures.first_solve_ms:.2f}", "")
    table.add_row(f"re-solve p50 over {len(figures.solve_ms):,} site-days, ms", f"{p50:.3f}", f"≤ {TARGET_P50_MS:g}")
    table.add_row(f"re-solve p99 over {len(figures.solve_ms):,} site-days, ms", f"{p99:.3f}", f"≤ {TARGET_P99_MS:g}")
    table.add_row("re-solve mean / max, ms", f"{figures.solve_ms.mean():.3f} / {figures.solve_ms.max():.2f}", "")
    table.add_row(f"re-plan of {figures.fleet_sites:,} sites, s", f"{figures.fleet_s:.2f}", f"≤ {TARGET_FLEET_S:g}")
    table.add_row("  fallbacks to the rule-based plan", f"{figures.fleet_fallbacks}", "0")
    table.add_row(
        f"optimum vs linprog on {figures.checked} sites: max relative difference",
        f"{figures.max_relative_difference:.2e}",
        "",
    )
    table.add_row("  max absolute difference, EUR", f"{figures.max_absolute_difference_eur:.2e}", "")
    console.print(table)
    console.print(
        "Times are wall-clock times of SitePlanner.solve (validation, model update, HiGHS, checks and the plan), "
        "on whatever else the machine runs.",
        highlight=False,
    )
    met = {
        f"p50 ≤ {TARGET_P50_MS:g} ms": p50 <= TARGET_P50_MS,
        f"p99 ≤ {TARGET_P99_MS:g} ms": p99 <= TARGET_P99_MS,
        f"{figures.fleet_sites:,} sites ≤ {TARGET_FLEET_S:g} s": figures.fleet_s <= TARGET_FLEET_S,
    }
    console.print(", ".join(f"{name} {verdict(ok)}" for name, ok in met.items()))
    console.print(f"command: {command_line()}", highlight=False, soft_wrap=True)


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solves", type=int, default=2000, help="measured re-solves of a one-battery site-day")
    parser.add_argument("--sites", type=int, default=10_000, help="sites in the fleet re-plan")
    parser.add_argument("--check", type=int, default=50, help="fleet sites checked against linprog")
    parser.add_argument("--seed", type=int, default=2026)
    options = parser.parse_args()
    if options.solves < 1 or options.sites < 1 or options.check < 0:
        parser.error("--solves and --sites must be at least 1, --check at least 0")
    return options


def main() -> int:
    options = parse_options()
    figures = measure(options)
    report(figures, options)
    return 1 if figures.fleet_fallbacks else 0


if __name__ == "__main__":
    sys.exit(main())
