"""The inference sub-resource of an inverter: what solarfleet learnt from its history, with the evidence."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class EstimateOut(BaseModel):
    value: float = Field(description="The estimate, in the unit its name says")
    segments: int = Field(
        description="How many separate pieces of evidence agree on it: plateaus at the power limit, days at the "
        "reserve, or clean charge and discharge segments for the capacity"
    )
    spread: float = Field(description="Interquartile range of those pieces' own values, in the same unit")


class BatteryEvidenceOut(BaseModel):
    inferred_max_charge_power_w: EstimateOut | None = Field(
        description="Highest charging power held for 5 minutes or more while the grid still exported (so the "
        "battery was at its limit), agreed by at least 3 such plateaus on more than one day; null before that"
    )
    inferred_max_discharge_power_w: EstimateOut | None = Field(
        description="The same for discharging while the house still imported"
    )
    inferred_min_battery_soc_percent: EstimateOut | None = Field(
        description="The state of charge where the battery stops discharging although the house imports, the "
        "same level on at least 3 days; null before that"
    )
    inferred_battery_capacity_kwh: EstimateOut | None = Field(
        description="Usable capacity from energy moved against the change of state of charge over clean charge "
        "and discharge segments (at least 2 each way, 10 points of SoC or more), efficiency accounted for"
    )
    round_trip_efficiency: EstimateOut | None = Field(
        description="The round-trip efficiency the same segments imply (AC to AC)"
    )
    readings: int = Field(description="Readings with both battery power and state of charge in the 30 days used")


class ChargingBoutOut(BaseModel):
    start: datetime = Field(description="When the charging began, UTC")
    end: datetime = Field(description="When it ended, UTC")
    power_w: float = Field(description="The extra load it put on the household, W")


class EvEvidenceOut(BaseModel):
    bouts_last_30_days: int = Field(
        description="Charging bouts found in the last 30 days: a flat extra load of 3.3–24 kW over the household's "
        "baseline for 30 minutes or more, which then simply stops (not a cycling appliance)"
    )
    bouts_for_full_confidence: int = Field(description="Bouts in 30 days that give ev_inference_confidence 1.0")
    history_covered_days: float = Field(
        description="Days of household consumption measured in the last 30; confidence and presence stay null "
        "below 7 days or 80 % coverage"
    )
    bouts: list[ChargingBoutOut] = Field(description="The bouts, oldest first")


class InferenceOut(BaseModel):
    inverter_id: uuid.UUID = Field(description="The solar inverter's id")
    inferred_params_updated_at: datetime | None = Field(
        description="When the battery parameters were last inferred; null before the first run"
    )
    ev_inferred_at: datetime | None = Field(description="When EV charging was last looked for; null before")
    has_ev_in_household: bool | None = Field(
        description="True from two bouts in 30 days (one can be a guest's car); null without enough history"
    )
    ev_inference_confidence: float | None = Field(description="Bouts in the last 30 days ÷ 16, capped at 1.0")
    battery: BatteryEvidenceOut | None = Field(
        description="The battery parameters with their evidence; null without a battery or before the first run"
    )
    ev: EvEvidenceOut | None = Field(description="The EV evidence; null before the first run")
