"""Routes of day-ahead trading: the fleet's load curves for a delivery day, and the partner's decision."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request

from solarfleet.api.dependencies import DbSession, ScopedOrg
from solarfleet.api.errors import COMMON_ERROR_RESPONSES, ErrorDetail
from solarfleet.database import utcnow
from solarfleet.prices.schemas import MAX_DAYS_AHEAD
from solarfleet.prices.zones import DEFAULT_PRICE_ZONE, PriceZone
from solarfleet.trading import service
from solarfleet.trading.schemas import LoadCurveConfirmation, LoadCurvesOut, TradeDecisionOut

router = APIRouter(prefix="/org/{org_id}/trading/dayahead", tags=["Trading"], responses=COMMON_ERROR_RESPONSES)

LOAD_CURVES_DESCRIPTION = f"""\
The organisation's fleet in one price zone for one delivery day, as two curves of net grid
consumption in Wh per quarter hour (import minus export at the sites' meters: **positive = the fleet
takes energy from the grid, negative = it feeds in**), one point per quarter hour of the zone's local
day (96; 92 on the day daylight saving time begins, 100 on the day it ends):

- `optimized`: the sites' meters as solarfleet's stored plans expect them (the plans follow the
  organisation's uploaded prices, PATCH .../trading/dayahead/prices, where devices trade).
- `unoptimized`: the baseline, plain self-consumption on the same PV and household forecasts: each
  battery covers the house's deficit from its PV surplus, nothing is charged from or discharged to
  the grid, nothing is curtailed. PV available = the plan's expected PV plus its curtailment; each
  battery starts from the state of charge the plan expects before the day's first quarter hour, else
  from its last reported state of charge (empty when none was reported).

Devices: the live inverters with `is_trading_enabled` in `price_zone` that solarfleet optimises
(`is_smart_optimization_active`). The inverters of one building share its meter, which counts once
(`site_count`). A building is left out when it also holds optimised inverters that do not trade in
the zone; an inverter is left out when it has no plan for every quarter hour of the day (a plan
reaches a day once its prices are known), or when the plan steers a battery whose capacity or power
limits are neither configured nor inferred yet (the baseline cannot simulate it).
`excluded_devices` lists them with the reason.

Each call proposes a new trade with these curves (`trade_id`, status `proposed`); earlier undecided
proposals of the same day and zone become `superseded` and can no longer be decided. Once the day is
accepted or rejected, every call returns that trade instead, with its status and a `note`. Without
any device to trade the answer is still 200: zero curves, `trade_id` and `status` null, nothing stored.

`date`: today or later in the zone's local time, at most {MAX_DAYS_AHEAD} days ahead; otherwise 422.
"""

CONFIRMATION_DESCRIPTION = """\
Accept or reject the trade of a delivery day, once:

- `accepted: true`: the trade's inverters are committed to their optimised plans: their plan slots of
  the day are marked `committed`, and every re-plan keeps them (see `committed` in
  GET .../inverters/{inverter_id}/schedules).
- `accepted: false`: the trade's inverters are released to the baseline for the day: their slots are
  replaced by plain self-consumption on the same forecasts (mode `self_consumption`, the baseline's
  battery power, grid power and costs at the slots' prices), committed as well, so re-plans keep them.

The decision acts on the plans as they stand when it arrives (the quarter-hourly re-plans in between
follow the same prices and forecasts), from the current quarter hour, or from the start of the day
when it lies ahead, to the end of the day; earlier slots stay as the record of what was planned.
Errors: 404 for an unknown or another organisation's `trade_id`; 409 when the trade was decided
already, was superseded by a later fetch of the curves, its day was decided with another trade,
prices for its day were uploaded after it was fetched, or the day is over.
"""


@router.get(
    "/load-curves",
    summary="The fleet's optimised and unoptimised load curves for a delivery day",
    description=LOAD_CURVES_DESCRIPTION,
)
def load_curves(
    org_id: ScopedOrg,
    session: DbSession,
    request: Request,
    date: Annotated[
        dt.date,
        Query(description="The delivery day in the price zone's local time, YYYY-MM-DD", examples=["2026-11-25"]),
    ],
    price_zone: Annotated[PriceZone, Query(description="The zone whose trading devices the curves hold")] = (
        DEFAULT_PRICE_ZONE
    ),
) -> LoadCurvesOut:
    return service.load_curves(session, request.app.state.db, org_id, price_zone, date, utcnow())


@router.post(
    "/load-curve-confirmation",
    summary="Accept or reject the load curves of a delivery day",
    description=CONFIRMATION_DESCRIPTION,
    responses={
        409: {"model": ErrorDetail, "description": "Already decided, superseded, outdated by new prices, or too late"}
    },
)
def confirm_load_curve(org_id: ScopedOrg, session: DbSession, body: LoadCurveConfirmation) -> TradeDecisionOut:
    return service.decide(session, org_id, body, utcnow())
