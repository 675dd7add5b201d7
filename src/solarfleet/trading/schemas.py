"""Request and response bodies of day-ahead trading: the fleet's load curves and the partner's decision."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from pydantic import BaseModel, Field

from solarfleet.api.fields import InputModel
from solarfleet.prices.zones import PriceZone


class TradeStatus(StrEnum):
    """Where a day-ahead trade stands. Every fetch of the curves proposes a new trade; the older
    undecided proposals of the same day and zone are then `superseded` and can no longer be decided."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class CurvePoint(BaseModel):
    timestamp: dt.datetime = Field(description="Start of the quarter hour, UTC")
    energy_wh: int = Field(
        description="Net energy the fleet takes from the grid in this quarter hour, Wh: import minus export at "
        "the sites' meters, so positive = the fleet consumes (buys), negative = the fleet feeds in (sells)"
    )


class LoadCurves(BaseModel):
    optimized: list[CurvePoint] = Field(
        description="With solarfleet's steering: the sites' meters as their stored plans expect them, one point "
        "per quarter hour of the local delivery day (96; 92 on the day daylight saving time begins, 100 on the "
        "day it ends)"
    )
    unoptimized: list[CurvePoint] = Field(
        description="Without steering (the baseline): plain self-consumption on the same PV and household "
        "forecasts and the same batteries, one point per quarter hour, as `optimized`"
    )


class ExcludedDevice(BaseModel):
    inverter_id: uuid.UUID = Field(description="A trading-enabled inverter of the zone that is not in the curves")
    reason: str = Field(description="Why it is left out")


class LoadCurvesOut(BaseModel):
    trade_id: uuid.UUID | None = Field(
        description="The trade to accept or reject with POST .../load-curve-confirmation; null when no device "
        "is in the curves (nothing to trade, nothing stored)"
    )
    date: dt.date = Field(description="The delivery day in the price zone's local time")
    price_zone: PriceZone = Field(description="The zone of the devices in the curves")
    status: TradeStatus | None = Field(
        description="`proposed` (undecided: a new trade each fetch), or `accepted` / `rejected` when the day was "
        "decided already: the curves are then those of the decided trade; null without a trade"
    )
    created_at: dt.datetime | None = Field(description="When the trade was proposed, UTC; null without a trade")
    decided_at: dt.datetime | None = Field(description="When the trade was accepted or rejected, UTC; else null")
    curves: LoadCurves = Field(description="The fleet's optimised and unoptimised curves, Wh per quarter hour")
    device_count: int = Field(description="Inverters in the curves")
    site_count: int = Field(
        description="Sites in the curves: buildings, and inverters without one. The inverters of one building "
        "share its meter, which counts once"
    )
    excluded_devices: list[ExcludedDevice] = Field(
        description="Live trading-enabled inverters of the zone left out of the curves, each with the reason"
    )
    price_sources: list[str] = Field(
        description="Where the prices of the plans behind the optimised curve came from: `partner` (uploaded with "
        "PATCH .../trading/dayahead/prices), `entsoe`, `synthetic` (generated, for demos and tests only: not "
        "market prices) or `contract` (fixed-price contracts); empty without devices"
    )
    note: str | None = Field(description="What to know about this answer beyond the fields, or null")


class LoadCurveConfirmation(InputModel):
    trade_id: uuid.UUID = Field(description="The `trade_id` of the load curves being decided")
    # Strict: a decision is a JSON boolean, never a string or number that happens to convert to one.
    accepted: bool = Field(
        strict=True,
        description="true: the fleet is committed to the optimised curve (the devices' plans for the day are "
        "kept by every re-plan); false: the devices are released to plain self-consumption for the day",
    )


class UnchangedDevice(BaseModel):
    inverter_id: uuid.UUID = Field(description="An inverter of the trade whose plan the decision did not change")
    reason: str = Field(description="Why")


class TradeDecisionOut(BaseModel):
    trade_id: uuid.UUID = Field(description="The trade decided")
    date: dt.date = Field(description="The delivery day in the price zone's local time")
    price_zone: PriceZone = Field(description="The zone of the trade's devices")
    status: TradeStatus = Field(description="`accepted` or `rejected`")
    decided_at: dt.datetime = Field(description="When the decision was stored, UTC")
    device_count: int = Field(description="Inverters in the trade")
    slot_count: int = Field(
        description="Quarter-hour plan slots the decision committed: from the current quarter hour (or the start "
        "of the day, when it lies ahead) to the end of the delivery day, over all the trade's inverters"
    )
    unchanged_devices: list[UnchangedDevice] = Field(
        description="Inverters of the trade whose plan the decision could not change, each with the reason "
        "(e.g. no plan left for the day); empty when the decision reached every inverter"
    )
