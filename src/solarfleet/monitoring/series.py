"""The time series of one inverter, from its rollups: average powers and state of charge per UTC bucket.

15MIN, 1HOUR and 1DAY points are the stored rollups themselves; 1WEEK (ISO weeks, from Monday 00:00)
and 1MONTH (calendar months) add up the daily rollups. A bucket's energies become average powers over
the time its readings cover (`covered_s`), not over its nominal width, so a gap in monitoring does not
drag an average towards zero. Buckets without readings are left out: solarfleet invents no values.

Each point also carries the bucket's import price (the tariff book), the household consumption the
stored plan expected (its slots) and the grid import plain self-consumption would have had (the savings
baseline, replayed from the quarter-hour rollups), each null where it is not known.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from solarfleet.api.errors import FieldError
from solarfleet.forecasts.validation import STEP, StepGrid
from solarfleet.inverters.models import Inverter
from solarfleet.inverters.service import owned_inverter
from solarfleet.monitoring.energy import RESOLUTION_SECONDS, bucket_start
from solarfleet.monitoring.models import ReadingRollup
from solarfleet.monitoring.schemas import (
    BATTERY_KEYWORDS,
    DERIVED_VALUES_NOTE,
    UNITS,
    DataKeyword,
    DataResolution,
    InverterDataMetadata,
    InverterDataOut,
    InverterDataPoint,
)
from solarfleet.monitoring.store import stored_capabilities
from solarfleet.optimization.models import PlanSlot
from solarfleet.prices.curve import PriceSource
from solarfleet.savings.accounting import account
from solarfleet.savings.measured import (
    SEEN_HISTORY_S,
    baseline_battery,
    read_quarter_hours,
    replay_soc_wh,
    seen_batteries,
)
from solarfleet.tariffs.book import StepPrices
from solarfleet.tariffs.service import load_tariff_book

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST = datetime.min.replace(tzinfo=UTC)  # a Monday and the first of a month: a boundary of every bucket
MAX_POINTS = 10_000
# Without from_datetime the range starts this many buckets before the one holding to_datetime:
# 1 day of quarter hours, 7 days of hours, 31 days, 26 weeks, 12 months.
DEFAULT_BUCKETS = {
    DataResolution.QUARTER_HOUR: 96,
    DataResolution.HOUR: 168,
    DataResolution.DAY: 31,
    DataResolution.WEEK: 26,
    DataResolution.MONTH: 12,
}
_WIDTHS = {DataResolution(name): timedelta(seconds=seconds) for name, seconds in RESOLUTION_SECONDS.items()}
_WIDTHS[DataResolution.WEEK] = timedelta(weeks=1)
# Calendar buckets are not stored; they are added up from these.
_SOURCES = {DataResolution.WEEK: DataResolution.DAY, DataResolution.MONTH: DataResolution.DAY}
_SECOND = timedelta(seconds=1)
_QUERY = "query"


# -- buckets -----------------------------------------------------------------------------------------


def epoch_s(moment: datetime) -> int:
    """Whole seconds since the epoch, rounded down (also before 1970), as rollups key their buckets."""
    return (moment - EPOCH) // _SECOND


def bucket_floor(moment: datetime, resolution: DataResolution) -> datetime:
    """Start of the UTC bucket that holds `moment`."""
    if resolution is DataResolution.MONTH:
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if resolution is DataResolution.WEEK:
        day = bucket_floor(moment, DataResolution.DAY)
        return day - timedelta(days=day.weekday())
    return EPOCH + timedelta(seconds=bucket_start(epoch_s(moment), resolution))


def shift(bucket: datetime, resolution: DataResolution, count: int) -> datetime:
    """The bucket `count` buckets later (earlier when negative); OverflowError outside years 1–9999."""
    if resolution is DataResolution.MONTH:
        month = bucket.year * 12 + bucket.month - 1 + count
        if not 1 <= month // 12 <= 9999:
            raise OverflowError("date value out of range")
        return bucket.replace(year=month // 12, month=month % 12 + 1)
    return bucket + count * _WIDTHS[resolution]


def bucket_count(start: datetime, end: datetime, resolution: DataResolution) -> int:
    """How many buckets lie between two bucket boundaries."""
    if resolution is DataResolution.MONTH:
        return (end.year - start.year) * 12 + end.month - start.month
    return (end - start) // _WIDTHS[resolution]


@dataclass(frozen=True, slots=True)
class Span:
    """Whole buckets: from the start of the first to the end (exclusive) of the last."""

    resolution: DataResolution
    start: datetime
    end: datetime


def requested_span(
    resolution: DataResolution, from_datetime: datetime | None, to_datetime: datetime | None, now: datetime
) -> Span:
    """The buckets that overlap [from_datetime, to_datetime), defaults filled in (to: now; from:
    DEFAULT_BUCKETS before to). FieldError (422) for an empty range or one of more than MAX_POINTS."""
    to_given = to_datetime is not None
    to_datetime = to_datetime if to_given else now
    last = bucket_floor(to_datetime, resolution)
    try:
        end = last if last == to_datetime else shift(last, resolution, 1)
    except OverflowError:
        raise FieldError("to_datetime", "too late: its bucket would end after the year 9999", _QUERY) from None
    if from_datetime is None:
        try:
            start = shift(last, resolution, -DEFAULT_BUCKETS[resolution])
        except OverflowError:
            start = EARLIEST
    elif from_datetime >= to_datetime:
        raise FieldError(
            "from_datetime", "must be before to_datetime" + ("" if to_given else " (now, when not given)"), _QUERY
        )
    else:
        start = bucket_floor(from_datetime, resolution)
    count = bucket_count(start, end, resolution)
    if count > MAX_POINTS:
        raise FieldError(
            "from_datetime",
            f"the range holds {count} buckets of {resolution}, more than the {MAX_POINTS} served at once: "
            "narrow it or choose a coarser resolution",
            _QUERY,
        )
    return Span(resolution, start, end)


# -- values --------------------------------------------------------------------------------------------


class Sums(NamedTuple):
    """What a rollup adds up over its bucket (ReadingRollup columns of the same names)."""

    covered_s: float
    solar_wh: float | None
    household_wh: float | None
    export_wh: float | None
    import_wh: float | None
    charge_wh: float | None
    discharge_wh: float | None
    soc_weighted: float | None
    soc_covered_s: float | None


_SUM_COLUMNS = tuple(getattr(ReadingRollup, name) for name in Sums._fields)


def _total(values: Iterable[float | None]) -> float | None:
    """Like SQL's sum: None only when every value is None."""
    present = [value for value in values if value is not None]
    return sum(present) if present else None


