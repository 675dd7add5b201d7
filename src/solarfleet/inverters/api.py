"""Routes of the solar-inverter resource and the generic device flags."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from solarfleet.api.dependencies import DbSession, IncludeDeleted, Links, ScopedOrg
from solarfleet.api.errors import COMMON_ERROR_RESPONSES
from solarfleet.api.fields import keyword_list
from solarfleet.database import utcnow
from solarfleet.inverters import service
from solarfleet.inverters.schemas import (
    DeviceFlagsUpdate,
    InverterCreate,
    InverterDetailOut,
    InverterOut,
    InverterUpdate,
    UtcDatetime,
)
from solarfleet.monitoring import series
from solarfleet.monitoring.schemas import DataKeyword, DataResolution, InverterDataOut
from solarfleet.optimization import schedules
from solarfleet.optimization.schemas import ScheduleOut

router = APIRouter(prefix="/org/{org_id}/users/{user_id}", responses=COMMON_ERROR_RESPONSES)

UserId = Annotated[uuid.UUID, Path(description="The user ID of the user whom the solar inverter belongs to")]
InverterId = Annotated[uuid.UUID, Path(description="The solar inverter's id")]
DeviceId = Annotated[uuid.UUID, Path(description="The device's id (any device type)")]


@router.get("/inverters", tags=["Solar inverters"], summary="Get a user's solar inverters")
def list_inverters(
    org_id: ScopedOrg, user_id: UserId, session: DbSession, links: Links, include_deleted: IncludeDeleted = False
) -> list[InverterOut]:
    return service.list_inverters(session, org_id, user_id, include_deleted, links)


@router.post(
    "/inverters",
    status_code=status.HTTP_201_CREATED,
    tags=["Solar inverters"],
    summary="Register a solar inverter",
    description="Without credentials the inverter is `created` and waits for its owner's onboarding.",
)
def register_inverter(
    org_id: ScopedOrg, user_id: UserId, session: DbSession, body: InverterCreate, links: Links
) -> InverterDetailOut:
    return service.register_inverter(session, org_id, user_id, body, links)


@router.get("/inverters/{inverter_id}", tags=["Solar inverters"], summary="Get a solar inverter")
def get_inverter(
    org_id: ScopedOrg,
    user_id: UserId,
    inverter_id: InverterId,
    session: DbSession,
    links: Links,
    include_deleted: IncludeDeleted = False,
) -> InverterDetailOut:
    return service.inverter_detail(session, org_id, user_id, inverter_id, links, include_deleted)


@router.put("/inverters/{inverter_id}", tags=["Solar inverters"], summary="Update a solar inverter (partial)")
def update_inverter(
    org_id: ScopedOrg, user_id: UserId, inverter_id: InverterId, session: DbSession, body: InverterUpdate, links: Links
) -> InverterDetailOut:
    return service.update_inverter(session, org_id, user_id, inverter_id, body, links)


@router.delete(
    "/inverters/{inverter_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["Solar inverters"],
    summary="Delete a solar inverter (soft); monitoring and steering stop",
    response_class=Response,
)
def delete_inverter(org_id: ScopedOrg, user_id: UserId, inverter_id: InverterId, session: DbSession) -> None:
    service.delete_inverter(session, org_id, user_id, inverter_id)


DATA_DESCRIPTION = f"""\
Average power and state of charge of the inverter per time bucket, from the stored readings.

- Buckets are UTC: quarter hours, hours and days from midnight UTC, ISO weeks from Monday 00:00 UTC,
  calendar months from the 1st 00:00 UTC. `time` is a bucket's start.
- The range is widened to whole buckets: `from_datetime` is rounded down to the start of its bucket,
  `to_datetime` up to the next bucket boundary; `metadata` gives the range used.
- Defaults: `to_datetime` is now; `from_datetime` is 1 day (`15MIN`), 7 days (`1HOUR`), 31 days
  (`1DAY`), 26 weeks (`1WEEK`) or 12 months (`1MONTH`) before the bucket holding `to_datetime`;
  `keywords` are all five.
- At most {series.MAX_POINTS:,} buckets per request (422 on `from_datetime` beyond that).
- Powers (W) and the state of charge (%) are means over the time the readings of a bucket cover,
  so a monitoring gap does not pull them towards zero. Only buckets that hold readings appear: a
  bucket without any is left out, never filled with zeros or other invented values; one whose only
  reading is a device's very first (standing for no time yet) appears with null values.
