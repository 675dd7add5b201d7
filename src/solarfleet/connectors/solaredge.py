"""SolarEdge Monitoring API (cloud, read-only): one connector per site, reached with an API key and a site id.

Every request draws on three budgets (see `solarfleet.connectors.budget`): the API key's and the site's
(300 requests a day each) and the worker's source address (SolarEdge allows 3 concurrent requests per
source address; the key's own limit of 3 is kept too). A poll costs one `currentPowerFlow` request; the
lifetime energy (`overview`) is refreshed about once an hour, and the site's details and inventory are
read once per connector. Sites that do not support the power flow are polled through `overview` instead.

The API key travels as the `api_key` query parameter, as SolarEdge requires; it is never logged and never
appears in messages or reprs (errors name the site id and the key's fingerprint only).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from yarl import URL

from solarfleet.connectors.base import (
    BatteryNameplate,
    Capabilities,
    Command,
    Connector,
    ConnectorError,
    ControlMode,
    ControlState,
    CredentialsRejected,
    DeviceUnreachable,
    MalformedData,
    Quantity,
    Reading,
    Unsupported,
    within,
)
from solarfleet.connectors.budget import BudgetLease, Limits, OverBudget
from solarfleet.connectors.registry import ConnectorContext, ConnectorKind

VENDOR = "solaredge"
DEFAULT_BASE_URL = "https://monitoringapi.solaredge.com"

KEY_LIMITS = Limits(per_day=300, concurrency=3)
SITE_LIMITS = Limits(per_day=300)
SOURCE_LIMITS = Limits(concurrency=3)

# The lifetime energy is refreshed at most hourly, and no more often than every 12th poll where polls
# are sparse, so it adds at most 1/12 request to each poll.
ENERGY_REFRESH = timedelta(hours=1)
ENERGY_REFRESH_POLLS = 12
REQUESTS_PER_POLL = 1 + 1 / ENERGY_REFRESH_POLLS
# Details and inventory, read once per connector; planned as daily so a worker restarted daily stays inside.
IDENTITY_REQUESTS_PER_DAY = 2

_API_KEY = re.compile(r"[A-Z0-9]{32}")


class SolarEdgeSettings(BaseModel):
    """How to reach one site. The API key is 32 upper-case letters and digits as SolarEdge issues it;
    surrounding blanks and lower case (a mangled copy-paste) are accepted and normalised, since SolarEdge
    issues no key with lower-case letters."""

    # Pydantic would otherwise quote a rejected key in the error's text.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    api_key: SecretStr
    site_id: int = Field(gt=0)
    base_url: str = DEFAULT_BASE_URL

    @field_validator("api_key")
    @classmethod
    def _api_key_format(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value().strip().upper()
        if not _API_KEY.fullmatch(key):
            raise ValueError("a SolarEdge API key is 32 letters and digits")
        return SecretStr(key)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            url = URL(value.strip())
        except ValueError:
            raise ValueError("not a URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an http(s) URL with a host")
        if url.query_string or url.fragment or url.user:
            raise ValueError("must not carry a query, a fragment or credentials")
        return str(url).rstrip("/")


@dataclass(frozen=True, slots=True)
class _Identity:
    """What details and inventory say about a site; read once per connector."""

    name: str | None
    peak_power_w: float | None
    time_zone: ZoneInfo | None
    inverters: tuple[tuple[str, str], ...]  # (model, serial)
    batteries: tuple[tuple[str, str, float | None], ...]  # (model, serial, nameplate capacity in Wh)
    has_meter: bool


class SolarEdgeConnector(Connector):
    def __init__(self, settings: SolarEdgeSettings, context: ConnectorContext) -> None:
        self._settings = settings
        self._context = context
        registry = context.budget_registry()
        self._clock = registry.clock
        key = settings.api_key.get_secret_value()
        self._key_fingerprint = registry.fingerprint(key)
        self._lease: BudgetLease = registry.lease(
            registry.credential(VENDOR, key, KEY_LIMITS),
            registry.site(VENDOR, settings.site_id, SITE_LIMITS),
            registry.source(VENDOR, SOURCE_LIMITS),
        )
        # Counted as a sharer from the start, so the first poll interval asked for already counts every device.
        self._lease.open()
        self._details: dict[str, Any] | None = None
        self._inventory: dict[str, Any] | None = None
        self._flow_supported: bool | None = None  # unknown until the first poll
        self._has_storage: bool | None = None
        self._energy_wh: float | None = None
        self._energy_attempted_at: datetime | None = None

    def __repr__(self) -> str:
        return f"SolarEdgeConnector(site_id={self._settings.site_id}, key={self._key_fingerprint})"

    def poll_interval(self) -> timedelta:
        """How often this site may be polled so that its key and its site stay within 300 requests a day."""
        return self._lease.poll_interval(REQUESTS_PER_POLL, IDENTITY_REQUESTS_PER_DAY)

    async def read_state(self) -> Reading:
        if self._flow_supported is not False:
            payload = await self._get("currentPowerFlow")
            reading = reading_from_power_flow(payload, self._clock.now())
            if reading is not None:
                self._flow_supported = True
                self._has_storage = reading.battery_charge_level_percent is not None
                return await self._with_energy(reading)
            self._flow_supported = False
        return await self._read_overview()

    async def capabilities(self) -> Capabilities:
        identity = await self._identity()
        # Until a poll has told, a listed meter says whether the site has a power flow (SolarEdge needs one).
        flow = self._flow_supported if self._flow_supported is not None else identity.has_meter
        reads = {Quantity.SOLAR_PRODUCTION_W, Quantity.SOLAR_ENERGY_WH}
        if flow:
            reads |= {Quantity.POWER_TO_GRID_W, Quantity.HOUSEHOLD_CONSUMPTION_W}
        if flow and (identity.batteries or self._has_storage):
            reads |= {Quantity.BATTERY_POWER_W, Quantity.BATTERY_SOC_PERCENT}
        battery = None
        if identity.batteries:
            capacities = [capacity for _, _, capacity in identity.batteries if capacity is not None]
            battery = BatteryNameplate(capacity_wh=sum(capacities) if capacities else None)
        described = {
            "manufacturer": "SolarEdge",
            "site_id": str(self._settings.site_id),
            "site_name": identity.name,
            "peak_power_w": None if identity.peak_power_w is None else f"{identity.peak_power_w:g}",
            "time_zone": None if identity.time_zone is None else identity.time_zone.key,
            "inverter_models": ", ".join(model for model, _ in identity.inverters) or None,
            "inverter_serials": ", ".join(serial for _, serial in identity.inverters) or None,
            "battery_models": ", ".join(model for model, _, _ in identity.batteries) or None,
            "battery_serials": ", ".join(serial for _, serial, _ in identity.batteries) or None,
        }
        return Capabilities(
            reads=frozenset(reads),
            controls=frozenset(),  # the Monitoring API is read-only
            poll_interval=self.poll_interval(),
            battery=battery,
            identity={name: value for name, value in described.items() if value},
        )

    async def apply(self, command: Command) -> None:
        raise Unsupported(f"SolarEdge site {self._settings.site_id}: the Monitoring API is read-only ({command.mode})")

    async def read_control(self) -> ControlState:
        # Nothing can be set through the Monitoring API, so the site always follows its own logic.
        return ControlState(ControlMode.SELF_CONSUMPTION)

    async def close(self) -> None:
        # The HTTP session belongs to the context; leaving the budgets lets the key's other sites poll more.
        self._lease.close()

    async def _with_energy(self, reading: Reading) -> Reading:
        """Add the lifetime energy: freshly read (and reported) when due, else the last known value."""
        now = self._clock.now()
        due_every = max(ENERGY_REFRESH, ENERGY_REFRESH_POLLS * self.poll_interval())
        fresh = False
        if self._energy_attempted_at is None or now - self._energy_attempted_at >= due_every:
            # Counted as attempted even if it fails, so a failing overview cannot cost a request every poll.
            self._energy_attempted_at = now
            try:
                overview = _member(await self._get("overview"), "overview", "overview")
                self._energy_wh = _number(_member(overview, "lifeTimeData", "overview"), "energy", "lifeTimeData")
                fresh = True
            except DeviceUnreachable:
                pass  # the power flow is worth keeping; the energy waits for its next turn
        if self._energy_wh is None:
            return reading
        reported = (reading.reported | {Quantity.SOLAR_ENERGY_WH}) if fresh else reading.reported
        return replace(reading, solar_energy_wh=self._energy_wh, reported=reported)

    async def _read_overview(self) -> Reading:
        """For sites without a power flow: PV power, lifetime energy and the site's own timestamp."""
        overview = _member(await self._get("overview"), "overview", "overview")
        received = self._clock.now()
        power = _number(_member(overview, "currentPower", "overview"), "power", "currentPower")
        if power < 0:
            raise MalformedData("overview: currentPower.power is negative")
        energy = _number(_member(overview, "lifeTimeData", "overview"), "energy", "lifeTimeData")
        time = received
        if isinstance(overview.get("lastUpdateTime"), str):
            time = _site_time(overview["lastUpdateTime"], (await self._identity()).time_zone) or received
        return Reading(
            time=time,
            solar_production_w=power,
            solar_energy_wh=energy,
            reported=frozenset({Quantity.SOLAR_PRODUCTION_W, Quantity.SOLAR_ENERGY_WH}),
        )

    async def _identity(self) -> _Identity:
        if self._details is None:
            self._details = _member(await self._get("details"), "details", "details")
        if self._inventory is None:
            self._inventory = _member(await self._get("inventory"), "Inventory", "inventory")
        return _identity(self._details, self._inventory)

    async def _get(self, endpoint: str) -> Any:
        """One budgeted GET of `/site/{id}/{endpoint}`, decoded; HTTP failures become connector errors."""
        what = f"SolarEdge site {self._settings.site_id} {endpoint}"
        url = f"{self._settings.base_url}/site/{self._settings.site_id}/{endpoint}"
        async with self._lease.permit() as permit:
            try:
                status, retry_after, body = await within(self._context.io_timeout_s, self._fetch(url), what)
            except (aiohttp.ClientError, OSError) as exc:
                # Only the exception's type: aiohttp's messages may quote the URL, and with it the key.
                raise DeviceUnreachable(f"{what}: {type(exc).__name__}") from None
            if status == 429:
                # The request still counts; pause the key, the site and the source rather than retry.
                until = permit.refused(_seconds(retry_after))
                raise OverBudget(f"{what}: SolarEdge answered 429 (too many requests); backing off", until)
        if status in (401, 403):
            raise CredentialsRejected(f"{what}: SolarEdge refused the API key (HTTP {status})")
        if status >= 500:
            raise DeviceUnreachable(f"{what}: SolarEdge answered HTTP {status}")
        if status != 200:
            raise ConnectorError(f"{what}: unexpected HTTP {status}")
        try:
            return json.loads(body)
        except ValueError:
            raise MalformedData(f"{what}: the answer is not JSON") from None

    async def _fetch(self, url: str) -> tuple[int, str | None, bytes]:
        params = {"api_key": self._settings.api_key.get_secret_value()}
        async with self._context.http().get(url, params=params, headers={"Accept": "application/json"}) as response:
            return response.status, response.headers.get("Retry-After"), await response.read()


