"""Partner routes of onboarding: sessions, re-authentication of an inverter, and framing of the Connect UI."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, status

from solarfleet.api.dependencies import CurrentPrincipal, DbSession, Links, ScopedOrg
from solarfleet.api.errors import COMMON_ERROR_RESPONSES
from solarfleet.database import utcnow
from solarfleet.onboarding import service
from solarfleet.onboarding.schemas import (
    AuthSessionCreate,
    AuthSessionOut,
    ConnectUiSettings,
    ConnectUiSettingsOut,
    OnboardingCreate,
    OnboardingOut,
)

router = APIRouter(responses=COMMON_ERROR_RESPONSES)

SessionId = Annotated[uuid.UUID, Path(description="The onboarding session's id")]

CREATE_DESCRIPTION = """\
Starts the Connect UI for one of the organisation's users. Send the customer to `authentication_url`:
they choose the manufacturer and model, give the credentials (or the local address) the model needs,
consent to what solarfleet reads and controls, and solarfleet checks them by reading the device. On
success the inverter is created (`object_id`) and the customer is sent to `success_url` with
`session_id=<id>` appended to its query; on cancel to `cancel_url`, likewise. A session is used once
and expires at the end of the next day in the time zone of `price_zone_default`.
"""


@router.post(
    "/device-onboarding",
    status_code=status.HTTP_201_CREATED,
    tags=["Onboarding"],
    summary="Create an onboarding session",
    description=CREATE_DESCRIPTION,
)
def create_onboarding_session(
    principal: CurrentPrincipal, session: DbSession, body: OnboardingCreate, links: Links
) -> OnboardingOut:
    return service.create_onboarding_session(session, principal.organisation_id, body, links, utcnow())


@router.get("/device-onboarding/{session_id}", tags=["Onboarding"], summary="Get an onboarding session")
def get_onboarding_session(
    principal: CurrentPrincipal, session_id: SessionId, session: DbSession, links: Links
) -> OnboardingOut:
    return service.read_onboarding_session(session, principal.organisation_id, session_id, links, utcnow())


@router.post(
    "/org/{org_id}/users/{user_id}/inverters/{inverter_id}/auth_session",
    status_code=status.HTTP_201_CREATED,
    tags=["Solar inverters"],
    summary="Start a re-authentication of a solar inverter",
    description="A Connect UI session that updates the existing inverter's credentials (or local address). "
    "On success `is_authenticated` is true again and a pending `reauthenticate` action is resolved.",
)
def start_reauthentication(
    org_id: ScopedOrg,
    user_id: Annotated[uuid.UUID, Path(description="The user the inverter belongs to")],
    inverter_id: Annotated[uuid.UUID, Path(description="The solar inverter's id")],
    session: DbSession,
    body: AuthSessionCreate,
    links: Links,
) -> AuthSessionOut:
    return service.start_reauthentication(session, org_id, user_id, inverter_id, body, links, utcnow())


@router.get(
    "/org/{org_id}/connect-ui",
    tags=["Onboarding"],
    summary="Where the Connect UI may be framed",
    description="solarfleet addition: the origins allowed to frame the inverters' `embeddable_url`.",
)
def get_connect_ui_settings(org_id: ScopedOrg, session: DbSession) -> ConnectUiSettingsOut:
    return service.connect_ui_settings(session, org_id)


@router.put(
    "/org/{org_id}/connect-ui",
    tags=["Onboarding"],
    summary="Set where the Connect UI may be framed",
    description="solarfleet addition: replaces the origins allowed to frame the inverters' `embeddable_url` "
    "(sent as CSP `frame-ancestors`). Every other Connect UI page refuses to be framed.",
)
def put_connect_ui_settings(org_id: ScopedOrg, session: DbSession, body: ConnectUiSettings) -> ConnectUiSettingsOut:
    return service.update_connect_ui_settings(session, org_id, body)
