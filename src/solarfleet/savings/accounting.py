"""Savings: what a site paid for its grid energy against what plain self-consumption would have cost.

The baseline runs the same measured PV and household load, quarter hour by quarter hour, through
`self_consumption_plan`: the battery with its real limits, from its measured state of charge at the
start, serving the house from surplus PV, no grid charging. Both sides are priced with the same
`energy_cost_eur` the optimiser plans with (import × import price − export × export price, EUR/MWh).
savings = baseline cost − actual cost: positive when steering paid off.

The baseline nets import against export within each quarter hour while the meter counts both flows,
so a site's gross flows inside a quarter hour (a passing cloud) count against the actual side: the
savings are, if anything, understated.

A quarter hour counts for the money only when its four energies and both prices are known; one that
does not counts for neither side, and the baseline battery rests through it (a gap is no evidence of
what the battery did). Energies (solar, export, ...) add up wherever they were measured.

Periods follow the savings endpoint's resolutions in the site's local time: days from local
midnight (23 or 25 hours on DST days), ISO weeks from Monday, calendar months, quarters and years.
Every period is a sum of whole local days, so daily totals (the stored `savings_days`) add up to any
of them exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import groupby
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np

from solarfleet.battery_physics import BatteryModel
from solarfleet.forecasts.validation import STEP_S, StepGrid, local_wall_clock
from solarfleet.optimization.problem import DeviceInput, SiteInput, energy_cost_eur
from solarfleet.optimization.self_consumption import self_consumption_plan

# A percentage of a baseline cost under one cent (a sunny day the house would have covered itself)
# swings by thousands of percent on rounding alone; it is null, as it is for a baseline that earns.
MIN_BASELINE_COST_EUR = 0.01
# The optimisation score needs a day of data and perfect-foresight savings of at least a cent: below
# that a plan had nothing to gain (flat prices, an empty battery) and any share of it is noise.
MIN_SCORE_DATA_S = 86_400
MIN_PERFECT_SAVINGS_EUR = 0.01
_WH_TO_W = 3600.0 / STEP_S


class SavingsResolution(StrEnum):
    """The savings endpoint's `resolution` values."""

    DAY = "1DAY"
    WEEK = "1WEEK"
    MONTH = "1MONTH"
    QUARTER = "1QUARTER"
    YEAR = "1YEAR"


@dataclass(frozen=True, eq=False)
class MeasuredPeriod:
    """An inverter's measured quarter hours over a contiguous range from `grid.start`, with the prices
    of the same steps. Energies in Wh from the 15MIN rollups (NaN = not measured), prices in EUR/MWh
    (NaN = unknown)."""

    grid: StepGrid
    solar_wh: np.ndarray
    household_wh: np.ndarray
    import_wh: np.ndarray
    export_wh: np.ndarray
    import_price: np.ndarray
    export_price: np.ndarray
    # Net energy out of the battery (partner sign: + = discharged), NaN where not measured; None: not read,
    # the balance of the other four stands in for it.
    battery_wh: np.ndarray | None = None

    def __post_init__(self) -> None:
        names = ("solar_wh", "household_wh", "import_wh", "export_wh", "import_price", "export_price")
        for name in (*names, "battery_wh") if self.battery_wh is not None else names:
            values = np.asarray(getattr(self, name), dtype=float)
            if values.shape != (self.grid.count,):
                raise ValueError(f"{name} has one value per step of the grid ({self.grid.count})")
            object.__setattr__(self, name, values)

    def simulated(self) -> np.ndarray:
        """Steps the baseline can replay: PV and household load both measured."""
        return np.isfinite(self.solar_wh) & np.isfinite(self.household_wh)

    def counted(self) -> np.ndarray:
        """Steps that count for the money: everything measured and priced."""
        known = (self.import_wh, self.export_wh, self.import_price, self.export_price)
        return self.simulated() & np.logical_and.reduce([np.isfinite(values) for values in known])


@dataclass(frozen=True, eq=False)
class StepAccount:
    """Per step, EUR and Wh; zero where a step does not count (see `counted`)."""

    counted: np.ndarray
    actual_cost_eur: np.ndarray
    baseline_cost_eur: np.ndarray
    baseline_import_wh: np.ndarray  # zero where the baseline could not replay the step
    baseline_export_wh: np.ndarray

    @property
    def savings_eur(self) -> np.ndarray:
        return self.baseline_cost_eur - self.actual_cost_eur