def reading_from_power_flow(payload: Any, time: datetime) -> Reading | None:
    """A reading from a `currentPowerFlow` answer, or `None` where the site does not support the power flow.

    SolarEdge gives unsigned magnitudes per element (PV, LOAD, GRID, STORAGE) in `unit` (W or kW) and the
    direction in `connections` (from → to): into GRID is export, out of GRID import; out of STORAGE is
    discharge, into it charge. Where no connection tells, the storage's status does; where neither does,
    the sign that best fits the power balance (household = solar + battery − grid) is taken.
    """
    if not isinstance(payload, dict):
        raise MalformedData("currentPowerFlow: the answer is not an object")
    if not payload:
        return None  # SolarEdge's answer for sites that do not support the power flow
    flow = _member(payload, "siteCurrentPowerFlow", "currentPowerFlow")
    if not any(element in flow for element in ("PV", "LOAD", "GRID", "STORAGE")):
        return None
    unit = flow.get("unit")
    scale = {"W": 1.0, "KW": 1000.0}.get(unit.upper()) if isinstance(unit, str) else None
    if scale is None:
        raise MalformedData(f"currentPowerFlow: unknown unit {unit!r}")
    edges = _edges(flow.get("connections", []))

    def magnitude(element: str) -> float | None:
        if element not in flow:
            return None
        value = _number(_member(flow, element, "siteCurrentPowerFlow"), "currentPower", element) * scale
        if value < 0:
            raise MalformedData(f"currentPowerFlow: {element}.currentPower is negative")
        return value

    solar, load, grid, storage = (magnitude(element) for element in ("PV", "LOAD", "GRID", "STORAGE"))
    grid_sign = _direction(edges, "GRID", into=+1, out_of=-1)
    storage_sign = _direction(edges, "STORAGE", into=-1, out_of=+1)
    if storage is not None and storage_sign is None:
        status = str(flow["STORAGE"].get("status", "")).lower()
        storage_sign = {"charging": -1, "discharging": +1}.get(status)
    grid_w, battery_w = min(
        itertools.product(_signed(grid, grid_sign), _signed(storage, storage_sign)),
        key=lambda pair: abs((solar or 0.0) + (pair[1] or 0.0) - (pair[0] or 0.0) - (load or 0.0)),
    )

    reported = {
        quantity
        for quantity, value in (
            (Quantity.SOLAR_PRODUCTION_W, solar),
            (Quantity.POWER_TO_GRID_W, grid),
            (Quantity.HOUSEHOLD_CONSUMPTION_W, load),
            (Quantity.BATTERY_POWER_W, storage),
        )
        if value is not None
    }
    soc = None
    if storage is not None:
        soc = _number(flow["STORAGE"], "chargeLevel", "STORAGE")
        reported.add(Quantity.BATTERY_SOC_PERCENT)
    # One element missing from the balance is computed from the others (and so not reported).
    if load is None and solar is not None and grid_w is not None:
        load = max(solar + (battery_w or 0.0) - grid_w, 0.0)
    elif grid_w is None and solar is not None and load is not None:
        grid_w = solar + (battery_w or 0.0) - load
    return Reading(
        time=time,
        solar_production_w=solar,
        power_to_grid_w=grid_w,
        household_consumption_w=load,
        battery_charge_discharge_power_w=battery_w,
        battery_charge_level_percent=soc,
        reported=frozenset(reported),
    )


