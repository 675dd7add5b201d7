"""Users of an organisation. Every function takes the organisation id: no query runs unscoped."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, exists, func, select, update
from sqlalchemy.orm import Session

from solarfleet.api.errors import Conflict, NotFound
from solarfleet.buildings.models import Building
from solarfleet.database import utcnow
from solarfleet.inverters.models import LIFECYCLE_CREATED, Inverter
from solarfleet.users.models import User
from solarfleet.users.schemas import UserCreate, UserOut, UserUpdate

_live_inverters = (Inverter.user_id == User.id) & Inverter.deleted_at.is_(None)
_num_inverters = select(func.count(Inverter.id)).where(_live_inverters).correlate(User).scalar_subquery()
_is_onboarded = exists().where(_live_inverters, Inverter.lifecycle_state != LIFECYCLE_CREATED).correlate(User)


def _query(organisation_id: uuid.UUID, include_deleted: bool) -> Select:
    query = select(User, _num_inverters, _is_onboarded).where(User.organisation_id == organisation_id)
    if not include_deleted:
        query = query.where(User.deleted_at.is_(None))
    return query


def _out(user: User, num_inverters: int, is_onboarded: bool) -> UserOut:
    return UserOut(
        id=user.id,
        organization_id=user.organisation_id,
        role=user.role,
        email=user.email,
        external_user_id=user.external_user_id,
        first_name=user.first_name,
        last_name=user.last_name,
        num_inverters=num_inverters,
        is_onboarded=bool(is_onboarded),
        street_and_number=user.street_and_number,
        street_add_info=user.street_add_info,
        zip_code=user.zip_code,
        town=user.town,
        country=user.country,
        latitude=user.latitude,
        longitude=user.longitude,
        joined_at=user.joined_at,
        deleted_at=user.deleted_at,
    )


def list_users(session: Session, organisation_id: uuid.UUID, include_deleted: bool) -> list[UserOut]:
    rows = session.execute(_query(organisation_id, include_deleted).order_by(User.joined_at, User.id))
    return [_out(*row) for row in rows]


def user_out(session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID, include_deleted: bool) -> UserOut:
    row = session.execute(_query(organisation_id, include_deleted).where(User.id == user_id)).first()
    if row is None:
        raise NotFound("user")
    return _out(*row)


def user_out_by_external_id(
    session: Session, organisation_id: uuid.UUID, external_id: str, include_deleted: bool
) -> UserOut:
    # A live user comes first; among deleted ones, the most recently deleted.
    query = (
        _query(organisation_id, include_deleted)
        .where(User.external_user_id == external_id)
        .order_by(User.deleted_at.is_not(None), User.deleted_at.desc())
    )
    row = session.execute(query).first()
    if row is None:
        raise NotFound("user")
    return _out(*row)


def scoped_user(
    session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID, include_deleted: bool = False
) -> User:
    """The user of this organisation, not deleted unless include_deleted; else 404 (unknown and foreign alike)."""
    query = select(User).where(User.id == user_id, User.organisation_id == organisation_id)
    user = session.scalar(query if include_deleted else query.where(User.deleted_at.is_(None)))
    if user is None:
        raise NotFound("user")
    return user


def _ensure_unique(session: Session, organisation_id: uuid.UUID, changes: dict[str, Any], own_id=None) -> None:
    live = (User.organisation_id == organisation_id) & User.deleted_at.is_(None)
    if own_id is not None:
        live &= User.id != own_id
    email = changes.get("email")
    if email is not None and session.scalar(select(exists().where(live, func.lower(User.email) == email.lower()))):
        raise Conflict("a user with this email already exists in the organisation")
    external_id = changes.get("external_user_id")
    if external_id is not None and session.scalar(select(exists().where(live, User.external_user_id == external_id))):
        raise Conflict("a user with this external_user_id already exists in the organisation")


def _columns(changes: dict[str, Any]) -> dict[str, Any]:
    if "country_iso2" in changes:
        changes["country"] = changes.pop("country_iso2")
    return changes


def create_user(session: Session, organisation_id: uuid.UUID, body: UserCreate) -> UserOut:
    changes = _columns(body.model_dump())
    _ensure_unique(session, organisation_id, changes)
    user = User(organisation_id=organisation_id, **changes)
    session.add(user)
    session.flush()
    return _out(user, 0, False)


def update_user(session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID, body: UserUpdate) -> UserOut:
    user = scoped_user(session, organisation_id, user_id)
    changes = _columns(body.changes())
    _ensure_unique(session, organisation_id, changes, own_id=user.id)
    for name, value in changes.items():
        setattr(user, name, value)
    session.flush()
    return user_out(session, organisation_id, user_id, include_deleted=False)


def delete_user(session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Soft-delete the user with their buildings and devices, in one transaction."""
    user = scoped_user(session, organisation_id, user_id)
    now = utcnow()
    user.deleted_at = now
    for model in (Inverter, Building):
        session.execute(
            update(model)
            .where(model.user_id == user.id, model.organisation_id == organisation_id, model.deleted_at.is_(None))
            .values(deleted_at=now, updated_at=now)
        )
