"""Routes of energy contracts and of the organisation's tariff."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, status

from solarfleet.api.dependencies import DbSession, ScopedOrg
from solarfleet.api.errors import COMMON_ERROR_RESPONSES
from solarfleet.tariffs import service
from solarfleet.tariffs.schemas import (
    EnergyContractCreate,
    EnergyContractOut,
    OrganisationTariffOut,
    OrganisationTariffUpdate,
)

router = APIRouter(prefix="/org/{org_id}", responses=COMMON_ERROR_RESPONSES)

UserId = Annotated[uuid.UUID, Path(description="The user's id")]

CONTRACTS_DESCRIPTION = """\
What a user pays for energy taken from the grid, and (a solarfleet addition) earns for energy fed in.
The optimiser steers each device against the prices of the contract that applies to it:

- A contract with a `building_id` applies to that building's devices; one without applies to all the
  user's buildings that have no contract of their own. Among several that apply, the most recently
  created one does: a new contract replaces the earlier one.
- Import price per quarter hour: `monthly`, `yearly`: the price in force at its start; `spot_hourly`:
  the day-ahead price of the device's price zone plus the surcharge in force at its start. When
  `energy_price_includes_external_components` is false, the organisation's `import_components_eur_mwh`
  (GET /org/{org_id}/tariff) is added.
- Export price: the contract's `feed_in_tariff`, else the organisation's `feed_in_tariff_eur_mwh`,
  else the day-ahead price.
- Without any contract a user pays the day-ahead price plus the organisation's import components.

Prices are in currency per kWh, as retail contracts quote them; only EUR is accepted.
"""

TARIFF_DESCRIPTION = """\
solarfleet addition: how the organisation turns day-ahead (spot) prices into its customers' prices
where their energy contracts do not say otherwise. Until it is set, the spot-only defaults apply:
no import components (customers pay the spot price) and no feed-in tariff (export earns the spot
price); `updated_at` is then null. EUR/MWh, like the day-ahead prices.
"""


@router.get(
    "/users/{user_id}/energy-contracts",
    tags=["Energy contracts"],
    summary="List a user's energy contracts",
    description=CONTRACTS_DESCRIPTION,
)
def list_contracts(org_id: ScopedOrg, user_id: UserId, session: DbSession) -> list[EnergyContractOut]:
    return service.list_contracts(session, org_id, user_id)


@router.post(
    "/users/{user_id}/energy-contracts",
    status_code=status.HTTP_201_CREATED,
    tags=["Energy contracts"],
    summary="Add an energy contract",
    description=CONTRACTS_DESCRIPTION,
)
def create_contract(
    org_id: ScopedOrg, user_id: UserId, session: DbSession, body: EnergyContractCreate
) -> EnergyContractOut:
    return service.create_contract(session, org_id, user_id, body)


@router.get("/tariff", tags=["Tariff"], summary="The organisation's tariff", description=TARIFF_DESCRIPTION)
def get_tariff(org_id: ScopedOrg, session: DbSession) -> OrganisationTariffOut:
    return service.get_tariff(session, org_id)


@router.put(
    "/tariff", tags=["Tariff"], summary="Set the organisation's tariff (partial)", description=TARIFF_DESCRIPTION
)
def update_tariff(org_id: ScopedOrg, session: DbSession, body: OrganisationTariffUpdate) -> OrganisationTariffOut:
    return service.update_tariff(session, org_id, body)