def merge(buckets: Iterable[Sums]) -> Sums:
    return Sums._make(_total(column) for column in zip(*buckets, strict=True))


def _net(gained: float | None, lost: float | None) -> float | None:
    return None if gained is None or lost is None else gained - lost


def _average_w(energy_wh: float | None, sums: Sums) -> float | None:
    return None if energy_wh is None or not sums.covered_s else energy_wh * 3600.0 / sums.covered_s


def _mean_soc(sums: Sums) -> float | None:
    return None if sums.soc_weighted is None or not sums.soc_covered_s else sums.soc_weighted / sums.soc_covered_s


def _no_battery(_sums: Sums) -> None:
    return None


# Signs as the contract: grid positive = export, battery positive = discharging.
VALUE_OF: dict[DataKeyword, Callable[[Sums], float | None]] = {
    DataKeyword.SOLAR_PRODUCTION_W: lambda s: _average_w(s.solar_wh, s),
    DataKeyword.EXPORT_POWER_TO_GRID_W: lambda s: _average_w(_net(s.export_wh, s.import_wh), s),
    DataKeyword.HOUSEHOLD_CONSUMPTION_W: lambda s: _average_w(s.household_wh, s),
    DataKeyword.BATTERY_CHARGE_LEVEL_PERCENT: _mean_soc,
    DataKeyword.BATTERY_CHARGE_DISCHARGE_POWER_W: lambda s: _average_w(_net(s.discharge_wh, s.charge_wh), s),
}


@dataclass(frozen=True, slots=True)
class Derived:
    """What a bucket's point carries beyond its measurements (see DERIVED_VALUES_NOTE); None where unknown."""

    price: float | None = None
    estimated_consumption: float | None = None
    unoptimized_consumption: float | None = None


