"""What the savings, statistics and device-savings endpoints return."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from solarfleet.savings.accounting import MIN_BASELINE_COST_EUR, SavingsResolution

CURRENCY = "EUR"

BASELINE = (
    "plain self-consumption on the measured PV and household load, quarter hour by quarter hour: the "
    "battery (with its real limits, running through each ISO week from its measured state of charge at "
    "local Monday midnight) serves the house from PV surplus and covers its deficit, never charges from or "
    "discharges to the grid, nothing is curtailed; priced at the same import and export prices as what "
    "really happened"
)
COMPLETENESS = (
    "Periods are sums of whole local days, computed once a day has ended (shortly after local midnight): "
    "the current day is not included until then. As the baseline runs through the week, the days of the "
    "current week are recomputed each night and are final once the week has ended. Quarter hours without "
    "measured PV, household load, grid flows or prices count for neither side of the money."
)


class StatisticsKeyword(StrEnum):
    """What a statistics point may carry."""

    SAVINGS = "savings"
    CONSUMPTION = "consumption"


class SavingsPeriodBounds(BaseModel):
    start_period: datetime = Field(description="Start of the period (inclusive): a local midnight, in UTC")
    end_period: datetime = Field(description="End of the period (exclusive): the next period's start, in UTC")


class SavingsAmount(BaseModel):
    total: float | None = Field(
        description="Savings in EUR over the period: what the baseline would have cost minus what the grid "
        "energy really cost (import × import price − export × export price); negative when steering cost "
        "money; null when no quarter hour of the period could be counted (see metadata.note)"
    )
    percentage: float | None = Field(
        description="The savings as a share of the baseline's cost, in %; null when `total` is null or the "
        f"baseline cost less than {MIN_BASELINE_COST_EUR:g} EUR (or earned money), where a share says nothing"
    )


class InverterEnergies(BaseModel):
    solar_production_wh: float = Field(description="PV energy the inverter produced in the period, Wh (measured)")
    grid_export_wh: float = Field(description="Energy fed into the grid in the period, Wh (measured)")


class SavingsPoint(BaseModel):
    resolution: SavingsResolution = Field(description="The period's length, as requested")
    period: SavingsPeriodBounds = Field(description="The period's bounds")
    savings: SavingsAmount = Field(description="What steering saved in the period against the baseline")
    inverter: InverterEnergies = Field(description="The inverter's energies in the period")


class SavingsMetadata(BaseModel):
    inverter_id: uuid.UUID = Field(description="The solar inverter's id")
    resolution: SavingsResolution = Field(description="Length of each period")
    from_datetime: datetime = Field(
        description="Start of the range used (inclusive): `from` moved back to the start of its period, UTC"
    )
    to_datetime: datetime = Field(
        description="End of the range used (exclusive): `to` moved on to the end of its period, UTC"
    )
    timezone: str = Field(
        description="IANA time zone the periods follow: the inverter's price zone's (days run from local "
        "midnight, 23 or 25 hours on the days clocks change; weeks from Monday; months, quarters and years "
        "from the 1st)",
        examples=["Europe/Vienna"],
    )
    currency: str = Field(description="Currency of every amount: always EUR", examples=[CURRENCY])
    baseline: str = Field(description="What the savings are measured against")
    computed_until: datetime | None = Field(
        description="End of the latest local day of the range whose savings are computed, UTC; null when none is"
    )
    note: str = Field(description="Which days the periods hold and which quarter hours count")
    price_sources: list[str] = Field(
        description="Where the spot prices of the days behind the periods came from: `entsoe`, `partner` "
        "(uploaded), `contract` (a fixed-price contract), `synthetic` (generated for demos and tests: not market "
        "prices)"
    )


class SavingsOut(BaseModel):
    metadata: SavingsMetadata = Field(description="What the periods hold and how they were computed")
    data: list[SavingsPoint] = Field(
        description="One entry per period of the range that holds a computed day, oldest first; periods "
        "without any are left out, never filled with invented values"
    )


class Consumption(BaseModel):
    household_wh: float = Field(description="Energy the household consumed in the period, Wh (measured)")
    grid_import_wh: float = Field(description="Energy drawn from the grid in the period, Wh (measured)")
    baseline_grid_import_wh: float = Field(
        description="Energy the baseline (unoptimised operation, see metadata.baseline) would have drawn from the "
        "grid in the period, Wh, over the quarter hours whose PV and household load were measured"
    )
    solar_production_wh: float = Field(description="PV energy the inverter produced in the period, Wh (measured)")
    grid_export_wh: float = Field(description="Energy fed into the grid in the period, Wh (measured)")


class StatisticsPoint(BaseModel):
    """One period; `savings` and `consumption` appear only when named in `keywords`."""

    resolution: SavingsResolution = Field(description="The period's length, as requested")
    period: SavingsPeriodBounds = Field(description="The period's bounds")
    savings: SavingsAmount | None = Field(
        default=None,
        description="What steering saved in the period against the baseline; present only when `keywords` "
        "names `savings`",
    )
    consumption: Consumption | None = Field(
        default=None,
        description="The period's energies, measured and as the baseline would have had them; present only "
        "when `keywords` names `consumption`",
    )


class StatisticsMetadata(SavingsMetadata):
    keywords: list[StatisticsKeyword] = Field(description="The members each point carries besides its period")


class StatisticsOut(BaseModel):
    metadata: StatisticsMetadata = Field(description="What the periods hold and how they were computed")
    data: list[StatisticsPoint] = Field(
        description="One entry per period of the range that holds a computed day, oldest first; periods "
        "without any are left out, never filled with invented values"
    )


class DeviceSavingsOut(BaseModel):
    total_savings: float = Field(
        description="Savings of all the organisation's devices in the range, EUR: the sum of the three below"
    )
    heat_pump_savings: float = Field(
        description="Savings of the organisation's heat pumps, EUR. solarfleet monitors and steers solar "
        "inverters and their batteries only, so an organisation has no heat pumps in it and this is 0.0: no "
        "savings, not an unknown value"
    )
    electric_vehicle_savings: float = Field(
        description="Savings of the organisation's electric vehicles (chargers), EUR. solarfleet steers no "
        "electric vehicles, so an organisation has none in it and this is 0.0: no savings, not an unknown value. "
        "A household's EV charging is part of its load, whose savings count under inverter_savings"
    )
    inverter_savings: float = Field(
        description="Savings of the organisation's solar inverters and their batteries, EUR: for every local day "
        "that starts in the range and has been computed (days are computed once they end), what the baseline "
        "would have cost minus what the grid energy really cost, as in the savings endpoint of each inverter"
    )
