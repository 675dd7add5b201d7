"""Routes of the users resource."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from solarfleet.api.dependencies import DbSession, IncludeDeleted, ScopedOrg
from solarfleet.api.errors import COMMON_ERROR_RESPONSES, ErrorDetail
from solarfleet.api.fields import PATH_TEXT_PATTERN
from solarfleet.users import service
from solarfleet.users.schemas import UserCreate, UserOut, UserUpdate

router = APIRouter(prefix="/org/{org_id}/users", tags=["Users"], responses=COMMON_ERROR_RESPONSES)

UserId = Annotated[uuid.UUID, Path(description="The user's id")]
ExternalId = Annotated[
    str, Path(max_length=255, pattern=PATH_TEXT_PATTERN, description="The partner's external_user_id")
]
CONFLICT = {409: {"model": ErrorDetail, "description": "email or external_user_id already used in the organisation"}}


@router.get("", summary="List the organisation's users")
def list_users(org_id: ScopedOrg, session: DbSession, include_deleted: IncludeDeleted = False) -> list[UserOut]:
    return service.list_users(session, org_id, include_deleted)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a user", responses=CONFLICT)
def create_user(org_id: ScopedOrg, session: DbSession, body: UserCreate) -> UserOut:
    return service.create_user(session, org_id, body)


@router.get("/by-ext-id/{external_id}", summary="Find a user by the partner's external id")
def get_user_by_external_id(
    org_id: ScopedOrg, session: DbSession, external_id: ExternalId, include_deleted: IncludeDeleted = False
) -> UserOut:
    return service.user_out_by_external_id(session, org_id, external_id, include_deleted)


@router.get("/{user_id}", summary="Get a user")
def get_user(
    org_id: ScopedOrg, user_id: UserId, session: DbSession, include_deleted: IncludeDeleted = False
) -> UserOut:
    return service.user_out(session, org_id, user_id, include_deleted)


@router.put("/{user_id}", summary="Update a user (partial)", responses=CONFLICT)
def update_user(org_id: ScopedOrg, user_id: UserId, session: DbSession, body: UserUpdate) -> UserOut:
    return service.update_user(session, org_id, user_id, body)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a user (soft), with their buildings and devices",
    response_class=Response,
)
def delete_user(org_id: ScopedOrg, user_id: UserId, session: DbSession) -> None:
    service.delete_user(session, org_id, user_id)
