"""The daily savings job: every inverter's closed local days priced, replayed and stored.

For each inverter and each local day (in its price zone's time zone) that has ended and holds rollups:
- a `savings_days` row: what the day cost (measured import and export at the tariff's prices), what
  plain self-consumption on the same measured PV and load would have cost (the baseline, see
  `accounting`), what the optimiser's LP would have paid that day knowing its week in advance
  (perfect foresight: `SitePlanner` on `measured_site`, under the device's own policy and forced-mode
  switch), and the day's energies;
- `forecast_errors` rows: the stored plan's PV and load forecasts for the day against the measurements;
then each inverter's `optimization_score` from its last SCORE_DAYS days.

The baseline and the perfect-foresight plan replay each ISO week (from local Monday midnight) from the
battery's measured state of charge at its start, not each day (see `_Replay.week`). A run recomputes
the weeks that hold its last `days_back` days, up to yesterday, and upserts all their days: running it
again (after late readings, or from two workers) stores the same rows, and once a week has ended its
rows no longer change. Inverters are taken in chunks; per chunk there is one query for the rollups, one
for the battery limits seen, one for the plan slots and one tariff book, never a query per day.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from zoneinfo import ZoneInfo

import numpy as np
import structlog
from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from solarfleet.battery_physics import BatteryModel
from solarfleet.connectors.base import Capabilities
from solarfleet.database import ID_CHUNK, Database, in_chunks, utcnow
from solarfleet.forecasts.accuracy import ForecastAccuracy, ForecastQuantity, daily_accuracy
from solarfleet.forecasts.store import store_forecast_errors
from solarfleet.forecasts.validation import STEP, STEP_S, StepGrid, local_wall_clock
from solarfleet.inverters.models import Inverter
from solarfleet.monitoring.store import stored_capabilities
from solarfleet.optimization.lp import SitePlanner
from solarfleet.optimization.models import PlanSlot
from solarfleet.optimization.problem import BatteryPolicy, PlanSource, SiteInput, energy_cost_eur
from solarfleet.prices.store import upsert
from solarfleet.prices.zones import ZONE_LOCATIONS, PriceZone
from solarfleet.savings.accounting import (
    MeasuredPeriod,
    SavingsResolution,
    account,
    at_the_meter,
    daily_totals,
    local_midnight,
    measured_site,
    optimization_score,
    period_bounds,
)
from solarfleet.savings.measured import (
    SEEN_HISTORY_S,
    QuarterHours,
    baseline_battery,
    ids_by_text,
    read_quarter_hours,
    replay_soc_wh,
    seen_batteries,
)
from solarfleet.savings.models import SavingsDay
from solarfleet.tariffs.book import StepPrices
from solarfleet.tariffs.service import load_tariff_book

log = structlog.get_logger(__name__)

# Yesterday, and the day before once more: readings a cloud device delivers late then still count.
# The weeks holding these days are recomputed whole.
DEFAULT_DAYS_BACK = 2
DAILY_RUN_AT = time_of_day(1, 10)  # UTC
SCORE_DAYS = 30  # inverter-fields.md: the optimisation score looks at the last 30 days
# Quarter hours of rollups held in memory at once (about 60 MB); a chunk takes as many inverters as fit.
STEPS_PER_CHUNK = 1_000_000
_SAVED_COLUMNS = tuple(
    column.name for column in SavingsDay.__table__.columns if column.name not in ("inverter_id", "day")
)


@dataclass
class DailyRun:
    """What one run did."""

    inverters: int = 0
    savings_days: int = 0
    forecast_errors: int = 0
    scored: int = 0  # inverters whose optimisation score is a number (not null)
    seconds: float = 0.0

    def add(self, other: DailyRun) -> None:
        self.inverters += other.inverters
        self.savings_days += other.savings_days
        self.forecast_errors += other.forecast_errors
        self.scored += other.scored


def run_daily(
    database: Database,
    now: datetime,
    inverter_ids: Collection[uuid.UUID] | None = None,
    days_back: int = DEFAULT_DAYS_BACK,
    progress: Callable[[int, int], None] | None = None,
) -> DailyRun:
    """Compute and store the closed local days (today excluded: it has not ended) of the weeks that hold
    the last `days_back` of them, for the live inverters among `inverter_ids` (all when None), then their
    optimisation scores. The baseline battery gets the limits of the nameplate its device last reported,
    else those inferred or seen in the battery's history. `progress(done, total)` follows the inverters."""
    if days_back < 1:
        raise ValueError("days_back counts at least yesterday")
    began = time.perf_counter()
    result = DailyRun()
    planner = SitePlanner()  # one for the whole run: the weeks' LPs re-solve the same few models warm
    with database.session(write=False) as session:
        query = select(Inverter.id).where(Inverter.deleted_at.is_(None)).order_by(Inverter.id)
        ids = list(session.scalars(query))
    if inverter_ids is not None:
        wanted = set(inverter_ids)
        ids = [inverter_id for inverter_id in ids if inverter_id in wanted]
    # the days asked for, the rest of the first one's week before them, and the quarter hour before that
    days = days_back + 7
    per_chunk = max(1, min(ID_CHUNK, STEPS_PER_CHUNK // (days * 100)))
    for some in in_chunks(ids, per_chunk):
        with database.session() as session:
            chunk = list(session.scalars(select(Inverter).where(Inverter.id.in_(some))))
            described = stored_capabilities(session, [inverter.id for inverter in chunk])
            result.add(_run_chunk(session, chunk, now, days_back, planner, described))
        if progress is not None:
            progress(result.inverters, len(ids))
    result.seconds = time.perf_counter() - began
    log.info(
        "savings days computed",
        inverters=result.inverters,
        savings_days=result.savings_days,
        forecast_errors=result.forecast_errors,
        scored=result.scored,
        seconds=round(result.seconds, 3),
    )
    return result


def fill_history(
    database: Database, now: datetime, history_days: float, progress: Callable[[int, int], None] | None = None
) -> DailyRun:
    """After the demo filled `history_days` of readings up to `now`: every local day they touched."""
    return run_daily(database, now, days_back=max(math.ceil(history_days) + 1, 1), progress=progress)


def next_daily_run(now: datetime) -> datetime:
    """When the daily job runs next: 01:10 UTC, when the day has ended in every European price zone
    (UTC+0 to UTC+3) and its last quarter hour has been rolled up."""
    today = now.astimezone(UTC).replace(hour=DAILY_RUN_AT.hour, minute=DAILY_RUN_AT.minute, second=0, microsecond=0)
    return today if today > now else today + timedelta(days=1)


# -- one chunk of inverters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Week:
    """Local days replayed in one go, [first, after): from a Monday to the next, or to today."""

    first: date
    after: date


def _weeks(today: date, days_back: int) -> list[_Week]:
    """The weeks that hold the last `days_back` closed days, each up to today at most."""
    monday = period_bounds(today - timedelta(days=days_back), SavingsResolution.WEEK)[0]
    weeks = []
    while monday < today:
        weeks.append(_Week(monday, min(monday + timedelta(days=7), today)))
        monday += timedelta(days=7)
    return weeks


def _timezone(inverter: Inverter) -> str:
    return ZONE_LOCATIONS[PriceZone(inverter.price_zone)].timezone


def _today(inverter: Inverter, now: datetime) -> date:
    return now.astimezone(ZoneInfo(_timezone(inverter))).date()


def _run_chunk(
    session: Session,
    inverters: list[Inverter],
    now: datetime,
    days_back: int,
    planner: SitePlanner,
    capabilities: Mapping[uuid.UUID, Capabilities | None],
) -> DailyRun:
    # One grid for the chunk: from a quarter hour before the earliest Monday midnight (the state of
    # charge at a midnight is read from the quarter hours either side) to the latest midnight of today.
    weeks = {inverter.id: _weeks(_today(inverter, now), days_back) for inverter in inverters}
    start = min(local_midnight(weeks[i.id][0].first, _timezone(i)) for i in inverters) - STEP
    end = max(local_midnight(_today(inverter, now), _timezone(inverter)) for inverter in inverters)
    grid = StepGrid(start, (end - start) // STEP)
    ids = [inverter.id for inverter in inverters]
    measured = read_quarter_hours(session, ids, grid)
    batteries = [inverter.id for inverter in inverters if inverter.is_battery_connected]
    end_s = grid.start_s + grid.count * STEP_S
    seen = seen_batteries(session, batteries, min(grid.start_s, end_s - SEEN_HISTORY_S), end_s)
    forecasts = _plan_forecasts(session, ids, grid)
    book = load_tariff_book(session, inverters, grid.start, grid.end)

    savings_rows: list[dict] = []
    errors: list[tuple[uuid.UUID, ForecastAccuracy]] = []
    computed_at = utcnow()
    for inverter in inverters:
        quarter_hours = measured.get(inverter.id)
        if quarter_hours is None:
            continue
        replay = _Replay(
            quarter_hours,
            book.prices(inverter, grid.start, grid.count),
            inverter,
            baseline_battery(inverter, capabilities.get(inverter.id), seen.get(inverter.id)),
            _timezone(inverter),
            planner,
        )
        for week in weeks[inverter.id]:
            for row in replay.week(week):
                savings_rows.append({"inverter_id": inverter.id, **row, "computed_at": computed_at})
                if inverter.id in forecasts:
                    errors += [
                        (inverter.id, error) for error in replay.forecast_errors(row["day"], *forecasts[inverter.id])
                    ]
    upsert(session, SavingsDay.__table__, savings_rows, key=("inverter_id", "day"), update=_SAVED_COLUMNS)
    stored_errors = store_forecast_errors(session, errors)
    scores = _scores(session, inverters, now)
    for inverter in inverters:
        # the unit of work writes only the scores that changed (and with them `updated_at`)
        inverter.optimization_score = scores[inverter.id]
    return DailyRun(
        inverters=len(inverters),
        savings_days=len(savings_rows),
        forecast_errors=stored_errors,
        scored=sum(score is not None for score in scores.values()),
    )


@dataclass(frozen=True)
class _Replay:
    """One inverter's measurements and prices on the chunk's grid, and how to replay them."""

    quarter_hours: QuarterHours
    prices: StepPrices
    inverter: Inverter
    battery: BatteryModel | None
    timezone: str
    planner: SitePlanner

    def _steps(self, first: date, after: date) -> tuple[int, int]:
        """Where the local days [first, after) lie on the grid: first step and number of steps."""
        start = local_midnight(first, self.timezone)
        return (start - self.quarter_hours.grid.start) // STEP, (local_midnight(after, self.timezone) - start) // STEP

    def week(self, week: _Week) -> list[dict]:
        """The `savings_days` columns of the week's days that hold measurements.

        The baseline and the perfect-foresight plan both run through the whole week from the battery's
        measured state of charge at its first midnight. Restarting them every midnight from the
        measured charge would leave unpriced whatever a day left in (or took out of) the battery: a
        plan that holds the battery below full and exports the PV surplus at noon would be credited
        with the export and never charged for the evening a full battery would have covered, and the
        LP, which values what it leaves in the battery at the end, would keep energy every evening
        that no day's cost accounts for. Across the week the next day settles it. Each week starts
        afresh, and its days are stored whole each time, so their rows are final, whatever the run,
        once the week has ended."""
        index, count = self._steps(week.first, week.after)
        soc_wh = replay_soc_wh(self.inverter, self.battery, self.quarter_hours, index, count)
        import_price = self.prices.import_price[index : index + count]
        export_price = self.prices.export_price[index : index + count]
        if soc_wh is None:
            # no baseline to compare with: the money stays uncounted, the energies are still stored
            import_price = export_price = np.full(count, np.nan)
            soc_wh = 0.0
        period = self.quarter_hours.window(index, count).period(import_price, export_price)
        totals = daily_totals(period, account(period, self.battery, soc_wh), self.timezone)
        if not totals:
            return []
        perfect = self._perfect_foresight_costs(measured_site(period, self.battery, soc_wh), period)
        return [
            {
                "day": total.day,
                "steps": total.steps,
                "actual_cost_eur": total.actual_cost_eur,
                "baseline_cost_eur": total.baseline_cost_eur,
                "perfect_cost_eur": perfect.get(total.day) if total.steps else None,
                "solar_wh": total.solar_wh,
                "export_wh": total.export_wh,
                "import_wh": total.import_wh,
                "household_wh": total.household_wh,
                "baseline_import_wh": total.baseline_import_wh,
                "price_source": self.prices.source.value,
            }
            for total in totals
        ]

    def _perfect_foresight_costs(self, site: SiteInput, period: MeasuredPeriod) -> dict[date, float]:
        """What the LP would have paid on each local day knowing the whole stretch in advance (its PV, load
        and prices), with the battery under the device's policy: grid charging and discharging only
        where the partner allows forced mode. Empty when no optimal plan comes out, as the fallback plan
        is plain self-consumption, not foresight."""
        device = replace(
            site.devices[0],
            policy=BatteryPolicy(self.inverter.battery_policy),
            forced_mode_allowed=self.inverter.is_inverter_forced_mode_enabled,
        )
        try:
            plan = self.planner.solve(replace(site, devices=(device,)))
        except ValueError as exc:  # prices beyond what any market clears: no plan to compare with
            log.warning("no perfect-foresight plan", inverter_id=str(self.inverter.id), reason=str(exc))
            return {}
        if plan.source is not PlanSource.LINEAR_PROGRAM:
            return {}
        import_w, export_w = at_the_meter(period, self.battery is not None, plan.devices[0].battery_w)
        local_days = local_wall_clock(period.grid.bucket_s(), self.timezone).astype("datetime64[D]")
        days, index = np.unique(local_days, return_inverse=True)
        costs = np.bincount(index, weights=energy_cost_eur(import_w, export_w, site), minlength=len(days))
        return {day.astype(date): float(cost) for day, cost in zip(days, costs, strict=True)}

    def forecast_errors(self, day: date, pv_w: np.ndarray, load_w: np.ndarray) -> list[ForecastAccuracy]:
        """The day's PV and load errors over the quarter hours that had both a plan and a usable measurement
        (`pv_w` and `load_w` on the grid, NaN where no plan slot)."""
        index, count = self._steps(day, day + timedelta(days=1))
        window = self.quarter_hours.window(index, count)
        rows = []
        for quantity, forecast, energy in (
            (ForecastQuantity.PV, pv_w[index : index + count], window.solar_wh),
            (ForecastQuantity.LOAD, load_w[index : index + count], window.household_wh),
        ):
            planned = np.isfinite(forecast)
            if planned.any():
                actual = window.steps(energy, planned)
                rows += daily_accuracy(window.grid, np.nan_to_num(forecast), actual, self.timezone, quantity)
        return rows


# -- the plans' forecasts ----------------------------------------------------------------------------------


def _plan_forecasts(
    session: Session, inverter_ids: list[uuid.UUID], grid: StepGrid
) -> dict[uuid.UUID, tuple[np.ndarray, np.ndarray]]:
    """Per inverter, the PV (before curtailment: what the panels were expected to give) and household
    load its stored plan slots expected on `grid`, W, NaN where no slot. Past slots are the last plan
    made before each began, whose forecasts were made on its local day."""
    end_s = grid.start_s + grid.count * STEP_S
    by_text = ids_by_text(inverter_ids)
    found: dict[uuid.UUID, tuple[np.ndarray, np.ndarray]] = {}
    for chunk in in_chunks(inverter_ids):
        query = select(
            cast(PlanSlot.inverter_id, String),
            PlanSlot.start_s,
            PlanSlot.expected_solar_w + PlanSlot.curtail_w,
            PlanSlot.expected_load_w,
        ).where(
            PlanSlot.inverter_id.in_(chunk),
            PlanSlot.start_s >= grid.start_s,
            PlanSlot.start_s < end_s,
        )
        slots: dict[uuid.UUID, list[tuple[int, float, float]]] = defaultdict(list)
        for inverter_id, start_s, pv_w, load_w in session.execute(query):
            slots[by_text[inverter_id]].append((start_s, pv_w, load_w))
        for inverter_id, rows in slots.items():
            table = np.array(rows, dtype=float)
            at = ((table[:, 0] - grid.start_s) // STEP_S).astype(np.int64)
            pv, load = np.full(grid.count, np.nan), np.full(grid.count, np.nan)
            pv[at], load[at] = table[:, 1], table[:, 2]
            found[inverter_id] = (pv, load)
    return found


# -- the optimisation score ----------------------------------------------------------------------------------


def _scores(session: Session, inverters: Iterable[Inverter], now: datetime) -> dict[uuid.UUID, float | None]:
    """Each inverter's score over its last SCORE_DAYS closed local days, from the stored rows: realised
    savings Σ(baseline − actual) against perfect-foresight savings Σ(baseline − perfect), over the days
    that have both."""
    windows = {}
    for inverter in inverters:
        today = now.astimezone(ZoneInfo(_timezone(inverter))).date()
        windows[inverter.id] = (today - timedelta(days=SCORE_DAYS), today)
    earliest = min(first for first, _ in windows.values())
    sums: dict[uuid.UUID, list[float]] = {inverter_id: [0.0, 0.0, 0.0] for inverter_id in windows}
    query = select(
        SavingsDay.inverter_id,
        SavingsDay.day,
        SavingsDay.steps,
        SavingsDay.actual_cost_eur,
        SavingsDay.baseline_cost_eur,
        SavingsDay.perfect_cost_eur,
    ).where(
        SavingsDay.inverter_id.in_(list(windows)),
        SavingsDay.day >= earliest,
        SavingsDay.perfect_cost_eur.is_not(None),
        SavingsDay.steps > 0,
    )
    for inverter_id, day, steps, actual, baseline, perfect in session.execute(query):
        first, today = windows[inverter_id]
        if first <= day < today:
            realised, possible, data_s = sums[inverter_id]
            sums[inverter_id] = [realised + baseline - actual, possible + baseline - perfect, data_s + steps * STEP_S]
    return {inverter_id: optimization_score(*values) for inverter_id, values in sums.items()}
