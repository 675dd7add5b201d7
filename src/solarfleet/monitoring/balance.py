"""The power balance of a home: household = solar + battery − grid (partner-API signs).

When a device reports all but one of the four, the missing one follows; the reading then says it
was computed. A home without a battery has battery power 0 in the balance, though the field stays null.
"""

from __future__ import annotations

from dataclasses import replace

from solarfleet.connectors.base import Quantity, Reading


def complete_balance(reading: Reading, has_battery: bool) -> Reading:
    """The reading with its one missing balance quantity computed; unchanged when none or several are missing."""
    solar = reading.solar_production_w
    grid = reading.power_to_grid_w
    household = reading.household_consumption_w
    battery = reading.battery_charge_discharge_power_w if has_battery else 0.0
    missing = [value is None for value in (solar, grid, household, battery)]
    if missing.count(True) != 1:
        return reading
    if household is None:
        return replace(reading, household_consumption_w=max(solar + battery - grid, 0.0))
    if solar is None:
        return replace(reading, solar_production_w=max(household - battery + grid, 0.0))
    if grid is None:
        return replace(reading, power_to_grid_w=solar + battery - household)
    return replace(reading, battery_charge_discharge_power_w=household - solar + grid)


COMPUTED_BITS = {quantity: 1 << position for position, quantity in enumerate(Quantity)}


def computed_mask(reading: Reading) -> int:
    """The computed quantities of a reading as a bitmask (stored with each reading)."""
    mask = 0
    for quantity in reading.computed:
        mask |= COMPUTED_BITS[quantity]
    return mask


def computed_from_mask(mask: int) -> frozenset[Quantity]:
    return frozenset(q for q, bit in COMPUTED_BITS.items() if mask & bit)
