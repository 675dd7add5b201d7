"""What a device's site pays for each quarter hour it imports and earns for each it exports.

Pure: a `TariffBook` holds everything a planning round needs (the zones' spot curves, the partners'
uploaded prices, the organisations' tariffs, the users' contracts), loaded once for all devices by
`solarfleet.tariffs.service.load_tariff_book`, and answers per device with plain arrays. Each rule
is one function below. All prices are EUR/MWh; NaN marks a price that is unknown.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np

from solarfleet.prices.curve import PriceCurve, PriceSource
from solarfleet.prices.store import least_trusted
from solarfleet.prices.zones import QUARTER_HOUR, PriceZone

STEP = QUARTER_HOUR


class ContractType(StrEnum):
    spot_hourly = "spot_hourly"
    monthly = "monthly"
    yearly = "yearly"


FIXED_PRICE_TYPES = frozenset({ContractType.monthly, ContractType.yearly})


@dataclass(frozen=True, slots=True)
class TariffDevice:
    """What decides a device's prices."""

    organisation_id: uuid.UUID
    user_id: uuid.UUID
    building_id: uuid.UUID | None
    price_zone: PriceZone
    is_trading_enabled: bool


@dataclass(frozen=True, slots=True)
class OrgTariff:
    import_components_eur_mwh: float = 0.0
    feed_in_tariff_eur_mwh: float | None = None


# What applies until an organisation sets its tariff: customers pay and earn the spot price.
SPOT_ONLY = OrgTariff()


@dataclass(frozen=True, slots=True)
class Contract:
    """A user's energy contract. `valid_from_s` (epoch seconds, ascending) and `prices_eur_mwh` are
    its price timeline; for `spot_hourly` the prices are a surcharge on spot, and may be empty."""

    id: uuid.UUID
    building_id: uuid.UUID | None
    contract_type: ContractType
    includes_external_components: bool
    feed_in_tariff_eur_mwh: float | None
    created_at: datetime
    valid_from_s: np.ndarray
    prices_eur_mwh: np.ndarray


@dataclass(frozen=True, slots=True)
class StepPrices:
    """Per quarter hour: the spot price, what importing costs and exporting earns (EUR/MWh), where the
    spot price came from, and which steps lack a spot price they need (their prices are NaN)."""

    spot: np.ndarray
    import_price: np.ndarray
    export_price: np.ndarray
    source: PriceSource
    missing: np.ndarray


@dataclass(frozen=True)
class TariffBook:
    spot: Mapping[PriceZone, PriceCurve]  # each zone's stored day-ahead prices
    partner: Mapping[tuple[uuid.UUID, PriceZone], PriceCurve]  # uploads per (organisation, zone)
    organisations: Mapping[uuid.UUID, OrgTariff]  # absent: SPOT_ONLY
    contracts: Mapping[uuid.UUID, Sequence[Contract]]  # per user; absent: none

    def prices(self, device: TariffDevice, start: datetime, count: int) -> StepPrices:
        """The device's prices for `count` quarter hours from `start` (UTC, on the grid); steps outside
        the window the book was loaded for have no spot price."""
        if device.price_zone not in self.spot:
            raise KeyError(f"the tariff book was loaded without price zone {device.price_zone}")
        zone = self.spot[device.price_zone]
        partner = self.partner.get((device.organisation_id, device.price_zone))
        spot, spot_source = spot_prices(
            zone.on_steps(start, count, STEP),
            zone.source,
            partner.on_steps(start, count, STEP) if partner is not None else None,
            device.is_trading_enabled,
        )
        contract = applicable_contract(self.contracts.get(device.user_id, ()), device.building_id)
        organisation = self.organisations.get(device.organisation_id, SPOT_ONLY)
        step_starts_s = start.timestamp() + STEP.total_seconds() * np.arange(count)
        import_price = import_prices(spot, contract, organisation, step_starts_s)
        export_price = export_prices(spot, contract, organisation)
        return StepPrices(
            spot=spot,
            import_price=import_price,
            export_price=export_price,
            source=steering_source(spot_source, contract, organisation),
            missing=np.isnan(import_price) | np.isnan(export_price),
        )


def spot_prices(
    zone: np.ndarray, zone_source: PriceSource, partner: np.ndarray | None, is_trading_enabled: bool
) -> tuple[np.ndarray, PriceSource]:
    """The spot price per step: the partner's upload where it has one and the device trades in its
    portfolio, else the zone's day-ahead price. Labelled as `least_trusted` labels mixed prices."""
    if partner is None or not is_trading_enabled:
        return zone, zone_source
    uploaded = ~np.isnan(partner)
    if not uploaded.any():
        return zone, zone_source
    sources = [PriceSource.PARTNER]
    if not uploaded.all():
        sources.append(zone_source)
    return np.where(uploaded, partner, zone), least_trusted(sources)


def applicable_contract(contracts: Sequence[Contract], building_id: uuid.UUID | None) -> Contract | None:
    """The contract for a device in this building: one for the building itself beats a user-wide one
    (building null); among equals the most recently created. Contracts of other buildings never apply."""
    own = [c for c in contracts if building_id is not None and c.building_id == building_id]
    candidates = own or [c for c in contracts if c.building_id is None]
    return max(candidates, key=lambda c: (c.created_at, c.id), default=None)


def contract_prices(contract: Contract, step_starts_s: np.ndarray) -> np.ndarray:
    """The contract's price in force at each step's start: each entry from its timestamp until the
    next; the earliest also before its own (so a single entry is a constant price). No entries: 0."""
    if len(contract.prices_eur_mwh) == 0:
        return np.zeros(len(step_starts_s))
    index = np.searchsorted(contract.valid_from_s, step_starts_s, side="right") - 1
    return contract.prices_eur_mwh[np.maximum(index, 0)]


def import_prices(
    spot: np.ndarray, contract: Contract | None, organisation: OrgTariff, step_starts_s: np.ndarray
) -> np.ndarray:
    """What a MWh from the grid costs: a fixed-price contract's price, or spot plus a spot contract's
    surcharge, or spot alone without a contract; plus the organisation's import components unless the
    contract's prices already include them."""
    if contract is None:
        return spot + organisation.import_components_eur_mwh
    price = contract_prices(contract, step_starts_s)
    if contract.contract_type not in FIXED_PRICE_TYPES:
        price = spot + price
    if not contract.includes_external_components:
        price = price + organisation.import_components_eur_mwh
    return price


def feed_in_tariff(contract: Contract | None, organisation: OrgTariff) -> float | None:
    """The feed-in tariff that applies: the contract's, else the organisation's; None: export earns spot."""
    if contract is not None and contract.feed_in_tariff_eur_mwh is not None:
        return contract.feed_in_tariff_eur_mwh
    return organisation.feed_in_tariff_eur_mwh


def export_prices(spot: np.ndarray, contract: Contract | None, organisation: OrgTariff) -> np.ndarray:
    """What a MWh fed in earns: the feed-in tariff that applies, else the spot price."""
    tariff = feed_in_tariff(contract, organisation)
    return spot.copy() if tariff is None else np.full(len(spot), tariff)


def steering_source(spot_source: PriceSource, contract: Contract | None, organisation: OrgTariff) -> PriceSource:
    """Where the prices that steer the device come from: `contract` when neither importing nor
    exporting depends on a spot price (a fixed-price contract and a feed-in tariff), else the spot's."""
    fixed_import = contract is not None and contract.contract_type in FIXED_PRICE_TYPES
    fixed_export = feed_in_tariff(contract, organisation) is not None
    return PriceSource.CONTRACT if fixed_import and fixed_export else spot_source
