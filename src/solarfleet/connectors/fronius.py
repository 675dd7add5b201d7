"""Fronius Solar API v1: the inverter's (or Datamanager's) local JSON over HTTP, read through pyfronius.

The Solar API is read-only, so this connector monitors and never steers. Fronius counts power flows
into the site as positive, which differs from solarfleet's signs:

    Fronius (GetPowerFlowRealtimeData, Body.Data.Site)   solarfleet
    P_PV    PV production, null while the inverter sleeps  solar_production_w      = P_PV
    P_Grid  + import from the grid, − export               power_to_grid_w         = −P_Grid
    P_Load  − consumption of the house                     household_consumption_w = −P_Load
    P_Akku  + discharge, − charge, null without a battery  battery_charge_discharge_power_w = P_Akku

Fronius's balance P_PV + P_Grid + P_Akku + P_Load = 0 is then household = solar + battery − grid.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pyfronius import API_VERSION, BadStatusError, Fronius, InvalidAnswerError

from solarfleet.connectors.base import (
    DEFAULT_IO_TIMEOUT_S,
    Capabilities,
    Command,
    Connector,
    ControlMode,
    ControlState,
    CredentialsRejected,
    DeviceUnreachable,
    MalformedData,
    Quantity,
    Reading,
    Unsupported,
    attribute_of,
    within,
)
from solarfleet.connectors.registry import ConnectorContext, ConnectorKind

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_PORT = re.compile(r"[0-9]{1,5}")
# GetMeterRealtimeData's Meter_Location_Current for a meter at the feed-in point (1 is the house's branch).
_FEED_IN_POINT = 0
# Site.Mode of an inverter without a meter: grid and household power are unknown, not merely missing.
_NO_METER_MODE = "produce-only"
_LOGGER_IDENTITY = {
    "software_version": "firmware",
    "product_type": "datamanager",
    "unique_identifier": "datamanager_serial",
}


class FroniusSettings(BaseModel):
    """Where one Fronius inverter answers the Solar API on the home network."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(
        description="IP address or host name, optionally with :port (IPv6 with a port in brackets)",
        examples=["192.168.1.50", "fronius.local:8080", "[fd00::50]:80"],
    )
    device_id: int = Field(default=1, ge=0, le=99, description="Solar Net device id of the inverter")
    scheme: Literal["http", "https"] = "http"

    @field_validator("host")
    @classmethod
    def _plausible_host(cls, value: str) -> str:
        return _normalise_host(value)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"


def _normalise_host(value: str) -> str:
    """`value` as the authority of a URL: a host and an optional port, nothing that could add a path or userinfo."""
    text = value.strip()
    if "://" in text:
        raise ValueError("give the host without a scheme; choose https with `scheme`")
    if text.startswith("["):
        inner, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError("a bracketed IPv6 address may only be followed by :port")
        return f"[{_ipv6(inner)}]" + (_port_suffix(rest[1:]) if rest else "")
    if text.count(":") > 1:
        return f"[{_ipv6(text)}]"
    name, colon, port = text.partition(":")
    return _host_name(name) + (_port_suffix(port) if colon else "")


def _ipv6(text: str) -> str:
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv6 address") from None
    if address.scope_id:
        raise ValueError("IPv6 zone ids (%…) cannot be used in a URL; give a global or unique local address")
    return address.compressed


