"""Inverters of a user: registration, configuration, soft deletion and the response objects."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, exists, select
from sqlalchemy.orm import Session

from solarfleet.api.errors import FieldError, NotFound
from solarfleet.buildings.models import Building
from solarfleet.catalogue.models import CloudService, DeviceModel, needs_gateway
from solarfleet.catalogue.schemas import DeviceTypeOut
from solarfleet.database import utcnow
from solarfleet.inverters import derived
from solarfleet.inverters.models import REAUTHENTICATE, Inverter, InverterAction
from solarfleet.inverters.schemas import (
    NEVER,
    ActionOut,
    DeviceFlagsUpdate,
    DeviceModelOutput,
    InverterCreate,
    InverterDetailOut,
    InverterOut,
    InverterWritable,
    OwnerOutput,
)
from solarfleet.onboarding.links import ConnectLinks
from solarfleet.users.models import User
from solarfleet.users.service import scoped_user

# Changing any of these is a change of "rating, capacity or preferences".
INFORMATION_FIELDS = frozenset(
    {
        "solar_power_rating_kw",
        "is_battery_connected",
        "battery_capacity_kwh",
        "min_battery_charge",
        "max_battery_charge",
        "user_limits_enabled",
        "battery_policy",
    }
)
DEVICE_TYPE = DeviceTypeOut.of("inverter")
_STORED_FIELDS = tuple(
    name
    for name in InverterOut.model_fields
    if name in Inverter.__table__.columns and name != "inverter_forced_mode_since"
)

_pending_action = (
    exists().where(InverterAction.inverter_id == Inverter.id, InverterAction.resolved_at.is_(None)).correlate(Inverter)
)


# Columns, not ORM entities: loading Inverter, User, DeviceModel and CloudService objects into the
# session (instance state, identity map, the device model's eager join) costs about twice the
# query itself on the partner API's most frequent read. Labels keep the four tables' names apart.
_COLUMNS = (
    *(getattr(Inverter, name) for name in _STORED_FIELDS),
    Inverter.building_id,
    Inverter.pause_power_confirmed,
    Inverter.inverter_forced_mode_since,
    User.id.label("owner_id"),
    User.email.label("owner_email"),
    User.first_name.label("owner_first_name"),
    User.last_name.label("owner_last_name"),
    User.external_user_id.label("owner_external_id"),
    DeviceModel.id.label("model_id"),
    DeviceModel.device_type.label("model_device_type"),
    DeviceModel.manufacturer.label("model_manufacturer"),
    DeviceModel.model.label("model_model"),
    DeviceModel.year.label("model_year"),
    CloudService.id.label("service_id"),
    CloudService.access.label("service_access"),
    CloudService.instructions.label("service_instructions"),
    CloudService.signup_link.label("service_signup_link"),
    _pending_action.label("action_needed"),
)


def _query(include_deleted: bool) -> Select:
    """A user's inverters; parameters `organisation_id` and `user_id`."""
    query = (
        select(*_COLUMNS)
        .join_from(Inverter, User, User.id == Inverter.user_id)
        .outerjoin(DeviceModel, DeviceModel.id == Inverter.device_model_id)
        .outerjoin(CloudService, CloudService.id == DeviceModel.cloud_service_id)
        .where(Inverter.organisation_id == bindparam("organisation_id"), Inverter.user_id == bindparam("user_id"))
    )
    return query if include_deleted else query.where(Inverter.deleted_at.is_(None))


def _list_query(include_deleted: bool) -> Select:
    # The owner as scoped_user(..., include_deleted) requires it, so that any row proves the user valid.
    owner = User.organisation_id == bindparam("organisation_id")
    if not include_deleted:
        owner &= User.deleted_at.is_(None)
    return _query(include_deleted).where(owner).order_by(Inverter.created_at, Inverter.id)


# Built once, by include_deleted: composing a select of this many columns costs as much as running it.
_LIST_QUERIES = {deleted: _list_query(deleted) for deleted in (False, True)}
_DETAIL_QUERIES = {deleted: _query(deleted).where(Inverter.id == bindparam("inverter_id")) for deleted in (False, True)}


