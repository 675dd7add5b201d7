"""Request and response bodies of the day-ahead prices a partner uploads for its trading portfolio."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field

from solarfleet.api.fields import InputModel
from solarfleet.prices.zones import DEFAULT_PRICE_ZONE, PriceZone

# The harmonised clearing price limits of the single day-ahead coupling (SDAC): no day-ahead price
# in Europe lies outside them.
SDAC_MIN_EUR_MWH = -500.0
SDAC_MAX_EUR_MWH = 4000.0
MAX_DAYS_AHEAD = 7

# Strict: a price is a JSON number, never a string or a boolean that happens to convert to one.
DayAheadPrice = Annotated[float, Field(strict=True, ge=SDAC_MIN_EUR_MWH, le=SDAC_MAX_EUR_MWH)]


class DayAheadPricesUpload(InputModel):
    date: dt.date = Field(
        description=f"The delivery day in the price zone's local time: today or later there, at most "
        f"{MAX_DAYS_AHEAD} days ahead; an earlier day is 422",
        examples=["2026-11-25"],
    )
    price_zone: PriceZone = Field(default=DEFAULT_PRICE_ZONE, description="The zone the prices are for")
    prices: list[DayAheadPrice] = Field(
        description=f"EUR/MWh per quarter hour of the local day, in time order from local midnight: 96 values, "
        f"92 on the day daylight saving time begins, 100 on the day it ends (422 otherwise). Each finite and "
        f"within the SDAC harmonised clearing price limits, {SDAC_MIN_EUR_MWH:g} to {SDAC_MAX_EUR_MWH:g}",
    )


class DayAheadPricesOut(BaseModel):
    date: dt.date = Field(description="The delivery day in the price zone's local time")
    price_zone: PriceZone = Field(description="The zone the prices are for")
    count: int = Field(description="Quarter hours of the day: 96, or 92/100 on daylight-saving-time changes")
    first_interval_start: dt.datetime = Field(description="Start of the first quarter hour (local midnight), UTC")
    last_interval_start: dt.datetime = Field(description="Start of the last quarter hour, UTC")
    prices: list[float] = Field(description="The stored prices, EUR/MWh per quarter hour, in time order")