- Each point carries `time`, `price`, the fields named in `keywords` and nothing else of them,
  `estimated_consumption` and `unoptimized_consumption`; `metadata.units` gives every field's unit.
- Signs: `export_power_to_grid_w` positive = export, negative = import (net over the bucket);
  `battery_charge_discharge_power_w` positive = discharging, negative = charging (net). Battery
  fields are null for an inverter without a battery.
- `price` is the mean import price (EUR/MWh) of the bucket at the inverter's tariff;
  `estimated_consumption` the household consumption (Wh) the optimiser's plan expected;
  `unoptimized_consumption` the grid import (Wh) plain self-consumption would have had on the measured
  PV and load. Each is null where unknown (no price, no plan, no measurement); `metadata.note` says more.
"""


@router.get(
    "/inverters/{inverter_id}/data",
    tags=["Solar inverters"],
    summary="Time series of a solar inverter",
    description=DATA_DESCRIPTION,
    # Keyword fields that were not asked for are left out of each point, as the contract shows.
    response_model_exclude_unset=True,
)
def inverter_data(
    org_id: ScopedOrg,
    user_id: UserId,
    inverter_id: InverterId,
    session: DbSession,
    from_datetime: Annotated[
        UtcDatetime | None,
        Query(description="Start of the range, ISO-8601 with a time zone; default per resolution, see the description"),
    ] = None,
    to_datetime: Annotated[
        UtcDatetime | None, Query(description="End of the range (exclusive), ISO-8601 with a time zone; default now")
    ] = None,
    resolution: Annotated[DataResolution, Query(description="Width of the buckets")] = DataResolution.QUARTER_HOUR,
    keywords: Annotated[
        str | None,
        Query(
            description=f"Comma-separated fields each point carries, any of: {', '.join(DataKeyword)}; default all",
            examples=["solar_production_w,export_power_to_grid_w"],
        ),
    ] = None,
    include_deleted: IncludeDeleted = False,
) -> InverterDataOut:
    span = series.requested_span(resolution, from_datetime, to_datetime, utcnow())
    selected = keyword_list(keywords, DataKeyword)
    return series.inverter_data(session, org_id, user_id, inverter_id, span, selected, include_deleted)


SCHEDULES_DESCRIPTION = """\
The plan solarfleet steers the inverter by: one slot per quarter hour with the mode, the battery
set-point, the state of charge the plan expects, the expected grid power, the prices and the
expected cost. Plans are made by a linear program over the rest of today (and tomorrow once its
prices are published) and remade every quarter hour and whenever the device strays from them;
past slots stay as they were planned. Default range: from now, two days ahead; at most 31 days.
`metadata.plans` says how each plan was made, including whether its prices are synthetic.
"""


@router.get(
    "/inverters/{inverter_id}/schedules",
    tags=["Solar inverters"],
    summary="The plan the optimiser steers a solar inverter by",
    description=SCHEDULES_DESCRIPTION,
)
def inverter_schedules(
    org_id: ScopedOrg,
    user_id: UserId,
    inverter_id: InverterId,
    session: DbSession,
    from_datetime: Annotated[
        UtcDatetime | None, Query(description="Start of the range, ISO-8601 with a time zone; default now")
    ] = None,
    to_datetime: Annotated[
        UtcDatetime | None,
        Query(description="End of the range (exclusive), ISO-8601 with a time zone; default two days after the start"),
    ] = None,
    include_deleted: IncludeDeleted = False,
) -> ScheduleOut:
    start_s, end_s = schedules.schedule_range(from_datetime, to_datetime, utcnow())
    return schedules.inverter_schedule(session, org_id, user_id, inverter_id, start_s, end_s, include_deleted)


@router.patch("/devices/{device_id}", tags=["Devices"], summary="Set a device's generic flags")
def update_device_flags(
    org_id: ScopedOrg, user_id: UserId, device_id: DeviceId, session: DbSession, body: DeviceFlagsUpdate, links: Links
) -> InverterDetailOut:
    return service.update_device_flags(session, org_id, user_id, device_id, body, links)