def _device_model_out(row: dict[str, Any]) -> DeviceModelOutput:
    if row["model_id"] is None or row["service_id"] is None:
        return DeviceModelOutput(device_type=DEVICE_TYPE, manufacturer=None)
    return DeviceModelOutput(
        device_type=DeviceTypeOut.of(row["model_device_type"]),
        manufacturer=row["model_manufacturer"],
        model=row["model_model"],
        cloud_service_instructions=row["service_instructions"],
        cloud_service_signup_link=row["service_signup_link"],
        year=row["model_year"],
        cloud_service=row["service_id"],
    )


def _fields(row: dict[str, Any], now: datetime, links: ConnectLinks) -> dict[str, Any]:
    fields = {name: row[name] for name in _STORED_FIELDS}
    fields["authorization_url"], fields["embeddable_url"] = links.device_urls(row["id"])
    fields.update(
        device_model=_device_model_out(row),
        owner=OwnerOutput(
            id=row["owner_id"],
            email=row["owner_email"],
            first_name=row["owner_first_name"],
            last_name=row["owner_last_name"],
            external_id=row["owner_external_id"],
        ),
        building=row["building_id"],
        is_pause_power_active=derived.is_pause_power_active(
            row["pause_power_until"], row["pause_power_confirmed"], now
        ),
        inverter_forced_mode_since=row["inverter_forced_mode_since"] or NEVER,
        solar_surplus_w=derived.solar_surplus_w(row["current_solar_production_w"], row["household_consumption_w"]),
        needs_gateway=_needs_gateway(row),
        action_needed=bool(row["action_needed"]),
    )
    return fields


def _needs_gateway(row: dict[str, Any]) -> bool:
    if row["needs_gateway"] is not None:  # onboarding found out whether solarfleet reaches the device itself
        return row["needs_gateway"]
    # Else the device model decides; the seed's default (false) until a model is chosen.
    return row["service_id"] is not None and needs_gateway(row["service_access"])


def list_inverters(
    session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID, include_deleted: bool, links: ConnectLinks
) -> list[InverterOut]:
    now = utcnow()
    # On the connection, not the session: a read has nothing to autoflush, and the session would put
    # every row through ORM loading. Rows become dicts by one zip with the keys, far cheaper than Row._asdict().
    result = session.connection().execute(
        _LIST_QUERIES[include_deleted], {"organisation_id": organisation_id, "user_id": user_id}
    )
    keys = tuple(result.keys())
    inverters = [InverterOut(**_fields(dict(zip(keys, row, strict=True)), now, links)) for row in result]
    if not inverters:
        # Only now is scoped_user needed: to tell a user without inverters from an unknown one (404).
        scoped_user(session, organisation_id, user_id, include_deleted)
    return inverters


def inverter_detail(
    session: Session,
    organisation_id: uuid.UUID,
    user_id: uuid.UUID,
    inverter_id: uuid.UUID,
    links: ConnectLinks,
    include_deleted: bool = False,
) -> InverterDetailOut:
    row = session.execute(
        _DETAIL_QUERIES[include_deleted],
        {"organisation_id": organisation_id, "user_id": user_id, "inverter_id": inverter_id},
    ).first()
    if row is None:
        raise NotFound("inverter")
    actions = session.scalars(
        select(InverterAction)
        .where(InverterAction.inverter_id == inverter_id, InverterAction.resolved_at.is_(None))
        .order_by(InverterAction.created_at)
    )
    fields = _fields(row._asdict(), utcnow(), links)
    return InverterDetailOut(
        **fields,
        actions=[
            ActionOut(
                action=a.action,
                message=a.message,
                # Resolved where the customer authorises the device again (derived: follows the configured address).
                resolution_link=fields["authorization_url"] if a.action == REAUTHENTICATE else a.resolution_link,
                created_at=a.created_at,
            )
            for a in actions
        ],
    )


def owned_inverter(
    session: Session,
    organisation_id: uuid.UUID,
    user_id: uuid.UUID,
    inverter_id: uuid.UUID,
    include_deleted: bool = False,
) -> Inverter:
    """The user's inverter in the organisation; NotFound (404) for an unknown, foreign or deleted one."""
    query = select(Inverter).where(
        Inverter.id == inverter_id, Inverter.organisation_id == organisation_id, Inverter.user_id == user_id
    )
    if not include_deleted:
        query = query.where(Inverter.deleted_at.is_(None))
    inverter = session.scalar(query)
    if inverter is None:
        raise NotFound("inverter")
    return inverter


