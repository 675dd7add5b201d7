"""Request and response bodies of energy contracts and of the organisation's tariff.

Energy contracts speak the units retail contracts are quoted in (currency per kWh); the
organisation's tariff, a solarfleet addition next to the wholesale prices it adjusts, speaks
EUR/MWh like those. Internally every price is EUR/MWh.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import pycountry
from pydantic import AfterValidator, BaseModel, Field, ValidationInfo, field_validator

from solarfleet.api.fields import InputModel, OutputModel
from solarfleet.inverters.schemas import UtcDatetime
from solarfleet.tariffs.book import FIXED_PRICE_TYPES, ContractType

STEERING_CURRENCY = "EUR"
MAX_CONTRACT_PRICES = 1000
# Beyond any retail price and any wholesale limit (−0.5…4 EUR/kWh), yet it refuses a price sent in
# EUR/MWh by mistake (0.25 EUR/kWh sent as 250).
PRICE_LIMIT_PER_KWH = 10.0
PRICE_LIMIT_EUR_MWH = PRICE_LIMIT_PER_KWH * 1000
# A billionth of a currency unit per kWh: finer than any tariff, coarse enough that a price read back
# after its conversion to EUR/MWh is exactly the price sent.
PRICE_DECIMALS = 9


def eur_mwh(per_kwh: float) -> float:
    return round(per_kwh, PRICE_DECIMALS) * 1000


def per_kwh(eur_mwh: float) -> float:
    return round(eur_mwh / 1000, PRICE_DECIMALS)


def _steering_currency(code: str) -> str:
    code = code.upper()
    if pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError("not an ISO 4217 currency code")
    if code != STEERING_CURRENCY:
        raise ValueError(
            "only EUR is supported: solarfleet compares contract prices with wholesale prices, which are in EUR"
        )
    return code


# Strict: a price is a JSON number, never a string or a boolean that happens to convert to one.
PricePerKwh = Annotated[
    float,
    Field(
        strict=True,
        ge=-PRICE_LIMIT_PER_KWH,
        le=PRICE_LIMIT_PER_KWH,
        description=f"Currency (EUR) per kWh, at most {PRICE_LIMIT_PER_KWH:g} either way; kept to "
        f"{PRICE_DECIMALS} decimal places",
        examples=[0.2495],
    ),
]


class EnergyPrice(InputModel):
    price: PricePerKwh
    timestamp: UtcDatetime = Field(
        description="From when the price applies (ISO-8601 with a time zone): until the next entry's timestamp; "
        "the earliest entry also applies before its timestamp"
    )


CONTRACT_TYPE_DESCRIPTION = (
    "`spot_hourly`: the spot (day-ahead) price of the device's price zone plus the `energy_prices` "
    "surcharge; `monthly`, `yearly`: the `energy_prices` themselves, whatever the spot price"
)
ENERGY_PRICES_DESCRIPTION = (
    f"Currency per kWh, sorted by timestamp; one entry is a constant price, several a timeline in which each "
    f"applies from its timestamp until the next. For `spot_hourly` the supplier's surcharge on the spot price "
    f"(may be empty: pure spot); for `monthly` and `yearly` the price itself (at least one entry). Timestamps "
    f"are unique; at most {MAX_CONTRACT_PRICES} entries"
)
INCLUDES_EXTERNAL_DESCRIPTION = (
    "true: the prices are all-inclusive retail prices (grid fees, levies and taxes included); false: they are "
    "the energy part only, and the organisation's `import_components_eur_mwh` (GET /org/{org_id}/tariff) is "
    "added on top"
)
FEED_IN_DESCRIPTION = (
    "solarfleet addition: what exported energy earns, currency per kWh; null: the organisation's "
    "`feed_in_tariff_eur_mwh`, or the spot price when that is null too"
)


class EnergyContractCreate(InputModel):
    energy_contract_type: ContractType = Field(description=CONTRACT_TYPE_DESCRIPTION)
    energy_prices: list[EnergyPrice] = Field(
        default_factory=list,
        max_length=MAX_CONTRACT_PRICES,
        validate_default=True,  # a monthly or yearly contract without the member is refused too
        description=ENERGY_PRICES_DESCRIPTION,
    )
    building_id: uuid.UUID | None = Field(
        default=None,
        description="The user's building the contract is for; null: all the user's buildings (a building's own "
        "contract takes precedence)",
    )
    meter_id: str | None = Field(default=None, max_length=19, description="The metering point's id")
    supplier: str | None = Field(default=None, max_length=100, description="The energy supplier's name")
    currency_energy_price: Annotated[str, AfterValidator(_steering_currency)] = Field(
        default=STEERING_CURRENCY,
        min_length=3,
        max_length=3,
        description="ISO 4217 code of the prices; only EUR is accepted (422 otherwise), since the prices are "
        "weighed against wholesale prices in EUR",
    )
    energy_price_includes_external_components: bool = Field(default=False, description=INCLUDES_EXTERNAL_DESCRIPTION)
    feed_in_tariff: PricePerKwh | None = Field(default=None, description=FEED_IN_DESCRIPTION)

    @field_validator("energy_prices")
    @classmethod
    def _a_timeline(cls, prices: list[EnergyPrice], info: ValidationInfo) -> list[EnergyPrice]:
        if len({p.timestamp for p in prices}) != len(prices):
            raise ValueError("two entries have the same timestamp")
        if not prices and info.data.get("energy_contract_type") in FIXED_PRICE_TYPES:
            raise ValueError("a monthly or yearly contract needs at least one price")
        return sorted(prices, key=lambda p: p.timestamp)


class EnergyContractOut(OutputModel):
    id: uuid.UUID = Field(description="The contract's id")
    user_id: uuid.UUID = Field(description="The user the contract belongs to")
    created_at: datetime = Field(
        description="When the contract was created; among contracts for the same building (or among the user-wide "
        "ones) the most recent applies"
    )
    energy_contract_type: ContractType = Field(description=CONTRACT_TYPE_DESCRIPTION)
    energy_prices: list[EnergyPrice] = Field(description=ENERGY_PRICES_DESCRIPTION)
    building_id: uuid.UUID | None = Field(description="The building the contract is for; null: all the user's")
    meter_id: str | None = Field(description="The metering point's id")
    supplier: str | None = Field(description="The energy supplier's name")
    currency_energy_price: str = Field(description="ISO 4217 code of the prices: always EUR")
    energy_price_includes_external_components: bool = Field(description=INCLUDES_EXTERNAL_DESCRIPTION)
    feed_in_tariff: float | None = Field(description=FEED_IN_DESCRIPTION)


class OrganisationTariffUpdate(InputModel):
    import_components_eur_mwh: float = Field(
        default=None,
        strict=True,
        ge=0,
        le=PRICE_LIMIT_EUR_MWH,
        description="Grid fees, levies, taxes and margin in EUR/MWh, added to the spot price for customers "
        "without an all-inclusive contract",
    )
    feed_in_tariff_eur_mwh: float | None = Field(
        default=None,
        strict=True,
        ge=-PRICE_LIMIT_EUR_MWH,
        le=PRICE_LIMIT_EUR_MWH,
        description="What exported energy earns in EUR/MWh; null: the spot price",
    )


class OrganisationTariffOut(BaseModel):
    import_components_eur_mwh: float = Field(
        description="EUR/MWh added to the spot price for customers without an all-inclusive contract; 0 until set"
    )
    feed_in_tariff_eur_mwh: float | None = Field(
        description="EUR/MWh earned per exported MWh unless a contract sets its own; null: the spot price"
    )
    updated_at: datetime | None = Field(description="Last change; null while the spot-only defaults apply")
