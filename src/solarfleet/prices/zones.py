"""The price zones of the partner API: the bidding zones whose prices steer a device.

`ZONES` holds one row per zone: a representative place, the ENTSO-E area whose day-ahead prices the
zone follows, and the resolution its day-ahead market clears at. Everything else about a zone is
derived from that table.

EIC codes are the area codes of the ENTSO-E Transparency Platform (checked against the entsoe-py
library's area list). Two zones have no bidding zone of their own:

- `AT_HOURLY` is the hourly product of the Austrian bidding zone: since the 15-minute day-ahead
  market went live, the power exchanges publish an hourly index as the arithmetic mean of each hour's
  four quarter-hour prices, and Austrian hourly spot tariffs settle on it. It shares Austria's EIC.
- `IT_PUN` (PUN Index GME, the Italian national price) is computed by the Italian exchange GME as a
  consumption-weighted mean of the zonal prices; ENTSO-E is not known to publish it. It is mapped to
  Italy's national area (10YIT-GRTN-----B), the only Italy-wide code ENTSO-E has, so whatever ENTSO-E
  publishes there is used; where it publishes nothing, PUN prices come from partner uploads or
  contracts, never from zonal prices averaged without the volumes that weight them.

ENTSO-E has published nothing for Great Britain (`UK`) since Brexit (2021); the code is kept so a
query is well-formed and simply finds no data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class PriceZone(StrEnum):
    AT = "AT"
    AT_HOURLY = "AT_HOURLY"
    BE = "BE"
    CH = "CH"
    EE = "EE"
    DE_LU = "DE_LU"
    HU = "HU"
    IT_CNOR = "IT_CNOR"
    IT_CSUD = "IT_CSUD"
    IT_NORD = "IT_NORD"
    IT_PUN = "IT_PUN"
    IT_SARD = "IT_SARD"
    IT_SICI = "IT_SICI"
    IT_SUD = "IT_SUD"
    PT = "PT"
    RO = "RO"
    SE_1 = "SE_1"
    SE_2 = "SE_2"
    SE_3 = "SE_3"
    SE_4 = "SE_4"
    UK = "UK"


DEFAULT_PRICE_ZONE = PriceZone.AT

QUARTER_HOUR = timedelta(minutes=15)
HOUR = timedelta(hours=1)

# The Single Day-Ahead Coupling (SDAC) cleared its first 15-minute auction on 2025-09-30 for delivery
# from 2025-10-01 00:00 CEST; until then every zone's day-ahead market cleared hourly.
SDAC_15_MINUTE_GO_LIVE = datetime(2025, 9, 30, 22, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ZoneLocation:
    """A representative place in the zone: where a device without an address is assumed to be."""

    latitude: float
    longitude: float
    timezone: str


@dataclass(frozen=True, slots=True)
class ZoneFacts:
    """One zone: where it is, whose day-ahead prices it follows, and how finely they are cleared."""

    location: ZoneLocation
    eic: str  # ENTSO-E area code (in_Domain = out_Domain of a day-ahead price query)
    resolution: timedelta  # day-ahead resolution since SDAC_15_MINUTE_GO_LIVE


_QH, _H = QUARTER_HOUR, HOUR
# Places two zones share.
_VIENNA = ZoneLocation(48.21, 16.37, "Europe/Vienna")
_ROME = ZoneLocation(41.90, 12.50, "Europe/Rome")

# Places: a large town near the middle of each zone's solar resource, and the zone's civil time zone.
# Resolutions: every SDAC zone clears quarter-hours. AT_HOURLY is hourly by definition; CH trades in
# the Swiss auction outside SDAC, which stayed hourly; the GB auctions behind UK clear hours too.
ZONES: dict[PriceZone, ZoneFacts] = {
    PriceZone.AT: ZoneFacts(_VIENNA, "10YAT-APG------L", _QH),
    PriceZone.AT_HOURLY: ZoneFacts(_VIENNA, "10YAT-APG------L", _H),
    PriceZone.BE: ZoneFacts(ZoneLocation(50.85, 4.35, "Europe/Brussels"), "10YBE----------2", _QH),
    PriceZone.CH: ZoneFacts(ZoneLocation(46.95, 7.45, "Europe/Zurich"), "10YCH-SWISSGRIDZ", _H),
    PriceZone.EE: ZoneFacts(ZoneLocation(59.44, 24.75, "Europe/Tallinn"), "10Y1001A1001A39I", _QH),
    PriceZone.DE_LU: ZoneFacts(ZoneLocation(50.11, 8.68, "Europe/Berlin"), "10Y1001A1001A82H", _QH),
    PriceZone.HU: ZoneFacts(ZoneLocation(47.50, 19.04, "Europe/Budapest"), "10YHU-MAVIR----U", _QH),
    PriceZone.IT_CNOR: ZoneFacts(ZoneLocation(43.77, 11.26, "Europe/Rome"), "10Y1001A1001A70O", _QH),
    PriceZone.IT_CSUD: ZoneFacts(_ROME, "10Y1001A1001A71M", _QH),
    PriceZone.IT_NORD: ZoneFacts(ZoneLocation(45.46, 9.19, "Europe/Rome"), "10Y1001A1001A73I", _QH),
    PriceZone.IT_PUN: ZoneFacts(_ROME, "10YIT-GRTN-----B", _QH),
    PriceZone.IT_SARD: ZoneFacts(ZoneLocation(39.22, 9.12, "Europe/Rome"), "10Y1001A1001A74G", _QH),
    PriceZone.IT_SICI: ZoneFacts(ZoneLocation(38.12, 13.36, "Europe/Rome"), "10Y1001A1001A75E", _QH),
    PriceZone.IT_SUD: ZoneFacts(ZoneLocation(40.85, 14.27, "Europe/Rome"), "10Y1001A1001A788", _QH),
    PriceZone.PT: ZoneFacts(ZoneLocation(38.72, -9.14, "Europe/Lisbon"), "10YPT-REN------W", _QH),
    PriceZone.RO: ZoneFacts(ZoneLocation(44.43, 26.10, "Europe/Bucharest"), "10YRO-TEL------P", _QH),
    PriceZone.SE_1: ZoneFacts(ZoneLocation(65.58, 22.15, "Europe/Stockholm"), "10Y1001A1001A44P", _QH),
    PriceZone.SE_2: ZoneFacts(ZoneLocation(62.39, 17.31, "Europe/Stockholm"), "10Y1001A1001A45N", _QH),
    PriceZone.SE_3: ZoneFacts(ZoneLocation(59.33, 18.07, "Europe/Stockholm"), "10Y1001A1001A46L", _QH),
    PriceZone.SE_4: ZoneFacts(ZoneLocation(55.60, 13.00, "Europe/Stockholm"), "10Y1001A1001A47J", _QH),
    PriceZone.UK: ZoneFacts(ZoneLocation(51.51, -0.13, "Europe/London"), "10YGB----------A", _H),
}

# A view of the table for callers that need only the place.
ZONE_LOCATIONS: dict[PriceZone, ZoneLocation] = {zone: facts.location for zone, facts in ZONES.items()}

# The zone a published ENTSO-E area stands for. Where several zones share an area, the area's own
# prices are the finest of them; the coarser zones (AT_HOURLY) are averages of it.
_ZONE_OF_EIC: dict[str, PriceZone] = {
    facts.eic: zone for zone, facts in sorted(ZONES.items(), key=lambda item: item[1].resolution, reverse=True)
}


def zone_of_eic(eic: str) -> PriceZone:
    """The zone whose prices ENTSO-E publishes under `eic`; KeyError for an area solarfleet does not serve."""
    return _ZONE_OF_EIC[eic]


def day_ahead_resolution(zone: PriceZone, at: datetime) -> timedelta:
    """The resolution the zone's day-ahead market cleared at for the instant `at` (aware)."""
    return ZONES[zone].resolution if at >= SDAC_15_MINUTE_GO_LIVE else HOUR


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """Midnight to midnight of `day` in `timezone`, in UTC: 23 or 25 hours on the days clocks change."""
    tz = ZoneInfo(timezone)
    start = datetime.combine(day, time(), tz).astimezone(UTC)
    return start, datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)


def local_day_bounds(zone: PriceZone, day: date) -> tuple[datetime, datetime]:
    """The zone's local delivery day `day`, in UTC."""
    return day_bounds(day, ZONES[zone].location.timezone)
