"""Onboarding sessions as the partner sees them: creating them, reading them back, re-authentication,
and where the Connect UI may be framed. Every query is scoped to the caller's organisation."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from solarfleet.api.errors import FieldError, NotFound
from solarfleet.inverters.service import check_users_building, owned_inverter
from solarfleet.onboarding.links import ConnectLinks
from solarfleet.onboarding.models import (
    FINAL_STATES,
    PURPOSE_ONBOARDING,
    PURPOSE_REAUTHENTICATION,
    STATE_COMPLETED,
    STATE_EXPIRED,
    OnboardingSession,
)
from solarfleet.onboarding.schemas import (
    AuthSessionCreate,
    AuthSessionOut,
    ConnectUiSettings,
    ConnectUiSettingsOut,
    Language,
    OnboardingCreate,
    OnboardingOut,
    SessionState,
)
from solarfleet.organisations.models import Organisation
from solarfleet.prices.zones import ZONES, PriceZone, local_day_bounds
from solarfleet.users.service import scoped_user


def session_expiry(created_at: datetime, zone: PriceZone) -> datetime:
    """The end of the day after the one the session was created on, in the price zone's time zone."""
    local_day = created_at.astimezone(ZoneInfo(ZONES[zone].location.timezone)).date()
    return local_day_bounds(zone, local_day + timedelta(days=1))[1]


def session_state(row: OnboardingSession, now: datetime) -> SessionState:
    if row.state not in FINAL_STATES and now >= row.expires_at:
        return SessionState(STATE_EXPIRED)
    return SessionState(row.state)


def new_session(
    *,
    organisation_id: uuid.UUID,
    user_id: uuid.UUID,
    purpose: str,
    language: str,
    zone: PriceZone,
    now: datetime,
    inverter_id: uuid.UUID | None = None,
    device_model_id: uuid.UUID | None = None,
    success_url: str | None = None,
    cancel_url: str | None = None,
    embedded: bool = False,
    **choices,
) -> OnboardingSession:
    return OnboardingSession(
        id=uuid.uuid4(),  # from os.urandom: 122 random bits, and the address is signed besides
        organisation_id=organisation_id,
        user_id=user_id,
        purpose=purpose,
        inverter_id=inverter_id,
        device_model_id=device_model_id,
        language=language,
        price_zone=zone.value,
        success_url=success_url,
        cancel_url=cancel_url,
        embedded=embedded,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        updated_at=now,
        expires_at=session_expiry(now, zone),
        **choices,
    )


def _out(row: OnboardingSession, links: ConnectLinks, now: datetime) -> OnboardingOut:
    return OnboardingOut(
        authentication_url=links.session_url(row.id),
        id=row.id,
        user=row.user_id,
        success_url=row.success_url,
        cancel_url=row.cancel_url,
        expiration_date=row.expires_at,
        object_id=row.inverter_id if row.state == STATE_COMPLETED else None,
        external_metadata=row.external_metadata,
        state=session_state(row, now),
        completed_at=row.completed_at,
    )


def _live_user(session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID) -> None:
    try:
        scoped_user(session, organisation_id, user_id)
    except NotFound:
        raise FieldError("user_id", "no user with this id in the organisation") from None


def create_onboarding_session(
    session: Session, organisation_id: uuid.UUID, body: OnboardingCreate, links: ConnectLinks, now: datetime
) -> OnboardingOut:
    _live_user(session, organisation_id, body.user_id)
    check_users_building(session, organisation_id, body.user_id, body.building_id)
    row = new_session(
        organisation_id=organisation_id,
        user_id=body.user_id,
        purpose=PURPOSE_ONBOARDING,
        language=body.language.value,
        zone=body.price_zone_default,
        now=now,
        success_url=body.success_url,
        cancel_url=body.cancel_url,
        is_smart_optimization_active_default=body.is_smart_optimization_active_default,
        building_id=body.building_id,
        device_type=body.device_type,
        external_metadata=body.external_metadata,
    )
    session.add(row)
    session.flush()
    return _out(row, links, now)


def read_onboarding_session(
    session: Session, organisation_id: uuid.UUID, session_id: uuid.UUID, links: ConnectLinks, now: datetime
) -> OnboardingOut:
    row = session.scalar(
        select(OnboardingSession).where(
            OnboardingSession.id == session_id, OnboardingSession.organisation_id == organisation_id
        )
    )
    if row is None:
        raise NotFound("onboarding session")
    return _out(row, links, now)


def _onboarded_language(session: Session, inverter_id: uuid.UUID) -> str:
    """The language the device was last connected in, so a re-authentication speaks to the same customer."""
    language = session.scalar(
        select(OnboardingSession.language)
        .where(OnboardingSession.inverter_id == inverter_id, OnboardingSession.state == STATE_COMPLETED)
        .order_by(OnboardingSession.completed_at.desc())
        .limit(1)
    )
    return language or Language.EN.value


def reauthentication_session(
    session: Session, inverter, now: datetime, language: str | None = None, **urls
) -> OnboardingSession:
    """A session that connects an existing inverter again (its credentials, or its model and credentials
    where it was registered without them)."""
    row = new_session(
        organisation_id=inverter.organisation_id,
        user_id=inverter.user_id,
        purpose=PURPOSE_REAUTHENTICATION,
        language=language or _onboarded_language(session, inverter.id),
        zone=PriceZone(inverter.price_zone),
        now=now,
        inverter_id=inverter.id,
        device_model_id=inverter.device_model_id,
        building_id=inverter.building_id,
        is_smart_optimization_active_default=inverter.is_smart_optimization_active,
        device_type="iv",
        **urls,
    )
    session.add(row)
    session.flush()
    return row


def start_reauthentication(
    session: Session,
    organisation_id: uuid.UUID,
    user_id: uuid.UUID,
    inverter_id: uuid.UUID,
    body: AuthSessionCreate,
    links: ConnectLinks,
    now: datetime,
) -> AuthSessionOut:
    inverter = owned_inverter(session, organisation_id, user_id, inverter_id)
    row = reauthentication_session(
        session,
        inverter,
        now,
        body.language.value if body.language else None,
        success_url=body.success_url,
        cancel_url=body.cancel_url,
    )
    return AuthSessionOut(authentication_url=links.session_url(row.id), device_id=inverter.id, session_id=row.id)


def _organisation(session: Session, organisation_id: uuid.UUID) -> Organisation:
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound("organisation")
    return organisation


def frame_origins(session: Session, organisation_id: uuid.UUID) -> list[str]:
    return list(_organisation(session, organisation_id).connect_frame_origins or [])


def connect_ui_settings(session: Session, organisation_id: uuid.UUID) -> ConnectUiSettingsOut:
    return ConnectUiSettingsOut(allowed_frame_origins=frame_origins(session, organisation_id))


def update_connect_ui_settings(
    session: Session, organisation_id: uuid.UUID, body: ConnectUiSettings
) -> ConnectUiSettingsOut:
    organisation = _organisation(session, organisation_id)
    organisation.connect_frame_origins = list(dict.fromkeys(body.allowed_frame_origins))
    session.flush()
    return ConnectUiSettingsOut(allowed_frame_origins=organisation.connect_frame_origins)
