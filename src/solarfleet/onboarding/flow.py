"""The customer's way through the Connect UI, as state changes of one onboarding session.

Each step checks that the session is still open (not expired, not used), so an old tab or a replayed
form can never act on a finished session; the last step connects the device in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from solarfleet.catalogue.models import DeviceModel
from solarfleet.connectors.base import Capabilities
from solarfleet.connectors.registry import InvalidConnectionSettings, validate_settings
from solarfleet.credentials_cipher import CredentialsCipher
from solarfleet.database import Database
from solarfleet.inverters.models import CONNECT_GATEWAY, LIFECYCLE_CREATED, REAUTHENTICATE, Inverter, InverterAction
from solarfleet.monitoring.models import DeviceConnection
from solarfleet.monitoring.statuses import LIFECYCLE_ACTIVE, LIFECYCLE_AUTHENTICATED
from solarfleet.monitoring.store import add_device_connection
from solarfleet.onboarding.connection_forms import FORMS, ConnectionForm, FormContext, FormValueError
from solarfleet.onboarding.device_check import CheckFailure, CheckOutcome
from solarfleet.onboarding.i18n import N_
from solarfleet.onboarding.models import (
    PURPOSE_ONBOARDING,
    STATE_CANCELLED,
    STATE_CHECKING,
    STATE_COMPLETED,
    STATE_EXPIRED,
    STATE_PENDING,
    OnboardingSession,
)
from solarfleet.onboarding.service import reauthentication_session, session_state
from solarfleet.prices.zones import ZONE_LOCATIONS, PriceZone
from solarfleet.users.models import User

# A check that has not written its outcome by then was lost (its server stopped): the customer may retry.
STALE_CHECK = timedelta(minutes=2)


class SessionUnavailable(Exception):
    """The session cannot be used (any more): `reason` is unknown, expired, completed or cancelled."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ModelChoice:
    model: DeviceModel
    form: ConnectionForm | None  # None: solarfleet has no connector for it yet

    @property
    def connectable(self) -> bool:
        return self.form is not None


def open_session(session: Session, session_id: uuid.UUID, now: datetime) -> OnboardingSession:
    """The session, if the customer may still act on it; a lost check is turned back into a retry."""
    row = session.get(OnboardingSession, session_id)
    if row is None:
        raise SessionUnavailable("unknown")
    state = session_state(row, now)
    if state in (STATE_COMPLETED, STATE_CANCELLED, STATE_EXPIRED):
        raise SessionUnavailable(state.value)
    if row.state == STATE_CHECKING and row.check_started_at and now - row.check_started_at > STALE_CHECK:
        row.state = STATE_PENDING
        row.check_error = CheckFailure.INTERRUPTED.value
    return row


def device_models(session: Session) -> list[ModelChoice]:
    models = session.scalars(select(DeviceModel).order_by(DeviceModel.manufacturer, DeviceModel.model))
    return [ModelChoice(m, FORMS.get(m.cloud_service.connector)) for m in models]


def chosen_model(session: Session, row: OnboardingSession) -> ModelChoice | None:
    if row.device_model_id is None:
        return None
    model = session.get(DeviceModel, row.device_model_id)
    return ModelChoice(model, FORMS.get(model.cloud_service.connector))


def choose_model(session: Session, row: OnboardingSession, device_model_id: uuid.UUID) -> bool:
    """False when the model is unknown or cannot be connected yet."""
    model = session.get(DeviceModel, device_model_id)
    if model is None or model.cloud_service.connector not in FORMS:
        return False
    if row.device_model_id != model.id:
        row.device_model_id = model.id
        row.pending_settings_ciphertext = None
    row.check_error = row.check_detail = None
    return True


def form_context(session: Session, row: OnboardingSession, solaredge_api_url: str | None) -> FormContext:
    """The home's coordinates (the user's, else the middle of the price zone) and the vendor addresses."""
    zone = PriceZone(row.price_zone)
    user = session.get(User, row.user_id)
    if user is not None and user.latitude is not None and user.longitude is not None:
        return FormContext(zone, user.latitude, user.longitude, solaredge_api_url)
    location = ZONE_LOCATIONS[zone]
    return FormContext(zone, location.latitude, location.longitude, solaredge_api_url)


