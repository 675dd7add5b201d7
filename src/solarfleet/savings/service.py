"""The savings endpoints' logic: the stored `savings_days` of an inverter summed into the periods of a
resolution, and the organisation's savings over a time range. Every query is scoped by the organisation."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from solarfleet.api.errors import FieldError
from solarfleet.inverters.models import Inverter
from solarfleet.inverters.service import owned_inverter
from solarfleet.prices.zones import ZONE_LOCATIONS, PriceZone
from solarfleet.savings.accounting import (
    SavingsPeriod,
    SavingsResolution,
    local_midnight,
    period_bounds,
    savings_periods,
)
from solarfleet.savings.models import SavingsDay
from solarfleet.savings.schemas import (
    BASELINE,
    COMPLETENESS,
    CURRENCY,
    Consumption,
    DeviceSavingsOut,
    InverterEnergies,
    SavingsAmount,
    SavingsMetadata,
    SavingsOut,
    SavingsPeriodBounds,
    SavingsPoint,
    StatisticsKeyword,
    StatisticsMetadata,
    StatisticsOut,
    StatisticsPoint,
)

DEFAULT_YEARS = 1  # without a start, ranges begin this many calendar years before their end
MAX_RANGE = timedelta(days=3653)  # ten years of daily rows per inverter at most
_QUERY = "query"


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def default_start(end: datetime) -> datetime:
    """A range's start when none is given: DEFAULT_YEARS calendar years before its end (or year 1)."""
    return _years_before(end, DEFAULT_YEARS) if end.year > DEFAULT_YEARS else end.replace(year=1, month=1, day=1)


def checked_range(start: datetime, end: datetime, start_name: str, end_name: str, end_given: bool) -> None:
    """FieldError (422) for an empty or too long range."""
    if start >= end:
        raise FieldError(
            start_name, f"must be before {end_name}" + ("" if end_given else " (now, when not given)"), _QUERY
        )
    if end - start > MAX_RANGE:
        raise FieldError(start_name, f"the range may span at most {MAX_RANGE.days} days (ten years)", _QUERY)


# -- an inverter's periods ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodRange:
    """Whole periods of a resolution in a time zone: local dates [first, after) and their UTC instants."""

    resolution: SavingsResolution
    timezone: str
    first: date
    after: date
    start: datetime
    end: datetime


def period_range(
    resolution: SavingsResolution, start: datetime | None, end: datetime | None, now: datetime, timezone: str
) -> PeriodRange:
    """The periods that overlap [start, end) in `timezone`, defaults filled in (end: now; start:
    DEFAULT_YEARS before the end). FieldError (422) on `from` or `to` for an empty, too long or
    unrepresentable range."""
    end_given = end is not None
    end = end if end_given else now
    start = start if start is not None else default_start(end)
    checked_range(start, end, "from", "to", end_given)
    zone = ZoneInfo(timezone)
    # The end first: once it is representable, so is the end of the first period, which lies before it.
    try:
        local_end = end.astimezone(zone)
        at_midnight = local_end == local_midnight(local_end.date(), timezone)
        after = period_bounds(local_end.date() - timedelta(days=1) if at_midnight else local_end.date(), resolution)[1]
        end_utc = local_midnight(after, timezone)
    except (OverflowError, ValueError):
        raise FieldError("to", "too late: its period would end after the year 9999", _QUERY) from None
    try:
        first = period_bounds(start.astimezone(zone).date(), resolution)[0]
        start_utc = local_midnight(first, timezone)
    except (OverflowError, ValueError):
        raise FieldError("from", "too early: its period would begin before the year 1", _QUERY) from None
    return PeriodRange(resolution, timezone, first, after, start_utc, end_utc)


def inverter_timezone(inverter: Inverter) -> str:
    return ZONE_LOCATIONS[PriceZone(inverter.price_zone)].timezone


def _stored_days(session: Session, inverter_id: uuid.UUID, periods: PeriodRange) -> list[SavingsDay]:
    query = (
        select(SavingsDay)
        .where(SavingsDay.inverter_id == inverter_id, SavingsDay.day >= periods.first, SavingsDay.day < periods.after)
        .order_by(SavingsDay.day)
    )
    return list(session.scalars(query))


def _metadata(inverter_id: uuid.UUID, periods: PeriodRange, days: Sequence[SavingsDay]) -> dict:
    last = days[-1].day + timedelta(days=1) if days else None
    return {
        "inverter_id": inverter_id,
        "resolution": periods.resolution,
        "from_datetime": periods.start,
        "to_datetime": periods.end,
        "timezone": periods.timezone,
        "currency": CURRENCY,
        "baseline": BASELINE,
        "computed_until": local_midnight(last, periods.timezone) if last is not None else None,
        "note": COMPLETENESS,
        "price_sources": sorted({day.price_source for day in days}),
    }


