"""Synthetic day-ahead prices: seeded, plausible curves for the demo, tests and benchmarks, where no market
data is at hand (no ENTSO-E token, no network).

The shape follows what drives real day-ahead prices: demand (a night trough, a morning and a larger
evening peak, less and flatter at weekends), solar output (a midday dip, deep on sunny summer days in
solar-heavy zones, negative on sunny weekends when demand is low), seasons (dearer winters), and a
level that wanders from day to day (an AR(1) process) around a zone's typical price.

Every day is drawn from its own random stream, seeded by (seed, market, day), and the AR(1) level is
the (truncated) sum of the shocks of the days before it. So a day's prices depend on the seed, zone
and date alone: one call for a year and twelve calls for its months give the same curve.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from solarfleet.prices.curve import PriceCurve, PriceSource
from solarfleet.prices.zones import ZONE_LOCATIONS, ZONES, PriceZone, local_day_bounds, zone_of_eic


@dataclass(frozen=True, slots=True)
class _Market:
    level: float  # typical day-ahead price, EUR/MWh
    solar: float  # how deep a clear summer noon cuts into it, as a share of the level


# Levels in the range of recent years: hydro-rich northern Sweden cheapest, gas-priced Italy dearest.
# Solar shares follow installed PV relative to demand: large in Germany, Iberia and Austria, small up north.
# AT_HOURLY is not listed: it is the hourly mean of AT, as on the real market.
_MARKETS: dict[PriceZone, _Market] = {
    PriceZone.AT: _Market(95.0, 0.55),
    PriceZone.BE: _Market(85.0, 0.50),
    PriceZone.CH: _Market(95.0, 0.45),
    PriceZone.EE: _Market(90.0, 0.30),
    PriceZone.DE_LU: _Market(85.0, 0.60),
    PriceZone.HU: _Market(105.0, 0.50),
    PriceZone.IT_CNOR: _Market(110.0, 0.35),
    PriceZone.IT_CSUD: _Market(108.0, 0.40),
    PriceZone.IT_NORD: _Market(110.0, 0.35),
    PriceZone.IT_PUN: _Market(110.0, 0.35),
    PriceZone.IT_SARD: _Market(105.0, 0.45),
    PriceZone.IT_SICI: _Market(112.0, 0.45),
    PriceZone.IT_SUD: _Market(100.0, 0.50),
    PriceZone.PT: _Market(65.0, 0.60),
    PriceZone.RO: _Market(105.0, 0.45),
    PriceZone.SE_1: _Market(30.0, 0.05),
    PriceZone.SE_2: _Market(32.0, 0.05),
    PriceZone.SE_3: _Market(50.0, 0.15),
    PriceZone.SE_4: _Market(70.0, 0.30),
    PriceZone.UK: _Market(95.0, 0.30),
}

# Day-to-day level: AR(1) with this persistence, in log terms with this spread; shocks older than
# MEMORY days weigh less than PERSISTENCE**MEMORY (about 1e-4) and are left out.
PERSISTENCE = 0.8
LEVEL_SPREAD = 0.18
MEMORY = 40
# The solar dip at a clear summer noon, as a multiple of `solar` times the level: above 1 on a weekend
# with its lower demand, which is what drives real prices below zero.
SOLAR_DIP = 1.8
NOISE = 0.04  # step-to-step scatter, as a share of the level
MAX_STEPS_PER_DAY = 100  # quarter hours of the 25-hour day: every day draws as many, so streams stay aligned
# Saturday and Sunday: lower level, flatter shape.
WEEKEND_LEVEL = {5: 0.9, 6: 0.8}
WEEKEND_SHAPE = {5: 0.75, 6: 0.6}


def synthetic_prices(zone: PriceZone, start_day: date, days: int, seed: int) -> PriceCurve:
    """`days` local delivery days of the zone from `start_day`, at its day-ahead resolution, in EUR/MWh."""
    if days < 1:
        raise ValueError("days must be at least 1")
    # Zones sharing a bidding zone share its prices (AT_HOURLY averages AT's quarter hours).
    market = zone_of_eic(ZONES[zone].eic)
    model = _MARKETS[market]
    resolution = ZONES[market].resolution
    # The days asked for, after the MEMORY - 1 days whose shocks still weigh on the first of them.
    first = start_day - timedelta(days=MEMORY - 1)
    draws = [_draws(seed, market, first + timedelta(days=offset)) for offset in range(days + MEMORY - 1)]
    shocks = np.array([day_draws.shock for day_draws in draws])
    weights = PERSISTENCE ** np.arange(MEMORY)[::-1] * math.sqrt(1 - PERSISTENCE**2)
    parts = []
    for offset in range(days):
        anomaly = float(weights @ shocks[offset : offset + MEMORY])
        day = start_day + timedelta(days=offset)
        parts.append(_day_prices(market, model, day, resolution, anomaly, draws[offset + MEMORY - 1]))
    start = local_day_bounds(market, start_day)[0]
    curve = PriceCurve(zone, start, resolution, np.concatenate(parts), PriceSource.SYNTHETIC)
    return curve.resample(ZONES[zone].resolution)


@dataclass(frozen=True, slots=True)
class _Draws:
    shock: float  # the day's innovation of the level's AR(1) process
    sunshine: float  # 0 overcast .. 1 clear
    peak: float  # how pronounced the day's peaks are, standard normal
    noise: np.ndarray  # MAX_STEPS_PER_DAY standard normals


def _draws(seed: int, market: PriceZone, day: date) -> _Draws:
    # A stable key for the zone: Python's own hash of a string changes from process to process.
    rng = np.random.default_rng([seed % 2**64, zlib.crc32(market.value.encode()), day.toordinal()])
    return _Draws(
        shock=float(rng.standard_normal()),
        sunshine=float(rng.beta(2.0, 1.0)),
        peak=float(rng.standard_normal()),
        noise=rng.standard_normal(MAX_STEPS_PER_DAY),
    )


def _day_prices(
    market: PriceZone, model: _Market, day: date, resolution: timedelta, anomaly: float, draws: _Draws
) -> np.ndarray:
    facts = ZONES[market]
    timezone = ZoneInfo(facts.location.timezone)
    start, end = local_day_bounds(market, day)
    steps = (end - start) // resolution
    # Demand follows the clock on the wall, so take each step's local clock time at its middle.
    middles = [(start + (index + 0.5) * resolution).astimezone(timezone) for index in range(steps)]
    hours = np.array([moment.hour + moment.minute / 60 for moment in middles])

    day_of_year = day.timetuple().tm_yday
    summer = 0.5 * (1 + math.cos(2 * math.pi * (day_of_year - 172) / 365.25))  # 1 at midsummer, 0 at midwinter
    weekday = day.weekday()
    level = (
        model.level * (0.9 + 0.2 * (1 - summer)) * math.exp(LEVEL_SPREAD * anomaly) * WEEKEND_LEVEL.get(weekday, 1.0)
    )
    evening_hour = 18.0 + 1.5 * summer  # the evening peak follows dusk
    shape = (0.25 * _bump(hours, 8.0, 1.5) + 0.40 * _bump(hours, evening_hour, 2.0) - 0.30 * _bump(hours, 3.5, 2.5)) * (
        WEEKEND_SHAPE.get(weekday, 1.0) * (1 + 0.2 * draws.peak)
    )
    sun = _sun(hours, day, facts.location.latitude, facts.location.longitude, timezone)
    # The dip scales with the weekday level: solar output does not shrink at weekends, demand does.
    weekday_level = level / WEEKEND_LEVEL.get(weekday, 1.0)
    dip = SOLAR_DIP * model.solar * (0.15 + 0.85 * summer) * draws.sunshine * weekday_level * sun
    prices = level * (1 + shape) - dip + NOISE * level * draws.noise[:steps]
    return np.round(prices, 2)


def _bump(hours: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((hours - centre) / width) ** 2)


def _sun(hours: np.ndarray, day: date, latitude: float, longitude: float, timezone: ZoneInfo) -> np.ndarray:
    """Relative solar output by local clock hour: 0 at sunrise and sunset, 1 at solar noon."""
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + day.timetuple().tm_yday) / 365)
    cos_half_day = -math.tan(math.radians(latitude)) * math.tan(declination)
    day_length = 2 * math.degrees(math.acos(min(max(cos_half_day, -1.0), 1.0))) / 15
    offset = datetime.combine(day, time(12), timezone).utcoffset() or timedelta()
    solar_noon = 12 - longitude / 15 + offset.total_seconds() / 3600
    angle = np.pi * (hours - solar_noon) / max(day_length, 1e-6)
    return np.where(np.abs(angle) < np.pi / 2, np.cos(angle), 0.0)


class SyntheticMarket:
    """A stand-in for the ENTSO-E client in demos: it answers `fetch_area` with this generator's prices,
    so the day-ahead fetcher publishes synthetic prices on the real market's timetable."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    async def fetch_area(self, eic: str, start: datetime, end: datetime) -> list[PriceCurve]:
        zone = zone_of_eic(eic)
        first = start.astimezone(ZoneInfo(ZONE_LOCATIONS[zone].timezone)).date() - timedelta(days=1)
        days = (end - start).days + 3  # whole local days around the window, whatever the time zones
        return [synthetic_prices(zone, first, days, self.seed).window(start, end)]
