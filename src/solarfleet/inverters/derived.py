"""Inverter response fields that are computed from stored values at read time (pure functions)."""

from __future__ import annotations

from datetime import datetime


def solar_surplus_w(solar_production_w: float | None, household_consumption_w: float | None) -> float | None:
    """solar − household; unknown when either is unknown."""
    if solar_production_w is None or household_consumption_w is None:
        return None
    return solar_production_w - household_consumption_w


def is_pause_power_active(pause_power_until: datetime | None, confirmed_by_device: bool, now: datetime) -> bool:
    """A pause counts only while it lasts and once the device has confirmed it."""
    return confirmed_by_device and pause_power_until is not None and pause_power_until > now
