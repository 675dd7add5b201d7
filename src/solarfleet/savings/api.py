"""Routes of an inverter's savings and statistics, and of the organisation's device savings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from solarfleet.api.dependencies import DbSession, IncludeDeleted, ScopedOrg
from solarfleet.api.errors import COMMON_ERROR_RESPONSES
from solarfleet.api.fields import keyword_list
from solarfleet.database import utcnow
from solarfleet.inverters.api import InverterId, UserId
from solarfleet.inverters.schemas import UtcDatetime
from solarfleet.savings import service
from solarfleet.savings.accounting import MIN_BASELINE_COST_EUR, SavingsResolution
from solarfleet.savings.schemas import (
    BASELINE,
    DeviceSavingsOut,
    SavingsOut,
    StatisticsKeyword,
    StatisticsOut,
)

router = APIRouter(prefix="/org/{org_id}", responses=COMMON_ERROR_RESPONSES)

_PERIODS = f"""\
- Savings are what the baseline would have cost minus what the grid energy really cost, in EUR:
  import × import price − export × export price per quarter hour, at the inverter's tariff (the
  zone's day-ahead price, the organisation's import components and feed-in tariff, or the user's
  contract). The baseline is {BASELINE}.
- Periods follow the local time of the inverter's price zone (`metadata.timezone`): days from local
  midnight, ISO weeks from Monday, calendar months, quarters and years. The range is widened to whole
  periods: `from` moves back to the start of its period, `to` on to the end of its period;
  `metadata` gives the range used.
- Defaults: `to` is now, `from` one calendar year before `to`; at most
  {service.MAX_RANGE.days} days (ten years) between them.
- Days are computed once they have ended, shortly after local midnight: the current day is not
  included until then (`metadata.computed_until` says how far the computed days reach). The days of
  the current ISO week are recomputed each night, as the baseline runs through the week, and are final
  once it has ended. Only periods holding a computed day appear.
- A quarter hour counts for the money only when its PV, household load, grid flows and prices are all
  known; `total` is null for a period without one, `percentage` also when the baseline cost under
  {MIN_BASELINE_COST_EUR:g} EUR there.
"""

SAVINGS_DESCRIPTION = f"""\
What smart steering saved on the inverter's site per period, against plain self-consumption.

{_PERIODS}"""

STATISTICS_DESCRIPTION = f"""\
The inverter's savings and energies per period: `savings` as in `.../savings`, and `consumption`,
the measured household consumption, grid import, PV production and grid export with the grid import
the baseline (unoptimised operation) would have had. `keywords` chooses which of the two each point
carries (default both); the other is left out.

{_PERIODS}"""

DEVICE_SAVINGS_DESCRIPTION = f"""\
What smart steering saved across the organisation's devices in a time range, in EUR.

- Counts every computed local day (in each inverter's price zone) that starts in
  [`start_datetime`, `end_datetime`): days are computed once they end, so the current day is not
  included until shortly after its local midnight.
- Defaults: `end_datetime` is now, `start_datetime` one calendar year before it; at most
  {service.MAX_RANGE.days} days between them. Deleted inverters count with `include_deleted=true`.
- solarfleet monitors and steers solar inverters and their batteries only: `heat_pump_savings` and
  `electric_vehicle_savings` are 0.0 because the organisation has no such devices in solarfleet
  (no savings, not an unknown value); `total_savings` is the sum of the three.
"""

Resolution = Annotated[SavingsResolution, Query(description="Length of each period")]
From = Annotated[
    UtcDatetime | None,
    Query(alias="from", description="Start of the range, ISO-8601 with a time zone; default one year before `to`"),
]
To = Annotated[
    UtcDatetime | None,
    Query(alias="to", description="End of the range (exclusive), ISO-8601 with a time zone; default now"),
]


@router.get(
    "/users/{user_id}/inverters/{inverter_id}/savings",
    tags=["Solar inverters"],
    summary="Savings of a solar inverter per period",
    description=SAVINGS_DESCRIPTION,
)
def inverter_savings(
    org_id: ScopedOrg,
    user_id: UserId,
    inverter_id: InverterId,
    session: DbSession,
    from_: From = None,
    to: To = None,
    resolution: Resolution = SavingsResolution.MONTH,
    include_deleted: IncludeDeleted = False,
) -> SavingsOut:
    return service.inverter_savings(
        session, org_id, user_id, inverter_id, resolution, from_, to, utcnow(), include_deleted
    )


@router.get(
    "/users/{user_id}/inverters/{inverter_id}/statistics",
    tags=["Solar inverters"],
    summary="Savings and energies of a solar inverter per period",
    description=STATISTICS_DESCRIPTION,
    # A member not named in keywords is left out of each point.
    response_model_exclude_unset=True,
)
def inverter_statistics(
    org_id: ScopedOrg,
    user_id: UserId,
    inverter_id: InverterId,
    session: DbSession,
    from_: From = None,
    to: To = None,
    resolution: Resolution = SavingsResolution.MONTH,
    keywords: Annotated[
        str | None,
        Query(
            description=f"Comma-separated members each point carries, any of: {', '.join(StatisticsKeyword)}; "
            "default both",
            examples=["savings,consumption"],
        ),
    ] = None,
    include_deleted: IncludeDeleted = False,
) -> StatisticsOut:
    selected = keyword_list(keywords, StatisticsKeyword)
    return service.inverter_statistics(
        session, org_id, user_id, inverter_id, resolution, from_, to, selected, utcnow(), include_deleted
    )


@router.get(
    "/devices/savings",
    tags=["Devices"],
    summary="Savings of the organisation's devices",
    description=DEVICE_SAVINGS_DESCRIPTION,
)
def device_savings(
    org_id: ScopedOrg,
    session: DbSession,
    start_datetime: Annotated[
        UtcDatetime | None,
        Query(description="Start of the range, ISO-8601 with a time zone; default one year before end_datetime"),
    ] = None,
    end_datetime: Annotated[
        UtcDatetime | None, Query(description="End of the range (exclusive), ISO-8601 with a time zone; default now")
    ] = None,
    include_deleted: IncludeDeleted = False,
) -> DeviceSavingsOut:
    return service.device_savings(session, org_id, start_datetime, end_datetime, utcnow(), include_deleted)