def _zero_where_not(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.where(mask, values, 0.0)


def measured_site(period: MeasuredPeriod, battery: BatteryModel | None, soc_start_wh: float) -> SiteInput:
    """The site as it really was: measured PV and load as mean powers per step, the prices, the battery
    with the limits it really had (None without one) from its measured state of charge at the start.
    Steps that do not count carry no energy and no price. The baseline replays it in plain
    self-consumption; the perfect-foresight plan is the optimiser's LP on the same input."""
    simulated, counted = period.simulated(), period.counted()
    return SiteInput(
        start=period.grid.start,
        import_price=_zero_where_not(counted, period.import_price),
        export_price=_zero_where_not(counted, period.export_price),
        load_w=_zero_where_not(simulated, period.household_wh) * _WH_TO_W,
        devices=(DeviceInput(_zero_where_not(simulated, period.solar_wh) * _WH_TO_W, battery, soc_start_wh),),
        step_s=STEP_S,
    )


def account(period: MeasuredPeriod, battery: BatteryModel | None, soc_start_wh: float) -> StepAccount:
    """Actual and baseline cost of every step (see `measured_site` for the arguments)."""
    counted = period.counted()
    site = measured_site(period, battery, soc_start_wh)
    baseline = self_consumption_plan(site)
    actual_import_w, actual_export_w = measured_flows_w(period)
    baseline_battery_w = sum((plan.battery_w for plan in baseline.devices), np.zeros(site.steps))
    import_w, export_w = at_the_meter(period, battery is not None, baseline_battery_w)
    return StepAccount(
        counted=counted,
        actual_cost_eur=energy_cost_eur(actual_import_w, actual_export_w, site),
        baseline_cost_eur=energy_cost_eur(import_w, export_w, site),
        baseline_import_wh=import_w / _WH_TO_W,
        baseline_export_wh=export_w / _WH_TO_W,
    )


def measured_flows_w(period: MeasuredPeriod) -> tuple[np.ndarray, np.ndarray]:
    """Mean import and export power of each counted step (0 elsewhere)."""
    counted = period.counted()
    return _zero_where_not(counted, period.import_wh) * _WH_TO_W, _zero_where_not(counted, period.export_wh) * _WH_TO_W


def at_the_meter(
    period: MeasuredPeriod, has_battery: bool, other_battery_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Import and export of each counted step had the battery given `other_battery_w` (the baseline's,
    the perfect-foresight plan's) instead of what it measured: the meter as measured, less what the
    battery did, plus what the other one would have done (0 elsewhere).

    The meter is the anchor, not a balance of PV and load: those are measured apart, each with its own
    error, and a home whose battery did what the baseline does must save exactly nothing. Within a
    quarter hour a meter also sees both directions (a kettle while the sun shines), and import costs
    more than export earns; that energy is carried over to the other side, so it costs both the same.
    """
    counted = period.counted()
    import_w, export_w = measured_flows_w(period)
    net_w = import_w - export_w
    battery_w = np.zeros(period.grid.count)
    if has_battery:
        balance_w = (period.household_wh - period.solar_wh) * _WH_TO_W - net_w
        measured = period.battery_wh * _WH_TO_W if period.battery_wh is not None else balance_w
        battery_w = np.where(np.isfinite(measured), measured, balance_w)
    other_net_w = np.where(counted, net_w + battery_w - other_battery_w, 0.0)
    both_ways = np.minimum(import_w, export_w)
    return np.clip(other_net_w, 0.0, None) + both_ways, np.clip(-other_net_w, 0.0, None) + both_ways


# -- local days ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SavingsDayTotals:
    """One local day's sums (the fields of the stored `savings_days` row but the perfect-foresight cost)."""

    day: date
    steps: int  # quarter hours that counted for the money
    actual_cost_eur: float
    baseline_cost_eur: float
    solar_wh: float
    export_wh: float
    import_wh: float
    household_wh: float
    baseline_import_wh: float

    @property
    def savings_eur(self) -> float:
        return self.baseline_cost_eur - self.actual_cost_eur


def daily_totals(period: MeasuredPeriod, step_account: StepAccount, timezone: str) -> list[SavingsDayTotals]:
    """Sums per local day of the IANA `timezone`, for the days on which anything was measured."""
    local_days = local_wall_clock(period.grid.bucket_s(), timezone).astype("datetime64[D]")
    days, index = np.unique(local_days, return_inverse=True)

    def per_day(values: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=np.nan_to_num(values, nan=0.0), minlength=len(days))

    energies = (period.solar_wh, period.household_wh, period.import_wh, period.export_wh)
    measured = per_day(np.logical_or.reduce([np.isfinite(values) for values in energies]).astype(float))
    steps = per_day(step_account.counted.astype(float))
    sums = {
        "actual_cost_eur": per_day(step_account.actual_cost_eur),
        "baseline_cost_eur": per_day(step_account.baseline_cost_eur),
        "solar_wh": per_day(period.solar_wh),
        "export_wh": per_day(period.export_wh),
        "import_wh": per_day(period.import_wh),
        "household_wh": per_day(period.household_wh),
        "baseline_import_wh": per_day(step_account.baseline_import_wh),
    }
    return [
        SavingsDayTotals(
            day=day.astype(date), steps=int(steps[i]), **{name: float(values[i]) for name, values in sums.items()}
        )
        for i, day in enumerate(days)
        if measured[i]
    ]


# -- periods ------------------------------------------------------------------------------------------


class DayTotals(Protocol):
    """What period sums need of a day: a SavingsDayTotals or a stored `savings_days` row."""

    day: date
    steps: int
    actual_cost_eur: float
    baseline_cost_eur: float
    solar_wh: float
    export_wh: float


@dataclass(frozen=True)
class SavingsPeriod:
    """One row of the savings endpoint: the period's bounds (UTC instants of local midnights), the
    money (null without a counted quarter hour) and the inverter's energies."""

    resolution: SavingsResolution
    start: datetime
    end: datetime
    steps: int
    savings_eur: float | None
    percentage: float | None
    actual_cost_eur: float
    baseline_cost_eur: float
    solar_production_wh: float
    grid_export_wh: float


def _add_months(day: date, months: int) -> date:
    month = day.year * 12 + day.month - 1 + months
    return day.replace(year=month // 12, month=month % 12 + 1, day=1)


def period_bounds(day: date, resolution: SavingsResolution) -> tuple[date, date]:
    """The local dates of the first day of the period holding `day` and of the next period."""
    if resolution is SavingsResolution.DAY:
        return day, day + timedelta(days=1)
    if resolution is SavingsResolution.WEEK:
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    months = {SavingsResolution.MONTH: 1, SavingsResolution.QUARTER: 3, SavingsResolution.YEAR: 12}[resolution]
    first = _add_months(day.replace(day=1), -((day.month - 1) % months))
    return first, _add_months(first, months)


def local_midnight(day: date, timezone: str) -> datetime:
    """The UTC instant a local day begins (where clocks skip midnight, the moment they skip it)."""
    return datetime.combine(day, time(), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def savings_percentage(savings_eur: float, baseline_cost_eur: float) -> float | None:
    """Savings as a share of what the baseline would have cost; null when that is under a cent."""
    return savings_eur / baseline_cost_eur * 100.0 if baseline_cost_eur >= MIN_BASELINE_COST_EUR else None


def savings_periods(days: Iterable[DayTotals], resolution: SavingsResolution, timezone: str) -> list[SavingsPeriod]:
    """Sum daily totals (any order, one per day) into the periods of `resolution`, in order."""
    rows = []
    ordered = sorted(days, key=lambda total: total.day)
    for (first, after), members in groupby(ordered, key=lambda total: period_bounds(total.day, resolution)):
        group = list(members)
        steps = sum(total.steps for total in group)
        actual = sum(total.actual_cost_eur for total in group)
        baseline = sum(total.baseline_cost_eur for total in group)
        savings = baseline - actual if steps else None
        rows.append(
            SavingsPeriod(
                resolution=resolution,
                start=local_midnight(first, timezone),
                end=local_midnight(after, timezone),
                steps=steps,
                savings_eur=savings,
                percentage=savings_percentage(savings, baseline) if savings is not None else None,
                actual_cost_eur=actual,
                baseline_cost_eur=baseline,
                solar_production_wh=sum(total.solar_wh for total in group),
                grid_export_wh=sum(total.export_wh for total in group),
            )
        )
    return rows


def savings_by_period(
    period: MeasuredPeriod,
    battery: BatteryModel | None,
    soc_start_wh: float,
    resolution: SavingsResolution,
    timezone: str,
) -> list[SavingsPeriod]:
    """Steps to endpoint rows in one go: account, sum per local day, sum the days per period."""
    return savings_periods(daily_totals(period, account(period, battery, soc_start_wh), timezone), resolution, timezone)


def optimization_score(
    realised_savings_eur: float, perfect_foresight_savings_eur: float, data_s: float
) -> float | None:
    """The inverter's `optimization_score`: realised ÷ perfect-foresight savings × 100, clipped to 0–100
    (a plan can lose money, and noise can lift it a little over the LP on the same data); null with
    under MIN_SCORE_DATA_S seconds of data or perfect-foresight savings under MIN_PERFECT_SAVINGS_EUR."""
    if not (math.isfinite(realised_savings_eur) and math.isfinite(perfect_foresight_savings_eur)):
        return None
    if data_s < MIN_SCORE_DATA_S or perfect_foresight_savings_eur < MIN_PERFECT_SAVINGS_EUR:
        return None
    return min(max(realised_savings_eur / perfect_foresight_savings_eur * 100.0, 0.0), 100.0)
