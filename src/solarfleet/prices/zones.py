"""The price zones of the partner API: the bidding zones whose prices steer a device."""

from __future__ import annotations

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