def _edges(connections: Any) -> set[tuple[str, str]]:
    if not isinstance(connections, list):
        raise MalformedData("currentPowerFlow: connections is not a list")
    edges = set()
    for connection in connections:
        if not isinstance(connection, dict) or not all(isinstance(connection.get(end), str) for end in ("from", "to")):
            raise MalformedData("currentPowerFlow: a connection lacks from/to")
        # SolarEdge spells the ends inconsistently ("GRID" → "Load", "LOAD" → "Grid").
        edges.add((connection["from"].upper(), connection["to"].upper()))
    return edges


def _direction(edges: set[tuple[str, str]], element: str, *, into: int, out_of: int) -> int | None:
    """The sign the connections give an element; None where they give none (or contradict each other)."""
    flows_in = any(to == element for _, to in edges)
    flows_out = any(source == element for source, _ in edges)
    if flows_in == flows_out:
        return None
    return into if flows_in else out_of


def _signed(magnitude: float | None, sign: int | None) -> list[float | None]:
    """The signed values an element may have: None where it is absent, both signs where nothing tells which."""
    if magnitude is None:
        return [None]
    if sign is None and magnitude:
        return [magnitude, -magnitude]
    return [(sign or 1) * magnitude + 0.0]  # + 0.0 turns -0.0 into 0.0