def _host_name(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        pass
    name = text.lower()
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{text!r} is neither an IP address nor a host name (letters, digits, hyphens, dots)")
    if labels[-1].isdigit():  # "192.168.1.300" or "10.1": a mistyped address, not a name
        raise ValueError(f"{text!r} is not a valid IPv4 address")
    return name


def _port_suffix(text: str) -> str:
    if not _PORT.fullmatch(text) or not 1 <= int(text) <= 65535:
        raise ValueError(f"port {text!r} is not a number from 1 to 65535")
    return f":{int(text)}"


class _SolarApi(Fronius):
    """pyfronius with HTTP status checks.

    pyfronius decodes the body of any response and reports a body it cannot decode as "not
    supported", so a 401 page, a missing endpoint and a garbled answer would look alike. This
    overrides its one I/O method (pyfronius 0.8.2 is pinned) to tell them apart; pyfronius still
    builds the URLs, judges the status code in the Head and converts the Body.
    """

    async def _fetch_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._aio_session.get(url) as response:
                _check_http_status(response.status, url)
                body = await response.read()
        except TimeoutError:
            raise DeviceUnreachable(f"GET {url}: timed out") from None
        except aiohttp.ClientError as exc:
            raise DeviceUnreachable(f"GET {url}: {str(exc) or type(exc).__name__}") from exc
        try:
            answer = json.loads(body)
        except ValueError:
            raise MalformedData(f"GET {url}: the answer is not JSON: {body[:80]!r}") from None
        _check_envelope(answer, url)
        return answer


def _check_envelope(answer: object, url: str) -> None:
    """What pyfronius would report vaguely (or not catch), in the order it reads: Head, status code, Body."""
    head = answer.get("Head") if isinstance(answer, dict) else None
    status = head.get("Status") if isinstance(head, dict) else None
    if not isinstance(status, dict) or "Code" not in status or "Timestamp" not in head:
        raise MalformedData(f"GET {url}: the answer has no Head with Status.Code and Timestamp")
    # A non-zero code is left to pyfronius, which names it; such answers need not have a Body.
    if status["Code"] == 0 and not isinstance(answer.get("Body"), dict):
        raise MalformedData(f"GET {url}: the answer has no Body")


def _check_http_status(status: int, url: str) -> None:
    if status < 300:
        return
    if status in (401, 403):
        # The Solar API has no login; a refusal comes from the device's settings or a proxy in front of it.
        raise CredentialsRejected(f"GET {url}: HTTP {status}, access refused")
    if status == 404:
        raise Unsupported(f"GET {url}: HTTP 404, the device does not serve this Solar API v1 endpoint")
    if status == 429 or status >= 500:
        raise DeviceUnreachable(f"GET {url}: HTTP {status}")
    raise MalformedData(f"GET {url}: unexpected HTTP {status}")


def _keep_raw(data: dict[str, Any]) -> dict[str, Any]:
    """pyfronius conversion that keeps Body.Data as is: its own one reads the battery of inverter 1 only."""
    return {"data": data}


class FroniusConnector(Connector):
    """One Fronius inverter (its Solar Net `device_id`) behind one Solar API host.

    `http` returns the shared session at each call, so a session the worker closed and reopened is
    picked up; the connector owns no connection and has nothing to close.
    """

    def __init__(
        self,
        settings: FroniusSettings,
        http: Callable[[], aiohttp.ClientSession],
        io_timeout_s: float = DEFAULT_IO_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self._http = http
        self._io_timeout_s = io_timeout_s

    async def read_state(self) -> Reading:
        flow = await self._ask("power flow", lambda api: api.current_power_flow(_keep_raw))
        time = _device_time(flow["timestamp"]["value"])
        data = _mapping(flow["data"], "Body.Data")
        site = _mapping(data.get("Site"), "Body.Data.Site")
        values = _power_flow_values(site, self._inverter_entry(data))
        if Quantity.POWER_TO_GRID_W not in values and site.get("Mode") != _NO_METER_MODE:
            grid = await self._grid_from_meter()
            if grid is not None:
                values[Quantity.POWER_TO_GRID_W] = grid
        if Quantity.BATTERY_POWER_W in values and Quantity.BATTERY_SOC_PERCENT not in values:
            soc = await self._soc_from_storage()
            if soc is not None:
                values[Quantity.BATTERY_SOC_PERCENT] = soc
        return Reading(time=time, reported=frozenset(values), **{attribute_of(q): v for q, v in values.items()})

    async def capabilities(self) -> Capabilities:
        """Identity from GetInverterInfo and, where the device has one (not on Gen24), GetLoggerInfo.

        What it reads comes from a current reading; solar production counts even at night, when
        the sleeping inverter reports P_PV as null.
        """
        info = await self._ask("inverter info", lambda api: api.inverter_info())
        identity = _inverter_identity(info["inverters"], self.settings.device_id)
        try:
            logger = await self._ask("logger info", lambda api: api.current_logger_info())
        except Unsupported:
            logger = {}
        identity.update({name: str(logger[key]["value"]) for key, name in _LOGGER_IDENTITY.items() if key in logger})
        reading = await self.read_state()
        return Capabilities(
            reads=reading.reported | {Quantity.SOLAR_PRODUCTION_W},
            controls=frozenset(),
            identity=identity,
        )

    async def apply(self, command: Command) -> None:
        raise Unsupported(
            f"the Fronius Solar API v1 is read-only: it cannot take a {command.mode!s} command; "
            "steer this inverter over SunSpec Modbus TCP instead"
        )

    async def read_control(self) -> ControlState:
        """Always self-consumption, without asking the device.

        Nothing can be commanded through the Solar API and it does not expose battery control, so
        as far as this connector knows the inverter runs its own logic. A control set by another
        channel (Modbus, the installer's menu) is invisible here.
        """
        return ControlState(ControlMode.SELF_CONSUMPTION)

    async def _ask(self, what: str, request: Callable[[Fronius], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        api = _SolarApi(self._http(), self.settings.base_url, api_version=API_VERSION.V1)
        try:
            return await within(self._io_timeout_s, request(api), f"Fronius {what} from {self.settings.host}")
        except BadStatusError as exc:
            raise MalformedData(f"Fronius {what} from {self.settings.host}: {exc}") from None
        except InvalidAnswerError:  # its message names the URL table, not the problem
            raise MalformedData(
                f"Fronius {what} from {self.settings.host}: the Body lacks the data pyfronius converts"
            ) from None

    def _inverter_entry(self, data: Mapping[str, Any]) -> Mapping[str, Any]:
        inverters = _mapping(data.get("Inverters") or {}, "Body.Data.Inverters")
        return _mapping(inverters.get(str(self.settings.device_id)) or {}, f"Inverters.{self.settings.device_id}")

    async def _grid_from_meter(self) -> float | None:
        """Grid power from the meter at the feed-in point, for power flows without P_Grid."""
        try:
            meters = (await self._ask("meter data", lambda api: api.current_system_meter_data()))["meters"]
        except Unsupported:
            return None
        at_feed_in = [
            meter["power_real"]["value"]
            for meter in meters.values()
            if "power_real" in meter and meter.get("meter_location", {}).get("value") == _FEED_IN_POINT
        ]
        if len(at_feed_in) != 1:
            return None
        imported = _as_float(at_feed_in[0], "PowerReal_P_Sum")
        return None if imported is None else 0.0 - imported

    async def _soc_from_storage(self) -> float | None:
        """State of charge from the storage data, for Datamanager firmware that leaves it out of the power flow."""
        try:
            storages = (await self._ask("storage data", lambda api: api.current_system_storage_data()))["storages"]
        except Unsupported:
            return None
        charges = [storage["state_of_charge"]["value"] for storage in storages.values() if "state_of_charge" in storage]
        # With several batteries the API does not say which belongs to this inverter.
        return _as_float(charges[0], "StateOfCharge_Relative") if len(charges) == 1 else None


def _power_flow_values(site: Mapping[str, Any], inverter: Mapping[str, Any]) -> dict[Quantity, float]:
    """The quantities the power flow gives (nulls left out), in solarfleet's signs."""
    fronius = {
        Quantity.SOLAR_PRODUCTION_W: _as_float(site.get("P_PV"), "Site.P_PV"),
        Quantity.POWER_TO_GRID_W: _as_float(site.get("P_Grid"), "Site.P_Grid"),
        Quantity.HOUSEHOLD_CONSUMPTION_W: _as_float(site.get("P_Load"), "Site.P_Load"),
        Quantity.BATTERY_POWER_W: _as_float(site.get("P_Akku"), "Site.P_Akku"),
        Quantity.BATTERY_SOC_PERCENT: _as_float(inverter.get("SOC"), "Inverters.SOC"),
        Quantity.SOLAR_ENERGY_WH: _as_float(site.get("E_Total"), "Site.E_Total"),
    }
    values = {quantity: value for quantity, value in fronius.items() if value is not None}
    # `0.0 - x` rather than `-x`, so that zero stays 0.0 and not -0.0. The clamps absorb the few
    # watts of measurement noise that make P_PV slightly negative or P_Load slightly positive.
    if Quantity.SOLAR_PRODUCTION_W in values:
        values[Quantity.SOLAR_PRODUCTION_W] = max(0.0, values[Quantity.SOLAR_PRODUCTION_W])
    if Quantity.POWER_TO_GRID_W in values:
        values[Quantity.POWER_TO_GRID_W] = 0.0 - values[Quantity.POWER_TO_GRID_W]
    if Quantity.HOUSEHOLD_CONSUMPTION_W in values:
        values[Quantity.HOUSEHOLD_CONSUMPTION_W] = max(0.0, 0.0 - values[Quantity.HOUSEHOLD_CONSUMPTION_W])
    return values


def _inverter_identity(inverters: list[dict[str, Any]], device_id: int) -> dict[str, str]:
    for inverter in inverters:
        if inverter["device_id"]["value"] != str(device_id):
            continue
        device_type = inverter["device_type"]
        identity = {"serial": str(inverter["unique_id"]["value"]), "device_type": str(device_type["value"])}
        # pyfronius knows manufacturer and model for the device types (DT) in its table only.
        identity.update({key: device_type[key] for key in ("manufacturer", "model") if key in device_type})
        if name := inverter.get("custom_name", {}).get("value"):
            identity["name"] = name
        return identity
    known = ", ".join(inverter["device_id"]["value"] for inverter in inverters) or "none"
    raise Unsupported(f"the device lists no inverter with device id {device_id} (it has: {known})")


def _device_time(stamp: object) -> datetime:
    try:
        time = datetime.fromisoformat(stamp if isinstance(stamp, str) else "")
    except ValueError:
        raise MalformedData(f"Head.Timestamp {stamp!r} is not an ISO 8601 time") from None
    if time.tzinfo is None:
        raise MalformedData(f"Head.Timestamp {stamp!r} has no UTC offset, so its time zone is unknown")
    return time.astimezone(UTC)


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedData(f"{where} is {value!r}, not an object")
    return value


def _as_float(value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedData(f"{where} is {value!r}, not a number")
    return float(value)


def build(settings: FroniusSettings, context: ConnectorContext) -> FroniusConnector:
    return FroniusConnector(settings, context.http, context.io_timeout_s)


KIND = ConnectorKind("fronius_solar_api", FroniusSettings, build)