def check_users_building(session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID, building_id) -> None:
    if building_id is None:
        return
    found = session.scalar(
        select(
            exists().where(
                Building.id == building_id,
                Building.organisation_id == organisation_id,
                Building.user_id == user_id,
                Building.deleted_at.is_(None),
            )
        )
    )
    if not found:
        raise FieldError("building_id", "no building with this id belongs to this user")


def _check_battery(inverter: Inverter) -> None:
    """Rules over the merged state, so a partial update cannot break them."""
    if (
        inverter.min_battery_charge is not None
        and inverter.max_battery_charge is not None
        and inverter.min_battery_charge > inverter.max_battery_charge
    ):
        raise FieldError("min_battery_charge", "must not exceed max_battery_charge")
    if (
        inverter.is_battery_connected
        and inverter.battery_capacity_kwh is None
        and inverter.inferred_battery_capacity_kwh is None
    ):
        raise FieldError("battery_capacity_kwh", "required when is_battery_connected is true and no capacity is known")


def _apply(inverter: Inverter, changes: dict[str, Any], now: datetime) -> None:
    changed = {name for name, value in changes.items() if getattr(inverter, name) != value}
    for name in changed:
        setattr(inverter, name, changes[name])
    if changed & INFORMATION_FIELDS:
        inverter.information_last_updated_at = now
    if "battery_policy" in changed:
        inverter.battery_policy_last_updated_at = now
    if "pause_power_until" in changed:
        # A new pause must be confirmed by the device again before it counts as active.
        inverter.pause_power_confirmed = False


def register_inverter(
    session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID, body: InverterCreate, links: ConnectLinks
) -> InverterDetailOut:
    scoped_user(session, organisation_id, user_id)
    changes = body.changes()
    check_users_building(session, organisation_id, user_id, changes.get("building_id"))
    device_model_id = changes.pop("device_model_id", None)
    if device_model_id is not None and session.get(DeviceModel, device_model_id) is None:
        raise FieldError("device_model_id", "not in the catalogue; see GET /catalogue/device-models")
    now = utcnow()
    inverter = Inverter(
        organisation_id=organisation_id,
        user_id=user_id,
        device_model_id=device_model_id,
        created_at=now,
        updated_at=now,
        external_device_id="",
    )
    _apply(inverter, changes, now)
    _check_battery(inverter)
    session.add(inverter)
    session.flush()
    return inverter_detail(session, organisation_id, user_id, inverter.id, links)


def update_inverter(
    session: Session,
    organisation_id: uuid.UUID,
    user_id: uuid.UUID,
    inverter_id: uuid.UUID,
    body: InverterWritable,
    links: ConnectLinks,
) -> InverterDetailOut:
    inverter = owned_inverter(session, organisation_id, user_id, inverter_id)
    changes = body.changes()
    if "building_id" in changes:
        check_users_building(session, organisation_id, user_id, changes["building_id"])
    _apply(inverter, changes, utcnow())
    _check_battery(inverter)
    session.flush()
    return inverter_detail(session, organisation_id, user_id, inverter_id, links)


def update_device_flags(
    session: Session,
    organisation_id: uuid.UUID,
    user_id: uuid.UUID,
    device_id: uuid.UUID,
    body: DeviceFlagsUpdate,
    links: ConnectLinks,
) -> InverterDetailOut:
    inverter = owned_inverter(session, organisation_id, user_id, device_id)
    changes = body.changes()
    if changes.get("is_authenticated") is True:
        raise FieldError("is_authenticated", "only a successful (re-)authentication by the end user can set it to true")
    if changes.get("is_authenticated") is False and inverter.is_authenticated:
        session.add(
            InverterAction(
                inverter_id=inverter.id,
                action=REAUTHENTICATE,
                message="The partner marked the device's credentials as not working; the end user must "
                "re-authenticate the device.",
            )
        )
    _apply(inverter, changes, utcnow())
    session.flush()
    return inverter_detail(session, organisation_id, user_id, device_id, links)


def delete_inverter(session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID, inverter_id: uuid.UUID) -> None:
    inverter = owned_inverter(session, organisation_id, user_id, inverter_id)
    inverter.deleted_at = utcnow()
