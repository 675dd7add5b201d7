"""The SolarEdge Monitoring API on loopback: a real HTTP server answering the site endpoints the connector reads.

Answers follow the documented shapes (`siteCurrentPowerFlow` with unsigned magnitudes and from → to
connections, `overview`, `details`, `Inventory`), and the stand-in enforces SolarEdge's limits itself,
in its own clock: 300 requests per API key and per site each calendar day (requests it refuses count
too), 3 concurrent requests per key and per source address; past a limit it answers 429 and notes it in
`over_limit`. Unknown keys, and keys asking for a site they do not cover, get 403.
"""

from __future__ import annotations

import asyncio
import enum
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from stand_ins.loopback import LoopbackServer

DAILY_LIMIT = 300
CONCURRENCY_LIMIT = 3


class Fault(enum.Enum):
    SLOW = enum.auto()  # answers only when the stand-in stops: longer than any io timeout
    GARBAGE = enum.auto()  # HTTP 200 with a body that is not JSON
    HTTP_ERROR = enum.auto()  # `error_status` (with `retry_after` as Retry-After, if set)


@dataclass
class StandInSite:
    """One site and what it measures, in solarfleet's signs (export and discharge positive)."""

    site_id: int
    name: str = "Hillside roof"
    time_zone: str = "Europe/Berlin"
    peak_power_kw: float = 9.8
    inverters: list[tuple[str, str]] = field(default_factory=lambda: [("SE8K-RWS48BEN4", "7E1C2D3A-B4")])
    batteries: list[tuple[str, str, float]] = field(default_factory=list)  # (model, serial, nameplate Wh)
    solar_w: float = 4200.0
    household_w: float = 1500.0
    battery_w: float = 0.0
    soc: float = 62.0
    unit: str = "kW"
    power_flow: bool = True  # False: a site without a meter, answered with an empty object
    lifetime_energy_wh: float = 12_345_678.0
    last_update: datetime = datetime(2024, 6, 21, 11, 5, 7, tzinfo=UTC)

    @property
    def grid_w(self) -> float:
        return self.solar_w + self.battery_w - self.household_w


@dataclass(frozen=True)
class Seen:
    time: datetime
    key: str
    site_id: int
    endpoint: str
    status: int


def power_flow_payload(
    solar_w: float, household_w: float, battery_w: float | None, grid_w: float, soc: float = 50.0, unit: str = "kW"
) -> dict[str, Any]:
    """`currentPowerFlow` as SolarEdge renders signed powers: magnitudes in `unit`, directions as connections.

    `battery_w` None: a site without storage.
    """
    scale, digits = (1000.0, 3) if unit == "kW" else (1.0, 1)

    def magnitude(watts: float) -> float:
        return round(abs(watts) / scale, digits)

    connections = []
    if solar_w > 0:
        connections.append({"from": "PV", "to": "Load"})
    if grid_w > 0:
        connections.append({"from": "LOAD", "to": "Grid"})
    elif grid_w < 0:
        connections.append({"from": "GRID", "to": "Load"})
    flow: dict[str, Any] = {
        "updateRefreshRate": 3,
        "unit": unit,
        "connections": connections,
        "GRID": {"status": "Active", "currentPower": magnitude(grid_w)},
        "LOAD": {"status": "Active", "currentPower": magnitude(household_w)},
        "PV": {"status": "Active" if solar_w > 0 else "Idle", "currentPower": magnitude(solar_w)},
    }
    if battery_w is not None:
        if battery_w < 0:
            connections.append({"from": "PV" if solar_w > 0 else "LOAD", "to": "Storage"})
        elif battery_w > 0:
            connections.append({"from": "STORAGE", "to": "Load"})
        status = "Charging" if battery_w < 0 else "Discharging" if battery_w > 0 else "Idle"
        flow["STORAGE"] = {
            "status": status,
            "currentPower": magnitude(battery_w),
            "chargeLevel": soc,
            "critical": soc < 10,
        }
    return {"siteCurrentPowerFlow": flow}


