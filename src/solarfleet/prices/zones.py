"""The price zones of the partner API: the bidding zones whose prices steer a device."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


@dataclass(frozen=True, slots=True)
class ZoneLocation:
    """A representative place in the zone: where a device without an address is assumed to be."""

    latitude: float
    longitude: float
    timezone: str


# A large town near the middle of each zone's solar resource, and the zone's civil time zone.
ZONE_LOCATIONS: dict[PriceZone, ZoneLocation] = {
    PriceZone.AT: ZoneLocation(48.21, 16.37, "Europe/Vienna"),
    PriceZone.AT_HOURLY: ZoneLocation(48.21, 16.37, "Europe/Vienna"),
    PriceZone.BE: ZoneLocation(50.85, 4.35, "Europe/Brussels"),
    PriceZone.CH: ZoneLocation(46.95, 7.45, "Europe/Zurich"),
    PriceZone.EE: ZoneLocation(59.44, 24.75, "Europe/Tallinn"),
    PriceZone.DE_LU: ZoneLocation(50.11, 8.68, "Europe/Berlin"),
    PriceZone.HU: ZoneLocation(47.50, 19.04, "Europe/Budapest"),
    PriceZone.IT_CNOR: ZoneLocation(43.77, 11.26, "Europe/Rome"),
    PriceZone.IT_CSUD: ZoneLocation(41.90, 12.50, "Europe/Rome"),
    PriceZone.IT_NORD: ZoneLocation(45.46, 9.19, "Europe/Rome"),
    PriceZone.IT_PUN: ZoneLocation(41.90, 12.50, "Europe/Rome"),
    PriceZone.IT_SARD: ZoneLocation(39.22, 9.12, "Europe/Rome"),
    PriceZone.IT_SICI: ZoneLocation(38.12, 13.36, "Europe/Rome"),
    PriceZone.IT_SUD: ZoneLocation(40.85, 14.27, "Europe/Rome"),
    PriceZone.PT: ZoneLocation(38.72, -9.14, "Europe/Lisbon"),
    PriceZone.RO: ZoneLocation(44.43, 26.10, "Europe/Bucharest"),
    PriceZone.SE_1: ZoneLocation(65.58, 22.15, "Europe/Stockholm"),
    PriceZone.SE_2: ZoneLocation(62.39, 17.31, "Europe/Stockholm"),
    PriceZone.SE_3: ZoneLocation(59.33, 18.07, "Europe/Stockholm"),
    PriceZone.SE_4: ZoneLocation(55.60, 13.00, "Europe/Stockholm"),
    PriceZone.UK: ZoneLocation(51.51, -0.13, "Europe/London"),
}
