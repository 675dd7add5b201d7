"""Routes of the buildings resource."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from solarfleet.api.dependencies import DbSession, IncludeDeleted, ScopedOrg
from solarfleet.api.errors import COMMON_ERROR_RESPONSES, ErrorDetail
from solarfleet.buildings import service
from solarfleet.buildings.schemas import BuildingCreate, BuildingOut, BuildingUpdate

router = APIRouter(
    prefix="/org/{org_id}/users/{user_id}/buildings", tags=["Buildings"], responses=COMMON_ERROR_RESPONSES
)

UserId = Annotated[uuid.UUID, Path(description="The user's id")]
BuildingId = Annotated[uuid.UUID, Path(description="The building's id")]


@router.get("", summary="List a user's buildings")
def list_buildings(
    org_id: ScopedOrg, user_id: UserId, session: DbSession, include_deleted: IncludeDeleted = False
) -> list[BuildingOut]:
    return service.list_buildings(session, org_id, user_id, include_deleted)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a building")
def create_building(org_id: ScopedOrg, user_id: UserId, session: DbSession, body: BuildingCreate) -> BuildingOut:
    return service.create_building(session, org_id, user_id, body)


@router.get("/{building_id}", summary="Get a building")
def get_building(
    org_id: ScopedOrg,
    user_id: UserId,
    building_id: BuildingId,
    session: DbSession,
    include_deleted: IncludeDeleted = False,
) -> BuildingOut:
    return service.get_building(session, org_id, user_id, building_id, include_deleted)


@router.put("/{building_id}", summary="Update a building (partial)")
def update_building(
    org_id: ScopedOrg, user_id: UserId, building_id: BuildingId, session: DbSession, body: BuildingUpdate
) -> BuildingOut:
    return service.update_building(session, org_id, user_id, building_id, body)


@router.delete(
    "/{building_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a building (soft)",
    response_class=Response,
    responses={409: {"model": ErrorDetail, "description": "The building still has inverters"}},
)
def delete_building(org_id: ScopedOrg, user_id: UserId, building_id: BuildingId, session: DbSession) -> None:
    service.delete_building(session, org_id, user_id, building_id)
