"""The time series of an inverter as `GET .../inverters/{inverter_id}/data` returns it."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from solarfleet.prices.curve import PriceSource


class DataResolution(StrEnum):
    """Bucket widths of the series; the values are the contract's (and the rollups' where stored)."""

    QUARTER_HOUR = "15MIN"
    HOUR = "1HOUR"
    DAY = "1DAY"
    WEEK = "1WEEK"
    MONTH = "1MONTH"


class DataKeyword(StrEnum):
    """The measured quantities a partner may ask for, named as in the contract."""

    SOLAR_PRODUCTION_W = "solar_production_w"
    EXPORT_POWER_TO_GRID_W = "export_power_to_grid_w"
    HOUSEHOLD_CONSUMPTION_W = "household_consumption_w"
    BATTERY_CHARGE_LEVEL_PERCENT = "battery_charge_level_percent"
    BATTERY_CHARGE_DISCHARGE_POWER_W = "battery_charge_discharge_power_w"


BATTERY_KEYWORDS = frozenset({DataKeyword.BATTERY_CHARGE_LEVEL_PERCENT, DataKeyword.BATTERY_CHARGE_DISCHARGE_POWER_W})

# Units of every value a data point can carry; `metadata.units` repeats those of the fields present.
UNITS: dict[str, str] = {
    "price": "EUR/MWh",
    DataKeyword.SOLAR_PRODUCTION_W: "W",
    DataKeyword.EXPORT_POWER_TO_GRID_W: "W",
    DataKeyword.HOUSEHOLD_CONSUMPTION_W: "W",
    DataKeyword.BATTERY_CHARGE_LEVEL_PERCENT: "%",
    DataKeyword.BATTERY_CHARGE_DISCHARGE_POWER_W: "W",
    "estimated_consumption": "Wh",
    "unoptimized_consumption": "Wh",
}

DERIVED_VALUES_NOTE = (
    "price: the mean import price of the bucket's quarter hours in EUR/MWh, at the inverter's tariff (the price "
    "zone's day-ahead price, plus the organisation's import components, or the user's energy contract); null where "
    "no quarter hour of the bucket has a known price. estimated_consumption: the household consumption in Wh the "
    "optimiser's plan expected in the bucket, summed over its planned quarter hours; null where no plan covered the "
    "bucket (smart optimisation off, or before the first plan). unoptimized_consumption: the grid import in Wh that "
    "plain self-consumption (the savings baseline: the battery serves the house from PV surplus and never charges "
    "from the grid) would have needed in the bucket on the measured PV and household load, replayed over the "
    "requested range from the battery's measured state of charge at its start; summed over the quarter hours whose "
    "PV and load were measured, null where none was, or where the capacity or state of charge of a connected "
    "battery is not known."
)

_AVERAGE = "mean over the measured time of the bucket"
_ONLY_IF_ASKED = "present only when named in keywords; null when not measured in the bucket"


class InverterDataPoint(BaseModel):
    """One bucket. Keyword fields appear only when asked for (the contract's `<keywords>...`)."""

    time: datetime = Field(description="Start of the bucket, UTC")
    price: float | None = Field(
        description="Mean import price of the bucket's quarter hours in EUR/MWh at the inverter's tariff; null where "
        "no price is known for any of them"
    )
    solar_production_w: float | None = Field(
        default=None, description=f"PV output in W, {_AVERAGE}; never negative; {_ONLY_IF_ASKED}"
    )
    export_power_to_grid_w: float | None = Field(
        default=None,
        description=f"Net grid power in W, {_AVERAGE}: positive = export, negative = import; {_ONLY_IF_ASKED}",
    )
    household_consumption_w: float | None = Field(
        default=None, description=f"Household load in W, {_AVERAGE}; never negative; {_ONLY_IF_ASKED}"
    )
    battery_charge_level_percent: float | None = Field(
        default=None,
        description=f"Battery state of charge in %, {_AVERAGE}; null for an inverter without a battery; "
        f"{_ONLY_IF_ASKED}",
    )
    battery_charge_discharge_power_w: float | None = Field(
        default=None,
        description=f"Net battery power in W, {_AVERAGE}: positive = discharging, negative = charging; null for "
        f"an inverter without a battery; {_ONLY_IF_ASKED}",
    )
    estimated_consumption: float | None = Field(
        description="Household consumption in Wh the optimiser's plan expected in the bucket (its load forecast, "
        "over the planned quarter hours); null where no plan covered the bucket"
    )
    unoptimized_consumption: float | None = Field(
        description="Grid import in Wh the home would have had in the bucket without optimisation: plain "
        "self-consumption replayed on the measured PV and load (see metadata.note); null where PV or load were "
        "not measured or a connected battery's capacity or state of charge is unknown"
    )


class InverterDataMetadata(BaseModel):
    inverter_id: uuid.UUID = Field(description="The solar inverter's id")
    resolution: DataResolution = Field(description="Width of each bucket")
    from_datetime: datetime = Field(
        description="Start of the range used (inclusive): the requested from_datetime rounded down to the start "
        "of its bucket, UTC"
    )
    to_datetime: datetime = Field(
        description="End of the range used (exclusive): the requested to_datetime rounded up to a bucket boundary, UTC"
    )
    timezone: str = Field(description="Time zone of the bucket boundaries: always UTC")
    keywords: list[DataKeyword] = Field(description="The keyword fields each data point carries")
    units: dict[str, str] = Field(
        description="Unit of each value field of the data points (W, %, EUR/MWh; Wh for the consumptions)",
        examples=[{"price": "EUR/MWh", "solar_production_w": "W", "estimated_consumption": "Wh"}],
    )
    note: str = Field(
        description="What price, estimated_consumption and unoptimized_consumption are, and when each is null"
    )
    price_source: PriceSource | None = Field(
        description="Where the spot prices behind `price` came from: `entsoe`, `partner` (uploaded), `contract` "
        "(a fixed-price contract), or `synthetic` (generated for demos and tests: not market prices); null "
        "without data points"
    )


class InverterDataOut(BaseModel):
    metadata: InverterDataMetadata = Field(description="What the series holds and how it was computed")
    data: list[InverterDataPoint] = Field(
        description="One point per bucket that holds readings, oldest first; buckets without readings are "
        "left out, never filled with invented values"
    )