def _bounds(period: SavingsPeriod) -> SavingsPeriodBounds:
    return SavingsPeriodBounds(start_period=period.start, end_period=period.end)


def _amount(period: SavingsPeriod) -> SavingsAmount:
    return SavingsAmount(total=period.savings_eur, percentage=period.percentage)


def inverter_savings(
    session: Session,
    organisation_id: uuid.UUID,
    user_id: uuid.UUID,
    inverter_id: uuid.UUID,
    resolution: SavingsResolution,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    include_deleted: bool,
) -> SavingsOut:
    inverter = owned_inverter(session, organisation_id, user_id, inverter_id, include_deleted)
    periods = period_range(resolution, start, end, now, inverter_timezone(inverter))
    days = _stored_days(session, inverter_id, periods)
    return SavingsOut(
        metadata=SavingsMetadata(**_metadata(inverter_id, periods, days)),
        data=[
            SavingsPoint(
                resolution=period.resolution,
                period=_bounds(period),
                savings=_amount(period),
                inverter=InverterEnergies(
                    solar_production_wh=period.solar_production_wh, grid_export_wh=period.grid_export_wh
                ),
            )
            for period in savings_periods(days, resolution, periods.timezone)
        ],
    )


def inverter_statistics(
    session: Session,
    organisation_id: uuid.UUID,
    user_id: uuid.UUID,
    inverter_id: uuid.UUID,
    resolution: SavingsResolution,
    start: datetime | None,
    end: datetime | None,
    keywords: Sequence[StatisticsKeyword],
    now: datetime,
    include_deleted: bool,
) -> StatisticsOut:
    inverter = owned_inverter(session, organisation_id, user_id, inverter_id, include_deleted)
    periods = period_range(resolution, start, end, now, inverter_timezone(inverter))
    days = _stored_days(session, inverter_id, periods)
    zone = ZoneInfo(periods.timezone)
    by_period: dict[date, list[SavingsDay]] = defaultdict(list)
    for day in days:
        by_period[period_bounds(day.day, resolution)[0]].append(day)
    points = []
    for period in savings_periods(days, resolution, periods.timezone):
        members = {}
        if StatisticsKeyword.SAVINGS in keywords:
            members["savings"] = _amount(period)
        if StatisticsKeyword.CONSUMPTION in keywords:
            members["consumption"] = _consumption(by_period[period.start.astimezone(zone).date()])
        points.append(StatisticsPoint(resolution=period.resolution, period=_bounds(period), **members))
    return StatisticsOut(
        metadata=StatisticsMetadata(**_metadata(inverter_id, periods, days), keywords=list(keywords)), data=points
    )


def _consumption(days: Sequence[SavingsDay]) -> Consumption:
    return Consumption(
        household_wh=sum(day.household_wh for day in days),
        grid_import_wh=sum(day.import_wh for day in days),
        baseline_grid_import_wh=sum(day.baseline_import_wh for day in days),
        solar_production_wh=sum(day.solar_wh for day in days),
        grid_export_wh=sum(day.export_wh for day in days),
    )


# -- the organisation's devices -----------------------------------------------------------------------------


def device_savings(
    session: Session,
    organisation_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    include_deleted: bool,
) -> DeviceSavingsOut:
    """The organisation's savings over the local days (of each inverter's price zone) that start in
    [start, end): summed in SQL per zone and day, so the answer costs the same for ten inverters as for
    ten thousand."""
    end_given = end is not None
    end = end if end_given else now
    start = start if start is not None else default_start(end)
    checked_range(start, end, "start_datetime", "end_datetime", end_given)
    # Local dates lie within a day of the UTC dates; the exact test per zone follows below.
    first = start.date() - timedelta(days=1) if start.date() > date.min else start.date()
    last = end.date() + timedelta(days=1) if end.date() < date.max else end.date()
    query = (
        select(Inverter.price_zone, SavingsDay.day, func.sum(SavingsDay.baseline_cost_eur - SavingsDay.actual_cost_eur))
        .join(Inverter, Inverter.id == SavingsDay.inverter_id)
        .where(Inverter.organisation_id == organisation_id, SavingsDay.day >= first, SavingsDay.day <= last)
        .group_by(Inverter.price_zone, SavingsDay.day)
    )
    if not include_deleted:
        query = query.where(Inverter.deleted_at.is_(None))
    inverters = 0.0
    for zone, day, saved in session.execute(query):
        if start <= local_midnight(day, ZONE_LOCATIONS[PriceZone(zone)].timezone) < end:
            inverters += saved
    # solarfleet holds no heat pumps and no electric vehicles: their savings are nothing, not unknown
    heat_pumps = electric_vehicles = 0.0
    return DeviceSavingsOut(
        total_savings=inverters + heat_pumps + electric_vehicles,
        heat_pump_savings=heat_pumps,
        electric_vehicle_savings=electric_vehicles,
        inverter_savings=inverters,
    )
