"""Routes of the solar-inverter resource and the generic device flags."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from solarfleet.api.dependencies import DbSession, IncludeDeleted, ScopedOrg
from solarfleet.api.errors import COMMON_ERROR_RESPONSES
from solarfleet.inverters import service
from solarfleet.inverters.schemas import (
    DeviceFlagsUpdate,
    InverterCreate,
    InverterDetailOut,
    InverterOut,
    InverterUpdate,
)

router = APIRouter(prefix="/org/{org_id}/users/{user_id}", responses=COMMON_ERROR_RESPONSES)

UserId = Annotated[uuid.UUID, Path(description="The user ID of the user whom the solar inverter belongs to")]
InverterId = Annotated[uuid.UUID, Path(description="The solar inverter's id")]
DeviceId = Annotated[uuid.UUID, Path(description="The device's id (any device type)")]


@router.get("/inverters", tags=["Solar inverters"], summary="Get a user's solar inverters")
def list_inverters(
    org_id: ScopedOrg, user_id: UserId, session: DbSession, include_deleted: IncludeDeleted = False
) -> list[InverterOut]:
    return service.list_inverters(session, org_id, user_id, include_deleted)


@router.post(
    "/inverters",
    status_code=status.HTTP_201_CREATED,
    tags=["Solar inverters"],
    summary="Register a solar inverter",
    description="Without credentials the inverter is `created` and waits for its owner's onboarding.",
)
def register_inverter(
    org_id: ScopedOrg, user_id: UserId, session: DbSession, body: InverterCreate
) -> InverterDetailOut:
    return service.register_inverter(session, org_id, user_id, body)


@router.get("/inverters/{inverter_id}", tags=["Solar inverters"], summary="Get a solar inverter")
def get_inverter(
    org_id: ScopedOrg,
    user_id: UserId,
    inverter_id: InverterId,
    session: DbSession,
    include_deleted: IncludeDeleted = False,
) -> InverterDetailOut:
    return service.inverter_detail(session, org_id, user_id, inverter_id, include_deleted)


@router.put("/inverters/{inverter_id}", tags=["Solar inverters"], summary="Update a solar inverter (partial)")
def update_inverter(
    org_id: ScopedOrg, user_id: UserId, inverter_id: InverterId, session: DbSession, body: InverterUpdate
) -> InverterDetailOut:
    return service.update_inverter(session, org_id, user_id, inverter_id, body)


@router.delete(
    "/inverters/{inverter_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["Solar inverters"],
    summary="Delete a solar inverter (soft); monitoring and steering stop",
    response_class=Response,
)
def delete_inverter(org_id: ScopedOrg, user_id: UserId, inverter_id: InverterId, session: DbSession) -> None:
    service.delete_inverter(session, org_id, user_id, inverter_id)


@router.patch("/devices/{device_id}", tags=["Devices"], summary="Set a device's generic flags")
def update_device_flags(
    org_id: ScopedOrg, user_id: UserId, device_id: DeviceId, session: DbSession, body: DeviceFlagsUpdate
) -> InverterDetailOut:
    return service.update_device_flags(session, org_id, user_id, device_id, body)