_UNKNOWN = Derived()


def bucket_starts(rollups: Iterable[tuple[int, Sums]], resolution: DataResolution) -> list[datetime]:
    """The start of every bucket the rollups (sorted, of the resolution's source) fall into, in order."""
    starts = [EPOCH + timedelta(seconds=s) for s, _ in rollups]
    if resolution in _SOURCES:
        starts = [start for start, _ in itertools.groupby(bucket_floor(start, resolution) for start in starts)]
    return starts


def points(
    rollups: Iterable[tuple[int, Sums]],
    resolution: DataResolution,
    keywords: Sequence[DataKeyword],
    has_battery: bool,
    derived: Mapping[datetime, Derived] | None = None,
) -> list[InverterDataPoint]:
    """Data points from rollups of the resolution's source (sorted by bucket start, epoch seconds), with
    the `derived` values of each bucket start (none when not given)."""
    buckets: Iterable[tuple[datetime, Sums]] = ((EPOCH + timedelta(seconds=s), sums) for s, sums in rollups)
    if resolution in _SOURCES:
        buckets = (
            (start, merge(sums for _, sums in days))
            for start, days in itertools.groupby(buckets, key=lambda bucket: bucket_floor(bucket[0], resolution))
        )
    # Battery fields stay null for an inverter without a battery, as they do in its live state.
    value_of = {k.value: VALUE_OF[k] if has_battery or k not in BATTERY_KEYWORDS else _no_battery for k in keywords}
    derived = derived or {}
    data = []
    for start, sums in buckets:
        extra = derived.get(start, _UNKNOWN)
        data.append(
            InverterDataPoint(
                time=start,
                price=extra.price,
                estimated_consumption=extra.estimated_consumption,
                unoptimized_consumption=extra.unoptimized_consumption,
                **{name: value(sums) for name, value in value_of.items()},
            )
        )
    return data


# -- prices, the plan and the baseline per bucket ---------------------------------------------------------