def _identity(details: dict[str, Any], inventory: dict[str, Any]) -> _Identity:
    location = details.get("location")
    zone_name = location.get("timeZone") if isinstance(location, dict) else None
    try:
        time_zone = ZoneInfo(zone_name) if isinstance(zone_name, str) and zone_name else None
    except (ZoneInfoNotFoundError, ValueError):
        time_zone = None  # readings then carry the time of the answer instead of the site's own
    peak_kw = _optional_number(details.get("peakPower"))
    name = details.get("name")
    inverters = tuple((str(item.get("model", "")), str(item.get("SN", ""))) for item in _items(inventory, "inverters"))
    batteries = tuple(
        (str(item.get("model", "")), str(item.get("SN", "")), _optional_number(item.get("nameplateCapacity")))
        for item in _items(inventory, "batteries")
    )
    return _Identity(
        name=name if isinstance(name, str) else None,
        peak_power_w=None if peak_kw is None else peak_kw * 1000.0,
        time_zone=time_zone,
        inverters=inverters,
        batteries=batteries,
        has_meter=bool(_items(inventory, "meters")),
    )


def _items(inventory: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    items = inventory.get(kind, [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise MalformedData(f"inventory: {kind} is not a list of objects")
    return items


def _site_time(text: str, time_zone: ZoneInfo | None) -> datetime | None:
    """A SolarEdge timestamp ("YYYY-MM-DD hh:mm:ss", the site's local time) in UTC; None where it cannot be placed."""
    if time_zone is None:
        return None
    try:
        local = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise MalformedData(f"overview: lastUpdateTime {text!r} is not YYYY-MM-DD hh:mm:ss") from None
    return local.replace(tzinfo=time_zone).astimezone(UTC)


def _member(container: Any, name: str, where: str) -> dict[str, Any]:
    value = container.get(name) if isinstance(container, dict) else None
    if not isinstance(value, dict):
        raise MalformedData(f"{where}: {name} is missing or not an object")
    return value


def _number(container: dict[str, Any], name: str, where: str) -> float:
    value = _optional_number(container.get(name))
    if value is None:
        raise MalformedData(f"{where}: {name} is missing or not a number")
    return value


def _optional_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds, where the vendor sent it as a number."""
    try:
        return max(float(retry_after), 0.0) if retry_after is not None else None
    except ValueError:
        return None


def build(settings: SolarEdgeSettings, context: ConnectorContext) -> SolarEdgeConnector:
    return SolarEdgeConnector(settings, context)


KIND = ConnectorKind("solaredge_monitoring", SolarEdgeSettings, build)
