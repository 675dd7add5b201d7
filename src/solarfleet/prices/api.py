"""Routes of day-ahead trading prices: what a partner's trading portfolio is steered against."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter

from solarfleet.api.dependencies import DbSession, ScopedOrg
from solarfleet.api.errors import COMMON_ERROR_RESPONSES, FieldError
from solarfleet.database import utcnow
from solarfleet.prices import store
from solarfleet.prices.schemas import (
    MAX_DAYS_AHEAD,
    SDAC_MAX_EUR_MWH,
    SDAC_MIN_EUR_MWH,
    DayAheadPricesOut,
    DayAheadPricesUpload,
)
from solarfleet.prices.zones import QUARTER_HOUR, ZONE_LOCATIONS, local_day_bounds

# Quarter hours of a day without a clock change.
REGULAR_DAY = timedelta(days=1) // QUARTER_HOUR

router = APIRouter(prefix="/org/{org_id}/trading/dayahead", tags=["Trading"], responses=COMMON_ERROR_RESPONSES)

UPLOAD_DESCRIPTION = f"""\
The organisation's own prices for one delivery day in one price zone, EUR/MWh per quarter hour of
that day in the zone's local time. Devices with `is_trading_enabled` in that zone are steered
against them instead of the zone's day-ahead prices, for the quarter hours they cover.

- `date`: today or later in the zone's local time (the day-ahead market trades tomorrow; today is
  accepted for corrections), at most {MAX_DAYS_AHEAD} days ahead. A past day is 422.
- `prices`: exactly one per quarter hour of the local day, from local midnight: 96, or 92 on the
  day daylight saving time begins and 100 on the day it ends; any other count is 422 and says the
  right one. Finite, within the SDAC harmonised clearing price limits ({SDAC_MIN_EUR_MWH:g} to
  {SDAC_MAX_EUR_MWH:g} EUR/MWh).
- Uploading a day again replaces its earlier upload.

The response is the day as stored.
"""


@router.patch("/prices", summary="Upload day-ahead prices for the trading portfolio", description=UPLOAD_DESCRIPTION)
def upload_prices(org_id: ScopedOrg, session: DbSession, body: DayAheadPricesUpload) -> DayAheadPricesOut:
    start, end = _delivery_day(body)
    store.store_partner_prices(session, org_id, body.price_zone, start, body.prices)
    stored = store.partner_curve(session, org_id, body.price_zone, start, end)
    return DayAheadPricesOut(
        date=body.date,
        price_zone=body.price_zone,
        count=len(stored),
        first_interval_start=stored.start,
        last_interval_start=stored.end - QUARTER_HOUR,
        prices=stored.values.tolist(),
    )


def _delivery_day(body: DayAheadPricesUpload) -> tuple[datetime, datetime]:
    """The upload's local day in UTC, once its date and its number of prices are shown to fit."""
    timezone = ZONE_LOCATIONS[body.price_zone].timezone
    today = utcnow().astimezone(ZoneInfo(timezone)).date()
    if body.date < today:
        raise FieldError("date", f"{body.date} is past in {body.price_zone} ({timezone}), where today is {today}")
    if body.date > today + timedelta(days=MAX_DAYS_AHEAD):
        raise FieldError("date", f"at most {MAX_DAYS_AHEAD} days ahead: {today} is today in {timezone}")
    start, end = local_day_bounds(body.price_zone, body.date)
    quarter_hours = (end - start) // QUARTER_HOUR
    if len(body.prices) != quarter_hours:
        clocks = "" if quarter_hours == REGULAR_DAY else " (the clocks change that day)"
        raise FieldError(
            "prices",
            f"{body.date} has {quarter_hours} quarter hours in {timezone}{clocks}: "
            f"send {quarter_hours} prices, not {len(body.prices)}",
        )
    return start, end
