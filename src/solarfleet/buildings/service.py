"""Buildings of a user, always reached through the organisation and the user."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from solarfleet.api.errors import Conflict, NotFound
from solarfleet.buildings.models import Building
from solarfleet.buildings.schemas import BuildingCreate, BuildingUpdate
from solarfleet.database import utcnow
from solarfleet.inverters.models import Inverter
from solarfleet.users.service import scoped_user


def _scoped(organisation_id: uuid.UUID, user_id: uuid.UUID, include_deleted: bool):
    query = select(Building).where(Building.organisation_id == organisation_id, Building.user_id == user_id)
    return query if include_deleted else query.where(Building.deleted_at.is_(None))


def list_buildings(
    session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID, include_deleted: bool
) -> list[Building]:
    scoped_user(session, organisation_id, user_id, include_deleted)
    query = _scoped(organisation_id, user_id, include_deleted).order_by(Building.created_at, Building.id)
    return list(session.scalars(query))


def get_building(
    session: Session,
    organisation_id: uuid.UUID,
    user_id: uuid.UUID,
    building_id: uuid.UUID,
    include_deleted: bool = False,
) -> Building:
    building = session.scalar(_scoped(organisation_id, user_id, include_deleted).where(Building.id == building_id))
    if building is None:
        raise NotFound("building")
    return building


def create_building(session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID, body: BuildingCreate) -> Building:
    scoped_user(session, organisation_id, user_id)
    building = Building(organisation_id=organisation_id, user_id=user_id, **body.model_dump())
    session.add(building)
    session.flush()
    return building


def update_building(
    session: Session,
    organisation_id: uuid.UUID,
    user_id: uuid.UUID,
    building_id: uuid.UUID,
    body: BuildingUpdate,
) -> Building:
    scoped_user(session, organisation_id, user_id)
    building = get_building(session, organisation_id, user_id, building_id)
    for name, value in body.changes().items():
        setattr(building, name, value)
    session.flush()
    return building


def delete_building(session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID, building_id: uuid.UUID) -> None:
    scoped_user(session, organisation_id, user_id)
    building = get_building(session, organisation_id, user_id, building_id)
    # Deleting the place must not silently stop a customer's devices: they are moved or deleted first.
    live_devices = session.scalar(
        select(func.count(Inverter.id)).where(Inverter.building_id == building.id, Inverter.deleted_at.is_(None))
    )
    if live_devices:
        raise Conflict(
            f"the building still has {live_devices} inverter(s); move them to another building "
            "(PUT building_id) or delete them first"
        )
    building.deleted_at = utcnow()