class SolarEdgeStandIn(LoopbackServer):
    """`async with SolarEdgeStandIn() as vendor:` serves on 127.0.0.1 at `vendor.base_url` until the block ends.

    `now` is the stand-in's clock for its daily counts; tests that simulate time pass the one they simulate.
    """

    route = "/site/{site_id}/{endpoint}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __init__(
        self,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        daily_limit: int = DAILY_LIMIT,
        concurrency_limit: int = CONCURRENCY_LIMIT,
    ) -> None:
        self.now = now
        self.daily_limit = daily_limit
        self.concurrency_limit = concurrency_limit
        self.sites: dict[int, StandInSite] = {}
        self.keys: dict[str, set[int]] = {}
        self.fault: Fault | None = None
        self.fault_endpoint: str | None = None  # the fault hits only this endpoint; None: every endpoint
        self.error_status = 500
        self.retry_after: str | None = None
        self.latency_s = 0.0
        self.seen: list[Seen] = []
        self.over_limit: list[str] = []  # why each request past a limit was refused
        self.per_key_day: Counter[tuple[str, date]] = Counter()
        self.per_site_day: Counter[tuple[int, date]] = Counter()
        self.peak_per_key: Counter[str] = Counter()
        self.peak_per_source = 0
        self._in_flight_key: Counter[str] = Counter()
        self._in_flight_source: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    def add(self, key: str, *sites: StandInSite) -> None:
        """Let `key` read `sites` (an installer's key covers many; a site may be reached by several keys)."""
        self.keys.setdefault(key, set())
        for site in sites:
            self.sites[site.site_id] = site
            self.keys[key].add(site.site_id)

    def requests_for(self, key: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.key == key]

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        key = request.query.get("api_key", "")
        endpoint = request.match_info["endpoint"].removesuffix(".json")
        try:
            site_id = int(request.match_info["site_id"])
        except ValueError:
            raise web.HTTPNotFound from None
        now = self.now()
        if site_id not in self.keys.get(key, ()):
            self.seen.append(Seen(now, key, site_id, endpoint, 403))
            return web.Response(status=403, text="<html>Invalid token</html>", content_type="text/html")

        today = now.date()
        self.per_key_day[key, today] += 1
        self.per_site_day[site_id, today] += 1
        source = request.remote or ""
        self._in_flight_key[key] += 1
        self._in_flight_source[source] += 1
        self.peak_per_key[key] = max(self.peak_per_key[key], self._in_flight_key[key])
        self.peak_per_source = max(self.peak_per_source, self._in_flight_source[source])
        try:
            response = await self._respond(key, site_id, endpoint, today, source)
        finally:
            self._in_flight_key[key] -= 1
            self._in_flight_source[source] -= 1
        self.seen.append(Seen(now, key, site_id, endpoint, response.status))
        return response

    async def _respond(self, key: str, site_id: int, endpoint: str, today: date, source: str) -> web.Response:
        over = [
            why
            for why, broken in (
                ("daily limit of the key", self.per_key_day[key, today] > self.daily_limit),
                ("daily limit of the site", self.per_site_day[site_id, today] > self.daily_limit),
                ("concurrency of the key", self._in_flight_key[key] > self.concurrency_limit),
                ("concurrency of the source", self._in_flight_source[source] > self.concurrency_limit),
            )
            if broken
        ]
        if over:
            self.over_limit.extend(over)
            return web.Response(status=429, text="Too many requests")
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        fault = self.fault if self.fault_endpoint in (None, endpoint) else None
        if fault is Fault.SLOW:
            await self._stopping.wait()
        elif fault is Fault.GARBAGE:
            return web.Response(text="<html>Maintenance</html>{", content_type="application/json")
        elif fault is Fault.HTTP_ERROR:
            headers = {"Retry-After": self.retry_after} if self.retry_after else None
            return web.Response(status=self.error_status, text="<html>error</html>", headers=headers)
        body = _BODIES.get(endpoint)
        if body is None:
            return web.Response(status=404, text="<html>Not Found</html>", content_type="text/html")
        return web.json_response(body(self.sites[site_id]))


def _current_power_flow(site: StandInSite) -> dict[str, Any]:
    if not site.power_flow:
        return {}
    battery_w = site.battery_w if site.batteries else None
    return power_flow_payload(site.solar_w, site.household_w, battery_w, site.grid_w, site.soc, site.unit)


def _overview(site: StandInSite) -> dict[str, Any]:
    local = site.last_update.astimezone(ZoneInfo(site.time_zone))
    return {
        "overview": {
            "lastUpdateTime": local.strftime("%Y-%m-%d %H:%M:%S"),
            "lifeTimeData": {"energy": site.lifetime_energy_wh, "revenue": 1234.5},
            "lastYearData": {"energy": 4_100_000.0},
            "lastMonthData": {"energy": 610_000.0},
            "lastDayData": {"energy": 21_500.0},
            "currentPower": {"power": site.solar_w},
            "measuredBy": "INVERTER",
        }
    }


def _details(site: StandInSite) -> dict[str, Any]:
    return {
        "details": {
            "id": site.site_id,
            "name": site.name,
            "accountId": 4711,
            "status": "Active",
            "peakPower": site.peak_power_kw,
            "currency": "EUR",
            "installationDate": "2021-04-01",
            "type": "Optimizers & Inverters",
            "location": {
                "country": "Germany",
                "city": "Freiburg",
                "address": "Sonnenweg 1",
                "zip": "79098",
                "timeZone": site.time_zone,
                "countryCode": "DE",
            },
            "publicSettings": {"isPublic": False},
        }
    }


def _inventory(site: StandInSite) -> dict[str, Any]:
    inverters = [
        {
            "name": f"Inverter {number}",
            "manufacturer": "SolarEdge",
            "model": model,
            "firmwareVersion": "4.14.112",
            "SN": serial,
            "connectedOptimizers": 20,
        }
        for number, (model, serial) in enumerate(site.inverters, start=1)
    ]
    batteries = [
        {
            "name": f"Battery 1.{number}",
            "manufacturer": "SolarEdge",
            "model": model,
            "firmwareVersion": "2.1",
            "connectedInverterSn": site.inverters[0][1],
            "nameplateCapacity": capacity_wh,
            "SN": serial,
        }
        for number, (model, serial, capacity_wh) in enumerate(site.batteries, start=1)
    ]
    meters = [{"name": "Feed In Meter", "manufacturer": "SolarEdge", "type": "FeedIn", "form": "physical"}]
    return {
        "Inventory": {
            "meters": meters if site.power_flow else [],
            "sensors": [],
            "gateways": [],
            "batteries": batteries,
            "inverters": inverters,
        }
    }


_BODIES: dict[str, Callable[[StandInSite], dict[str, Any]]] = {
    "currentPowerFlow": _current_power_flow,
    "overview": _overview,
    "details": _details,
    "inventory": _inventory,
}
