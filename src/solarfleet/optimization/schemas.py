"""The plan of an inverter as `GET .../inverters/{inverter_id}/schedules` returns it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from solarfleet.steering.commands import PlannedMode

SCHEDULE_UNITS = {
    "battery_power_w": "W",
    "target_soc_percent": "%",
    "expected_grid_power_w": "W",
    "expected_solar_production_w": "W",
    "expected_consumption_w": "W",
    "curtailment_w": "W",
    "price": "EUR/MWh",
    "export_price": "EUR/MWh",
    "expected_cost_eur": "EUR",
}


class ScheduleSlot(BaseModel):
    start: datetime = Field(description="Start of the slot, UTC")
    end: datetime = Field(description="End of the slot (exclusive), UTC")
    mode: PlannedMode = Field(
        description="What the plan asks of the device: `self_consumption` (its own logic), `charge`, `hold`, "
        "`discharge`, `export` (PV to the grid, battery held), `curtail` (PV limited), `paused`"
    )
    battery_power_w: float | None = Field(
        description="Battery power set-point, mean over the slot: positive = discharging, negative = charging; "
        "null for an inverter without a battery"
    )
    target_soc_percent: float | None = Field(
        description="State of charge the plan expects at the end of the slot; null without a battery"
    )
    expected_grid_power_w: float = Field(
        description="Grid power the plan expects at the site's meter, mean over the slot: positive = export, "
        "negative = import (shared by the inverters of one building)"
    )
    expected_solar_production_w: float = Field(description="PV output the forecast expects, mean over the slot")
    expected_consumption_w: float = Field(description="Household consumption the forecast expects, mean over the slot")
    curtailment_w: float = Field(description="PV output the plan holds back, mean over the slot")
    price: float = Field(description="Import price of the slot in EUR/MWh (the site's tariff)")
    export_price: float = Field(description="Export price of the slot in EUR/MWh (spot or the feed-in tariff)")
    expected_cost_eur: float = Field(
        description="What the slot is expected to cost the site at these prices, EUR (negative = earned)"
    )
    committed: bool = Field(description="The slot was promised in an accepted day-ahead trade and is kept by re-plans")
    plan_id: uuid.UUID = Field(description="The planning run the slot comes from (see metadata.plans)")


class PlanRunOut(BaseModel):
    id: uuid.UUID = Field(description="The planning run's id")
    created_at: datetime = Field(description="When the plan was made, UTC")
    reason: str = Field(description="What made solarfleet plan: `slot` (each quarter hour), `prices`, `deviation`, ...")
    source: str = Field(
        description="`linear_program` (optimal plan from the LP) or `rule_based` (the fallback: plain "
        "self-consumption within the limits, used when a solve fails or does not check out)"
    )
    message: str | None = Field(description="Why the fallback was used, or null")
    price_source: str = Field(
        description="Where the spot prices came from: `entsoe`, `partner` (uploaded), `synthetic` (generated, "
        "for demos and tests only: not market prices), or `contract` (a fixed-price contract)"
    )
    violations: list[dict[str, Any]] = Field(
        description="Soft limits the plan could not keep (limit, step, amount), e.g. a start below the SoC floor"
    )


class ScheduleMetadata(BaseModel):
    inverter_id: uuid.UUID = Field(description="The solar inverter's id")
    from_datetime: datetime = Field(description="Start of the range (inclusive), UTC")
    to_datetime: datetime = Field(description="End of the range (exclusive), UTC")
    is_smart_optimization_active: bool = Field(
        description="Whether the optimiser steers the inverter now; past slots stay as they were planned"
    )
    units: dict[str, str] = Field(description="Unit of each numeric slot field")
    plans: list[PlanRunOut] = Field(description="The planning runs the slots come from")


class ScheduleOut(BaseModel):
    metadata: ScheduleMetadata = Field(description="What the schedule holds")
    data: list[ScheduleSlot] = Field(description="The plan's 15-minute slots in the range, oldest first")
