"""The demo organisation that `make run` serves: a partner with customers, buildings and inverters.

Idempotent: a second run finds the organisation by name and adds nothing but a fresh API client.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from solarfleet.buildings.models import Building
from solarfleet.catalogue.models import DeviceModel
from solarfleet.database import utcnow
from solarfleet.inverters.models import Inverter
from solarfleet.organisations.models import ApiClient, Organisation
from solarfleet.organisations.service import IssuedClient, create_client, create_organisation
from solarfleet.users.models import User

DEMO_ORGANISATION = "solarfleet demo energy"


@dataclass(frozen=True)
class DemoHome:
    email: str
    first_name: str
    last_name: str
    town: str
    country: str
    latitude: float
    longitude: float
    price_zone: str
    solar_power_rating_kw: float
    battery_capacity_kwh: float | None


HOMES = [
    DemoHome("anna.gruber@example.com", "Anna", "Gruber", "Wien", "AT", 48.2082, 16.3738, "AT", 9.8, 10.2),
    DemoHome("jonas.becker@example.com", "Jonas", "Becker", "Freiburg", "DE", 47.999, 7.842, "DE_LU", 7.2, None),
    DemoHome("sara.lindqvist@example.com", "Sara", "Lindqvist", "Malmö", "SE", 55.605, 13.0038, "SE_4", 11.0, 13.5),
    DemoHome("luca.moretti@example.com", "Luca", "Moretti", "Milano", "IT", 45.4642, 9.19, "IT_NORD", 6.0, 7.7),
]


def ensure_demo_fleet(session: Session) -> IssuedClient:
    """Create the demo organisation once, then issue a fresh client (earlier demo clients are revoked)."""
    organisation = session.scalar(select(Organisation).where(Organisation.name == DEMO_ORGANISATION))
    if organisation is None:
        issued = create_organisation(session, DEMO_ORGANISATION)
        _add_homes(session, issued.org_id)
        return issued
    session.execute(
        update(ApiClient)
        .where(ApiClient.organisation_id == organisation.id, ApiClient.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return create_client(session, organisation.id)


def _add_homes(session: Session, organisation_id) -> None:
    simulator = session.scalar(select(DeviceModel).where(DeviceModel.manufacturer == "solarfleet"))
    for home in HOMES:
        user = User(
            organisation_id=organisation_id,
            email=home.email,
            first_name=home.first_name,
            last_name=home.last_name,
            town=home.town,
            country=home.country,
            latitude=home.latitude,
            longitude=home.longitude,
        )
        session.add(user)
        session.flush()
        building = Building(
            organisation_id=organisation_id,
            user_id=user.id,
            name="Home",
            property_type="Detached",
            photovoltaic=True,
            town=home.town,
            country=home.country,
            latitude=home.latitude,
            longitude=home.longitude,
        )
        session.add(building)
        session.flush()
        now = utcnow()
        session.add(
            Inverter(
                organisation_id=organisation_id,
                user_id=user.id,
                building_id=building.id,
                device_model_id=simulator.id,
                price_zone=home.price_zone,
                solar_power_rating_kw=home.solar_power_rating_kw,
                is_battery_connected=home.battery_capacity_kwh is not None,
                battery_capacity_kwh=home.battery_capacity_kwh,
                information_last_updated_at=now,
            )
        )