def known_values(session: Session, cipher: CredentialsCipher, row: OnboardingSession, form: ConnectionForm) -> dict:
    """What the connection form starts with: the field defaults, overlaid with the non-secret values the
    customer gave before (back from the consent page) or the device's current connection has
    (re-authentication), so that only what changed must be typed again."""
    values = {f.name: f.default for f in form.fields}
    ciphertext = row.pending_settings_ciphertext
    if ciphertext is None and row.inverter_id is not None:
        connection = session.get(DeviceConnection, row.inverter_id)
        if connection is not None and connection.connector == form.connector:
            ciphertext = connection.settings_ciphertext
    if ciphertext is None:
        return values
    settings = cipher.decrypt(ciphertext.encode())
    for f in form.fields:
        if not f.secret and isinstance(settings.get(f.name), str | int | float):
            values[f.name] = str(settings[f.name])
    return values


def save_connection(
    session: Session,
    cipher: CredentialsCipher,
    row: OnboardingSession,
    form: ConnectionForm,
    values: Mapping[str, str],
    context: FormContext,
) -> dict[str, str]:
    """Validate the connection step and keep its settings (encrypted) for the check; the errors by field."""
    missing = {f.name: N_("This field is required.") for f in form.fields if f.required and not values.get(f.name)}
    if missing:
        return missing
    try:
        settings = form.settings(values, context)
        validate_settings(form.connector, settings)
    except FormValueError as error:
        return {error.field: str(error)}
    except (InvalidConnectionSettings, ValidationError) as error:
        # ValidationError: a settings builder that assembles models of its own (the simulator's home).
        issues = error.errors if isinstance(error, InvalidConnectionSettings) else error.errors(include_input=False)
        problems: dict[str, str] = {}
        for issue in issues:
            problems.setdefault(form.field_for(tuple(issue["loc"])), issue["msg"])
        return problems
    row.pending_settings_ciphertext = cipher.encrypt(settings).decode()
    row.check_error = row.check_detail = None
    return {}


def begin_check(session: Session, row: OnboardingSession, now: datetime) -> bool:
    """Consent given: the session waits for its check. False if there is nothing to check or a check runs."""
    if row.pending_settings_ciphertext is None or row.state != STATE_PENDING:
        return False
    row.state = STATE_CHECKING
    row.check_started_at = now
    row.check_error = row.check_detail = None
    return True


def check_job(database: Database, cipher: CredentialsCipher, session_id: uuid.UUID) -> tuple[str, dict] | None:
    """What the background check reads: the connector and the settings, or None if the session moved on."""
    with database.session(write=False) as session:
        row = session.get(OnboardingSession, session_id)
        if row is None or row.state != STATE_CHECKING or row.pending_settings_ciphertext is None:
            return None
        connector = session.get(DeviceModel, row.device_model_id).cloud_service.connector
        return connector, cipher.decrypt(row.pending_settings_ciphertext.encode())


def record_check(
    database: Database, cipher: CredentialsCipher, session_id: uuid.UUID, outcome: CheckOutcome, now: datetime
) -> None:
    with database.session() as session:
        # Taken only if still checking: a cancel or a second check in between wins.
        claimed = session.execute(
            update(OnboardingSession)
            .where(OnboardingSession.id == session_id, OnboardingSession.state == STATE_CHECKING)
            .values(state=STATE_PENDING, updated_at=now)
        ).rowcount
        if not claimed:
            return
        row = session.get(OnboardingSession, session_id)
        if outcome.failure is not None:
            row.check_error, row.check_detail = outcome.failure.value, outcome.detail
            return
        _connect(session, cipher, row, outcome.capabilities, reached=True, now=now)


def connect_through_gateway(session: Session, cipher: CredentialsCipher, row: OnboardingSession, now: datetime) -> bool:
    """After an unreachable local device: connect it anyway, marked as needing a gateway on the home network."""
    model = chosen_model(session, row)
    if (
        row.state != STATE_PENDING
        or row.check_error != CheckFailure.UNREACHABLE.value
        or model is None
        or model.form is None
        or not model.form.local_address
        or row.pending_settings_ciphertext is None
    ):
        return False
    _connect(session, cipher, row, None, reached=False, now=now)
    return True


def cancel(row: OnboardingSession, now: datetime) -> None:
    row.state = STATE_CANCELLED
    row.completed_at = now
    row.pending_settings_ciphertext = None


