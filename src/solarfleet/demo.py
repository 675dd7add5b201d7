"""The demo organisation that `make run` serves: a partner whose customers own simulated homes.

Idempotent: a second run finds the organisation by name, keeps its households and only issues a
fresh API client. Households are drawn from a seeded generator, so one seed always gives one fleet.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from solarfleet.buildings.models import Building
from solarfleet.catalogue.models import CloudService, DeviceModel
from solarfleet.connectors.simulator.home import BatterySpec, EvSpec, HomeParameters
from solarfleet.credentials_cipher import CredentialsCipher
from solarfleet.database import utcnow
from solarfleet.inverters.models import Inverter
from solarfleet.monitoring.statuses import LIFECYCLE_AUTHENTICATED
from solarfleet.monitoring.store import add_device_connection
from solarfleet.organisations.models import ApiClient, Organisation
from solarfleet.organisations.service import IssuedClient, create_client, create_organisation
from solarfleet.prices.store import store_curves
from solarfleet.prices.synthetic import synthetic_prices
from solarfleet.prices.zones import ZONE_LOCATIONS, PriceZone
from solarfleet.tariffs.models import OrganisationTariff
from solarfleet.users.models import User

DEMO_ORGANISATION = "solarfleet demo energy"
SIMULATOR_CONNECTOR = "simulator"
# What the demo partner adds to spot for its customers: grid fees, levies and taxes of a typical
# Austrian or German household tariff come to about 12–20 ct/kWh.
DEMO_IMPORT_COMPONENTS_EUR_MWH = 150.0

FIRST_NAMES = ("Anna", "Jonas", "Sara", "Luca", "Marie", "Tomás", "Eva", "Mihai", "Kadri", "Zsófia", "Pieter", "Ines")
LAST_NAMES = ("Gruber", "Becker", "Lindqvist", "Moretti", "Dubois", "Silva", "Novak", "Popescu", "Tamm", "Kovács")
# (zone, town) pairs the demo spreads its households over.
TOWNS = (
    (PriceZone.AT, "Wien"),
    (PriceZone.DE_LU, "Frankfurt am Main"),
    (PriceZone.SE_4, "Malmö"),
    (PriceZone.IT_NORD, "Milano"),
    (PriceZone.BE, "Bruxelles"),
    (PriceZone.PT, "Lisboa"),
    (PriceZone.HU, "Budapest"),
    (PriceZone.RO, "București"),
    (PriceZone.EE, "Tallinn"),
)
COUNTRY = {
    "AT": "AT",
    "DE_LU": "DE",
    "SE_4": "SE",
    "IT_NORD": "IT",
    "BE": "BE",
    "PT": "PT",
    "HU": "HU",
    "RO": "RO",
    "EE": "EE",
}


@dataclass(frozen=True)
class HouseholdKind:
    name: str
    battery: bool
    ev: bool
    household_metered: bool = True
    policy: str = "Optimize self consumption"
    forced_mode: bool = False  # the partner lets solarfleet charge from and discharge to the grid
    trading: bool = False


# The mix the demo cycles through: PV only, PV with battery, with an EV, and one without a consumption
# meter; the batteries under each battery policy, some with forced mode and in the trading portfolio.
KINDS = (
    HouseholdKind("pv", battery=False, ev=False),
    HouseholdKind(
        "pv+battery", battery=True, ev=False, policy="Optimize grid balancing", forced_mode=True, trading=True
    ),
    HouseholdKind("pv+battery+ev", battery=True, ev=True),
    HouseholdKind("pv+ev", battery=False, ev=True),
    HouseholdKind(
        "pv+battery, no consumption meter", battery=True, ev=False, household_metered=False, policy="Export all"
    ),
    HouseholdKind("pv+battery, arbitrage", battery=True, ev=False, policy="Optimize grid balancing", forced_mode=True),
)


def home_parameters(
    rng: random.Random,
    seed: int,
    zone: PriceZone,
    latitude: float,
    longitude: float,
    pv_kwp: float | None = None,
    battery_kwh: float | None = None,
    ev: bool = False,
    household_metered: bool = True,
) -> HomeParameters:
    """A plausible home: sizes drawn around typical European residential systems unless given."""
    pv_kwp = pv_kwp if pv_kwp is not None else round(rng.uniform(4.0, 12.0), 1)
    battery = None
    if battery_kwh is not None:
        c_rate = rng.uniform(0.4, 0.6)  # typical home batteries charge at about half their capacity per hour
        battery = BatterySpec(
            capacity_kwh=battery_kwh,
            max_charge_w=round(battery_kwh * 1000 * c_rate, -1),
            max_discharge_w=round(battery_kwh * 1000 * c_rate * rng.uniform(0.9, 1.1), -1),
            round_trip_efficiency=round(rng.uniform(0.88, 0.94), 3),
            reserve_percent=float(rng.choice((5, 10, 15, 20))),
        )
    return HomeParameters(
        seed=seed,
        latitude=latitude,
        longitude=longitude,
        timezone=ZONE_LOCATIONS[zone].timezone,
        pv_kwp=pv_kwp,
        pv_tilt=float(rng.choice((15, 25, 30, 35, 40))),
        pv_azimuth=float(rng.choice((135, 160, 180, 200, 225))),
        annual_consumption_kwh=round(rng.uniform(2500, 6000), -1),
        battery=battery,
        ev=EvSpec(power_w=rng.choice((7400.0, 11000.0)), sessions_per_week=rng.uniform(2, 5)) if ev else None,
        household_metered=household_metered,
    )


def add_simulated_inverter(
    session: Session,
    cipher: CredentialsCipher,
    user: User,
    parameters: HomeParameters,
    zone: PriceZone,
    building_id: uuid.UUID | None = None,
) -> Inverter:
    """Register a simulated inverter for `user`, linked and ready for monitoring (`authenticated`)."""
    simulator_model = session.scalar(
        select(DeviceModel)
        .join(CloudService, DeviceModel.cloud_service_id == CloudService.id)
        .where(CloudService.connector == SIMULATOR_CONNECTOR)
    )
    battery = parameters.battery
    inverter = Inverter(
        organisation_id=user.organisation_id,
        user_id=user.id,
        building_id=building_id,
        device_model_id=simulator_model.id,
        external_device_id=f"SIM-{parameters.seed}",
        price_zone=zone.value,
        solar_power_rating_kw=parameters.pv_kwp,
        is_battery_connected=battery is not None,
        battery_capacity_kwh=battery.capacity_kwh if battery else None,
        lifecycle_state=LIFECYCLE_AUTHENTICATED,
        is_authenticated=True,
        information_last_updated_at=utcnow(),
    )
    session.add(inverter)
    session.flush()
    add_device_connection(session, cipher, inverter.id, SIMULATOR_CONNECTOR, parameters.model_dump(mode="json"))
    return inverter


def ensure_demo_fleet(session: Session, cipher: CredentialsCipher, households: int, seed: int) -> IssuedClient:
    """Create the demo organisation and its households once, then issue a fresh client (earlier demo
    clients are revoked). Returns the client with its secret."""
    organisation = session.scalar(select(Organisation).where(Organisation.name == DEMO_ORGANISATION))
    if organisation is None:
        issued = create_organisation(session, DEMO_ORGANISATION)
        organisation_id = issued.org_id
    else:
        organisation_id = organisation.id
        session.execute(
            update(ApiClient)
            .where(ApiClient.organisation_id == organisation_id, ApiClient.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        issued = create_client(session, organisation_id)
    if session.get(OrganisationTariff, organisation_id) is None:
        session.add(
            OrganisationTariff(
                organisation_id=organisation_id, import_components_eur_mwh=DEMO_IMPORT_COMPONENTS_EUR_MWH
            )
        )
    existing = session.scalar(select(func.count()).select_from(User).where(User.organisation_id == organisation_id))
    _add_households(session, cipher, organisation_id, range(existing, households), seed)
    return issued


def _add_households(session: Session, cipher: CredentialsCipher, organisation_id, numbers: range, seed: int) -> None:
    for number in numbers:
        rng = random.Random(seed * 1_000_003 + number)  # noqa: S311 - a simulation, not a secret
        kind = KINDS[number % len(KINDS)]
        zone, town = TOWNS[number % len(TOWNS)]
        base = ZONE_LOCATIONS[zone]
        latitude = round(base.latitude + rng.uniform(-0.3, 0.3), 4)
        longitude = round(base.longitude + rng.uniform(-0.3, 0.3), 4)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        user = User(
            organisation_id=organisation_id,
            email=f"{first.lower()}.{last.lower()}.{number}@example.com",
            first_name=first,
            last_name=last,
            external_user_id=f"demo-{number:04d}",
            town=town,
            country=COUNTRY[zone.value],
            latitude=latitude,
            longitude=longitude,
        )
        session.add(user)
        session.flush()
        building = Building(
            organisation_id=organisation_id,
            user_id=user.id,
            name="Home",
            property_type=rng.choice(("Detached", "Semi-detached", "Terraced", "Bungalow")),
            photovoltaic=True,
            town=town,
            country=user.country,
            latitude=latitude,
            longitude=longitude,
        )
        session.add(building)
        session.flush()
        parameters = home_parameters(
            rng,
            seed=(seed * 1_000_003 + number) % 2**62,
            zone=zone,
            latitude=latitude,
            longitude=longitude,
            battery_kwh=round(rng.uniform(5.0, 15.0), 1) if kind.battery else None,
            ev=kind.ev,
            household_metered=kind.household_metered,
        )
        inverter = add_simulated_inverter(session, cipher, user, parameters, zone, building.id)
        inverter.is_smart_optimization_active = True
        inverter.battery_policy = kind.policy
        inverter.is_inverter_forced_mode_enabled = kind.forced_mode
        inverter.is_trading_enabled = kind.trading


def demo_zones(session: Session, organisation_id: uuid.UUID) -> set[PriceZone]:
    """The price zones of the demo fleet's live inverters."""
    zones = session.scalars(
        select(Inverter.price_zone).where(Inverter.organisation_id == organisation_id, Inverter.deleted_at.is_(None))
    )
    return {PriceZone(zone) for zone in zones}


def store_synthetic_history(
    session: Session, zones: set[PriceZone], first_day: date, last_day: date, seed: int
) -> None:
    """Synthetic day-ahead prices for the demo's past (the live fetcher publishes the days from today on)."""
    days = (last_day - first_day).days + 1
    store_curves(session, [synthetic_prices(zone, first_day, days, seed) for zone in sorted(zones)])