def derived_values(
    session: Session, inverter: Inverter, starts: Sequence[datetime], resolution: DataResolution
) -> tuple[dict[datetime, Derived], PriceSource | None]:
    """Price, planned and baseline consumption of each bucket starting at `starts` (sorted), computed on
    the quarter hours from the first bucket's start to the last one's end: a fixed number of queries
    however many buckets there are. Also where the prices came from (None without buckets)."""
    if not starts:
        return {}, None
    ends = [shift(start, resolution, 1) for start in starts]
    grid = StepGrid(starts[0], (ends[-1] - starts[0]) // STEP)
    prices = load_tariff_book(session, [inverter], grid.start, grid.end).prices(inverter, grid.start, grid.count)
    first = np.array([(start - grid.start) // STEP for start in starts])
    after = np.array([(end - grid.start) // STEP for end in ends])
    price = _per_bucket(prices.import_price, first, after, mean=True)
    width_s = RESOLUTION_SECONDS[_SOURCES.get(resolution, resolution)]
    planned = _per_bucket(_planned_load_wh(session, inverter.id, grid, width_s), first, after, mean=False)
    baseline = _per_bucket(_baseline_import_wh(session, inverter, grid, prices), first, after, mean=False)
    values = {start: Derived(price[index], planned[index], baseline[index]) for index, start in enumerate(starts)}
    return values, prices.source


def _per_bucket(values: np.ndarray, first: np.ndarray, after: np.ndarray, mean: bool) -> list[float | None]:
    """The sum (or mean) of the known quarter-hour values in each bucket [first, after); None where none is known."""
    known = np.isfinite(values)
    totals = np.concatenate(([0.0], np.cumsum(np.where(known, values, 0.0))))
    counts = np.concatenate(([0], np.cumsum(known)))
    sums, numbers = totals[after] - totals[first], counts[after] - counts[first]
    return [
        None if number == 0 else float(total / number if mean else total)
        for total, number in zip(sums.tolist(), numbers.tolist(), strict=True)
    ]


def _planned_load_wh(session: Session, inverter_id: uuid.UUID, grid: StepGrid, width_s: int) -> np.ndarray:
    """The household energy (Wh) the stored plan expected in each `width_s` bucket of `grid` (summed in
    SQL), placed at the bucket's first quarter hour; NaN where nothing was planned. Past slots keep the
    last plan made before they began."""
    bucket_s = PlanSlot.start_s - PlanSlot.start_s % width_s
    rows = session.execute(
        select(bucket_s, func.sum(PlanSlot.expected_load_w * PlanSlot.duration_s) / 3600.0)
        .where(
            PlanSlot.inverter_id == inverter_id,
            PlanSlot.start_s >= grid.start_s,
            PlanSlot.start_s < grid.start_s + grid.count * STEP.seconds,
        )
        .group_by(bucket_s)
    )
    planned = np.full(grid.count, np.nan)
    for start_s, energy_wh in rows:
        planned[(start_s - grid.start_s) // STEP.seconds] = energy_wh
    return planned


def _baseline_import_wh(session: Session, inverter: Inverter, grid: StepGrid, prices: StepPrices) -> np.ndarray:
    """The grid import (Wh) of plain self-consumption on the measured PV and load of each quarter hour of
    `grid`, replayed from the battery's measured state of charge at the grid's start; NaN where PV or
    load were not measured, everywhere when a connected battery cannot be replayed."""
    unknown = np.full(grid.count, np.nan)
    # one quarter hour before the grid: the state of charge at its start is read from both sides
    around = StepGrid(grid.start - STEP, grid.count + 1)
    measured = read_quarter_hours(session, [inverter.id], around).get(inverter.id)
    if measured is None:
        return unknown
    battery = None
    if inverter.is_battery_connected:
        end_s = around.start_s + around.count * STEP.seconds
        seen = seen_batteries(session, [inverter.id], min(around.start_s, end_s - SEEN_HISTORY_S), end_s)
        described = stored_capabilities(session, [inverter.id]).get(inverter.id)
        battery = baseline_battery(inverter, described, seen.get(inverter.id))
    soc_wh = replay_soc_wh(inverter, battery, measured, 1, grid.count)
    if soc_wh is None:
        return unknown
    period = measured.window(1, grid.count).period(prices.import_price, prices.export_price)
    return np.where(period.simulated(), account(period, battery, soc_wh).baseline_import_wh, np.nan)


# -- the endpoint ------------------------------------------------------------------------------------


def read_rollups(session: Session, inverter_id: uuid.UUID, span: Span) -> list[tuple[int, Sums]]:
    source = _SOURCES.get(span.resolution, span.resolution)
    rows = session.execute(
        select(ReadingRollup.bucket_s, *_SUM_COLUMNS)
        .where(
            ReadingRollup.inverter_id == inverter_id,
            ReadingRollup.resolution == source.value,
            ReadingRollup.bucket_s >= epoch_s(span.start),
            ReadingRollup.bucket_s < epoch_s(span.end),
        )
        .order_by(ReadingRollup.bucket_s)
    )
    return [(row[0], Sums._make(row[1:])) for row in rows]


def inverter_data(
    session: Session,
    organisation_id: uuid.UUID,
    user_id: uuid.UUID,
    inverter_id: uuid.UUID,
    span: Span,
    keywords: Sequence[DataKeyword],
    include_deleted: bool,
) -> InverterDataOut:
    inverter = owned_inverter(session, organisation_id, user_id, inverter_id, include_deleted)
    fields = ("price", *(k.value for k in keywords), "estimated_consumption", "unoptimized_consumption")
    rollups = read_rollups(session, inverter_id, span)
    derived, price_source = derived_values(session, inverter, bucket_starts(rollups, span.resolution), span.resolution)
    return InverterDataOut(
        metadata=InverterDataMetadata(
            inverter_id=inverter_id,
            resolution=span.resolution,
            from_datetime=span.start,
            to_datetime=span.end,
            timezone="UTC",
            keywords=list(keywords),
            units={name: UNITS[name] for name in fields},
            note=DERIVED_VALUES_NOTE,
            price_source=price_source,
        ),
        data=points(rollups, span.resolution, keywords, inverter.is_battery_connected, derived),
    )