def _connect(
    session: Session,
    cipher: CredentialsCipher,
    row: OnboardingSession,
    capabilities: Capabilities | None,
    reached: bool,
    now: datetime,
) -> None:
    """Create (or update) the inverter and its connection, and end the session."""
    model = session.get(DeviceModel, row.device_model_id)
    connector = model.cloud_service.connector
    settings = cipher.decrypt(row.pending_settings_ciphertext.encode())
    if row.purpose == PURPOSE_ONBOARDING:
        inverter = Inverter(
            organisation_id=row.organisation_id,
            user_id=row.user_id,
            building_id=row.building_id,
            price_zone=row.price_zone,
            is_smart_optimization_active=row.is_smart_optimization_active_default,
            external_device_id="",
            created_at=now,
            updated_at=now,
        )
        session.add(inverter)
    else:
        inverter = session.get(Inverter, row.inverter_id)
    inverter.device_model_id = model.id
    inverter.needs_gateway = not reached
    inverter.is_authenticated = reached
    if inverter.lifecycle_state != LIFECYCLE_ACTIVE or not reached:
        # Polled from now on when reached; an unreached device waits (`created`) for its gateway.
        inverter.lifecycle_state = LIFECYCLE_AUTHENTICATED if reached else LIFECYCLE_CREATED
    inverter.lifecycle_error = None
    if capabilities is not None:
        _take_identity(inverter, capabilities, now)
    session.flush()
    _store_connection(session, cipher, inverter.id, connector, settings, capabilities)
    _resolve_actions(session, inverter.id, reached, now)
    row.inverter_id = inverter.id
    row.state = STATE_COMPLETED
    row.completed_at = now
    row.pending_settings_ciphertext = None
    row.check_error = row.check_detail = None


def _take_identity(inverter: Inverter, capabilities: Capabilities, now: datetime) -> None:
    """What the device said about itself, where the partner has not configured it."""
    serial = capabilities.identity.get("serial")
    if serial and not inverter.external_device_id:
        inverter.external_device_id = serial[:255]
    battery = capabilities.battery
    if battery is not None and battery.capacity_wh and inverter.battery_capacity_kwh is None:
        inverter.is_battery_connected = True
        inverter.battery_capacity_kwh = battery.capacity_wh / 1000.0
        inverter.information_last_updated_at = now


def _store_connection(
    session: Session,
    cipher: CredentialsCipher,
    inverter_id: uuid.UUID,
    connector: str,
    settings: dict[str, Any],
    capabilities: Capabilities | None,
) -> None:
    connection = session.get(DeviceConnection, inverter_id)
    if connection is None:
        add_device_connection(session, cipher, inverter_id, connector, settings)
        session.flush()
        connection = session.get(DeviceConnection, inverter_id)
    else:
        connection.connector = connector
        connection.settings_ciphertext = cipher.encrypt(settings).decode()
    connection.capabilities = capabilities.as_json() if capabilities is not None else None


def _resolve_actions(session: Session, inverter_id: uuid.UUID, reached: bool, now: datetime) -> None:
    if reached:
        session.execute(
            update(InverterAction)
            .where(
                InverterAction.inverter_id == inverter_id,
                InverterAction.action.in_((REAUTHENTICATE, CONNECT_GATEWAY)),
                InverterAction.resolved_at.is_(None),
            )
            .values(resolved_at=now)
        )
        return
    pending = session.scalar(
        select(InverterAction.id).where(
            InverterAction.inverter_id == inverter_id,
            InverterAction.action == CONNECT_GATEWAY,
            InverterAction.resolved_at.is_(None),
        )
    )
    if pending is None:
        session.add(
            InverterAction(
                inverter_id=inverter_id,
                action=CONNECT_GATEWAY,
                message="solarfleet cannot reach the device at the local address the customer gave; a gateway on "
                "the customer's home network must relay it.",
                created_at=now,
            )
        )


def device_link_session(
    session: Session, inverter_id: uuid.UUID, embedded: bool, language: str | None, now: datetime
) -> OnboardingSession | None:
    """A re-authentication session started from the inverter's own link; None if the inverter is gone."""
    inverter = session.scalar(select(Inverter).where(Inverter.id == inverter_id, Inverter.deleted_at.is_(None)))
    if inverter is None:
        return None
    return reauthentication_session(session, inverter, now, language, embedded=embedded)


def forget_expired_details(database: Database, now: datetime) -> int:
    """Drop the connection details customers typed into sessions that expired unfinished: they were kept
    (encrypted) only for the check that never came."""
    with database.session() as session:
        return session.execute(
            update(OnboardingSession)
            .where(OnboardingSession.expires_at <= now, OnboardingSession.pending_settings_ciphertext.is_not(None))
            .values(pending_settings_ciphertext=None, updated_at=now)
        ).rowcount
