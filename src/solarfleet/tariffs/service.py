"""Energy contracts and the organisation's tariff: the API's reads and writes, and the loader of the
`TariffBook` a planning round prices its devices with. Every query is scoped by the organisation."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import ColumnElement, select, tuple_
from sqlalchemy.orm import Session

from solarfleet.api.errors import FieldError, NotFound
from solarfleet.buildings.service import get_building
from solarfleet.database import in_chunks, utcnow
from solarfleet.prices import store
from solarfleet.tariffs.book import SPOT_ONLY, Contract, ContractType, OrgTariff, TariffBook, TariffDevice
from solarfleet.tariffs.models import EnergyContract, EnergyContractPrice, OrganisationTariff
from solarfleet.tariffs.schemas import (
    EnergyContractCreate,
    EnergyContractOut,
    EnergyPrice,
    OrganisationTariffOut,
    OrganisationTariffUpdate,
    eur_mwh,
    per_kwh,
)
from solarfleet.users.service import scoped_user

# Ids per IN list: far below SQLite's limit on bound parameters, few queries for a large fleet.


# -- energy contracts ------------------------------------------------------------------------------


def create_contract(
    session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID, body: EnergyContractCreate
) -> EnergyContractOut:
    scoped_user(session, organisation_id, user_id)
    if body.building_id is not None:
        try:
            get_building(session, organisation_id, user_id, body.building_id)
        except NotFound:
            # A reference in the body, not the resource addressed: invalid input, as for inverters.
            raise FieldError("building_id", "no building with this id belongs to this user") from None
    contract = EnergyContract(
        organisation_id=organisation_id,
        user_id=user_id,
        building_id=body.building_id,
        energy_contract_type=body.energy_contract_type,
        meter_id=body.meter_id,
        supplier=body.supplier,
        currency_energy_price=body.currency_energy_price,
        energy_price_includes_external_components=body.energy_price_includes_external_components,
        feed_in_tariff_eur_mwh=None if body.feed_in_tariff is None else eur_mwh(body.feed_in_tariff),
    )
    session.add(contract)
    session.flush()
    prices = [
        EnergyContractPrice(contract_id=contract.id, valid_from=entry.timestamp, price_eur_mwh=eur_mwh(entry.price))
        for entry in body.energy_prices
    ]
    session.add_all(prices)
    session.flush()
    return _contract_out(contract, prices)


def list_contracts(session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID) -> list[EnergyContractOut]:
    scoped_user(session, organisation_id, user_id)
    found = _contracts_with_prices(
        session, (EnergyContract.organisation_id == organisation_id) & (EnergyContract.user_id == user_id)
    )
    return [_contract_out(contract, prices) for contract, prices in found]


def _contracts_with_prices(
    session: Session, where: ColumnElement[bool]
) -> list[tuple[EnergyContract, list[EnergyContractPrice]]]:
    """The matching contracts, oldest first, each with its prices in time order: two queries."""
    contracts = list(session.scalars(select(EnergyContract).where(where).order_by(EnergyContract.created_at)))
    prices: dict[uuid.UUID, list[EnergyContractPrice]] = defaultdict(list)
    ids = [contract.id for contract in contracts]
    for chunk in in_chunks(ids):
        query = (
            select(EnergyContractPrice)
            .where(EnergyContractPrice.contract_id.in_(chunk))
            .order_by(EnergyContractPrice.valid_from)
        )
        for price in session.scalars(query):
            prices[price.contract_id].append(price)
    return [(contract, prices[contract.id]) for contract in contracts]


def _contract_out(contract: EnergyContract, prices: list[EnergyContractPrice]) -> EnergyContractOut:
    return EnergyContractOut(
        id=contract.id,
        user_id=contract.user_id,
        created_at=contract.created_at,
        energy_contract_type=contract.energy_contract_type,
        energy_prices=[EnergyPrice(price=per_kwh(p.price_eur_mwh), timestamp=p.valid_from) for p in prices],
        building_id=contract.building_id,
        meter_id=contract.meter_id,
        supplier=contract.supplier,
        currency_energy_price=contract.currency_energy_price,
        energy_price_includes_external_components=contract.energy_price_includes_external_components,
        feed_in_tariff=None if contract.feed_in_tariff_eur_mwh is None else per_kwh(contract.feed_in_tariff_eur_mwh),
    )


# -- the organisation's tariff ---------------------------------------------------------------------


def get_tariff(session: Session, organisation_id: uuid.UUID) -> OrganisationTariffOut:
    row = session.get(OrganisationTariff, organisation_id)
    if row is None:
        return OrganisationTariffOut(
            import_components_eur_mwh=SPOT_ONLY.import_components_eur_mwh,
            feed_in_tariff_eur_mwh=SPOT_ONLY.feed_in_tariff_eur_mwh,
            updated_at=None,
        )
    return OrganisationTariffOut(
        import_components_eur_mwh=row.import_components_eur_mwh,
        feed_in_tariff_eur_mwh=row.feed_in_tariff_eur_mwh,
        updated_at=row.updated_at,
    )


def update_tariff(
    session: Session, organisation_id: uuid.UUID, body: OrganisationTariffUpdate
) -> OrganisationTariffOut:
    """Partial: the members sent change, the others keep their stored (or default) value. One upsert,
    so two first PUTs at once both succeed instead of one failing on the primary key."""
    changes = body.changes()
    defaults = {
        "import_components_eur_mwh": SPOT_ONLY.import_components_eur_mwh,
        "feed_in_tariff_eur_mwh": SPOT_ONLY.feed_in_tariff_eur_mwh,
    }
    store.upsert(
        session,
        OrganisationTariff.__table__,
        [{"organisation_id": organisation_id, **defaults, **changes, "updated_at": utcnow()}],
        key=("organisation_id",),
        update=(*changes, "updated_at"),
    )
    # The upsert went past the session: a row it holds from before would be stale.
    session.expire_all()
    return get_tariff(session, organisation_id)


# -- loading a TariffBook --------------------------------------------------------------------------


def load_tariff_book(session: Session, devices: Iterable[TariffDevice], start: datetime, end: datetime) -> TariffBook:
    """Everything that prices these devices between start and end (UTC, quarter-hour boundaries):
    one query per table (per chunk of ids), whatever the number of devices."""
    devices = list(devices)
    zones = {device.price_zone for device in devices}
    portfolios = {(device.organisation_id, device.price_zone) for device in devices if device.is_trading_enabled}
    organisations = sorted({device.organisation_id for device in devices})
    users = sorted({(device.organisation_id, device.user_id) for device in devices})
    return TariffBook(
        spot=store.zone_curves(session, zones, start, end),
        partner=store.partner_curves(session, portfolios, start, end),
        organisations=_org_tariffs(session, organisations),
        contracts=_contracts_of(session, users),
    )


def _org_tariffs(session: Session, organisations: Sequence[uuid.UUID]) -> dict[uuid.UUID, OrgTariff]:
    found = {}
    for chunk in in_chunks(organisations):
        for row in session.scalars(select(OrganisationTariff).where(OrganisationTariff.organisation_id.in_(chunk))):
            found[row.organisation_id] = OrgTariff(row.import_components_eur_mwh, row.feed_in_tariff_eur_mwh)
    return found


def _contracts_of(session: Session, users: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> dict[uuid.UUID, list[Contract]]:
    contracts: dict[uuid.UUID, list[Contract]] = defaultdict(list)
    for chunk in in_chunks(users):
        where = tuple_(EnergyContract.organisation_id, EnergyContract.user_id).in_(chunk)
        for contract, prices in _contracts_with_prices(session, where):
            contracts[contract.user_id].append(_contract(contract, prices))
    return dict(contracts)


def _contract(contract: EnergyContract, prices: list[EnergyContractPrice]) -> Contract:
    return Contract(
        id=contract.id,
        building_id=contract.building_id,
        contract_type=ContractType(contract.energy_contract_type),
        includes_external_components=contract.energy_price_includes_external_components,
        feed_in_tariff_eur_mwh=contract.feed_in_tariff_eur_mwh,
        created_at=contract.created_at,
        valid_from_s=np.array([price.valid_from.timestamp() for price in prices], dtype=np.float64),
        prices_eur_mwh=np.array([price.price_eur_mwh for price in prices], dtype=np.float64),
    )
