"""A Fronius inverter on loopback: a real HTTP server answering the Solar API v1 endpoints the connector reads.

Answers follow the documented shape (Head with RequestArguments, Status and Timestamp; Body.Data,
or Body.LoggerInfo for GetLoggerInfo) and Fronius's own signs: P_Grid positive when importing,
P_Load negative, P_Akku positive when discharging. Tests change `state` between calls.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from stand_ins.loopback import LoopbackServer

API_BASE = "/solar_api/v1/"
CEST = timezone(timedelta(hours=2))


class Fault(enum.Enum):
    SLOW = enum.auto()  # answers only when the stand-in stops: longer than any io timeout
    GARBAGE = enum.auto()  # HTTP 200 with a body that is not JSON
    HTTP_ERROR = enum.auto()  # `error_status` with an HTML page, as a proxy in front of the device would send
    DROP = enum.auto()  # closes the connection without answering
    BAD_STATUS = enum.auto()  # valid JSON whose Head.Status.Code is not 0
    NO_BODY = enum.auto()  # valid JSON with a Head and no Body
    EMPTY_BODY = enum.auto()  # valid JSON with a Head and a Body without Data


@dataclass
class FroniusState:
    """What the device measures, in Fronius's signs; None is sent as JSON null."""

    p_pv: float | None = 2500.0
    p_grid: float | None = -1000.0
    p_load: float | None = -1200.0
    p_akku: float | None = -300.0
    soc: float = 55.0
    e_total: float | None = 12_345_678.0
    has_battery: bool = True
    # Older Datamanager firmware gives the state of charge in the storage data only.
    soc_in_power_flow: bool = True
    # PowerReal_P_Sum (positive when importing) of a meter at the feed-in point; None: no meter listed.
    meter_p_sum: float | None = None
    timestamp: datetime = datetime(2024, 6, 21, 13, 5, 7, tzinfo=CEST)
    device_id: int = 1
    device_type: int = 99  # Symo Hybrid 5.0-3-S in pyfronius's table
    serial: str = "28136344"
    custom_name: str = "Garage &amp; roof"  # the Datamanager sends it HTML-escaped
    # Gen24 inverters have no GetLoggerInfo; the stand-in then answers 404.
    has_logger_info: bool = True
    firmware: str = "3.28.1-3"
    logger_serial: str = "240.420911"
    fault: Fault | None = None
    error_status: int = 401

    @property
    def has_meter(self) -> bool:
        return self.p_grid is not None or self.meter_p_sum is not None


class FroniusStandIn(LoopbackServer):
    """`async with FroniusStandIn() as device:` serves on 127.0.0.1 at `device.host` until the block ends."""

    route = API_BASE + "{endpoint}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __init__(self, state: FroniusState | None = None) -> None:
        self.state = state or FroniusState()
        self.requests: list[str] = []  # path and query of every request, in order
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        state = self.state
        if state.fault is Fault.SLOW:
            await self._stopping.wait()
        elif state.fault is Fault.GARBAGE:
            return web.Response(text="<html><body>Fronius</body></html>{", content_type="application/json")
        elif state.fault is Fault.HTTP_ERROR:
            return web.Response(status=state.error_status, text="<html>denied</html>", content_type="text/html")
        elif state.fault is Fault.DROP:
            assert request.transport is not None
            request.transport.abort()
            raise web.HTTPServiceUnavailable  # never sent: the connection is gone

        endpoint = request.match_info["endpoint"]
        body = _BODIES.get(endpoint)
        if body is None or (endpoint == "GetLoggerInfo.cgi" and not state.has_logger_info):
            raise web.HTTPNotFound(text="<html>404 Not Found</html>", content_type="text/html")
        code, reason = (12, "Device not available") if state.fault is Fault.BAD_STATUS else (0, "")
        head = {
            "RequestArguments": dict(request.query),
            "Status": {"Code": code, "Reason": reason, "UserMessage": ""},
            "Timestamp": state.timestamp.isoformat(),
        }
        answer: dict[str, Any] = {"Head": head}
        if state.fault is Fault.EMPTY_BODY:
            answer["Body"] = {}
        elif state.fault is not Fault.NO_BODY:
            answer["Body"] = body(state)
        return web.json_response(answer)


def _power_flow(state: FroniusState) -> dict[str, Any]:
    inverter: dict[str, Any] = {"DT": state.device_type, "E_Total": state.e_total, "P": state.p_pv}
    if state.has_battery:
        inverter["Battery_Mode"] = "normal"
        if state.soc_in_power_flow:
            inverter["SOC"] = state.soc
    mode = "produce-only" if not state.has_meter else "bidirectional" if state.has_battery else "meter"
    site = {
        "BackupMode": False,
        "BatteryStandby": False,
        "E_Day": None,
        "E_Total": state.e_total,
        "E_Year": None,
        "Meter_Location": "grid" if state.has_meter else "unknown",
        "Mode": mode,
        "P_Akku": state.p_akku if state.has_battery else None,
        "P_Grid": state.p_grid,
        "P_Load": state.p_load,
        "P_PV": state.p_pv,
        "rel_Autonomy": None,
        "rel_SelfConsumption": None,
    }
    return {"Data": {"Inverters": {str(state.device_id): inverter}, "Site": site, "Version": "12"}}


def _storage(state: FroniusState) -> dict[str, Any]:
    if not state.has_battery:
        return {"Data": {}}
    controller = {
        "Capacity_Maximum": 11520,
        "DesignedCapacity": 11520,
        "Enable": 1,
        "StateOfCharge_Relative": state.soc,
        "Temperature_Cell": 24.5,
        "Voltage_DC": 412.3,
        "Details": {"Manufacturer": "BYD", "Model": "BYD Battery-Box Premium HV", "Serial": "P030T020Z2011220"},
    }
    return {"Data": {"0": {"Controller": controller, "Modules": []}}}


def _meter(state: FroniusState) -> dict[str, Any]:
    if state.meter_p_sum is None:
        return {"Data": {}}
    meter = {
        "Details": {"Manufacturer": "Fronius", "Model": "Smart Meter 63A", "Serial": "19090145"},
        "Enable": 1,
        "Meter_Location_Current": 0,
        "PowerReal_P_Sum": state.meter_p_sum,
        "Visible": 1,
    }
    return {"Data": {"0": meter}}


def _inverter_info(state: FroniusState) -> dict[str, Any]:
    inverter = {
        "CustomName": state.custom_name,
        "DT": state.device_type,
        "ErrorCode": 0,
        "PVPower": 5000,
        "Show": 1,
        "StatusCode": 7,
        "UniqueID": state.serial,
    }
    return {"Data": {str(state.device_id): inverter}}


def _logger_info(state: FroniusState) -> dict[str, Any]:
    return {
        "LoggerInfo": {
            "HWVersion": "2.4E",
            "ProductID": "fronius-datamanager-card",
            "SWVersion": state.firmware,
            "TimezoneName": "CEST",
            "UTCOffset": 7200,
            "UniqueID": state.logger_serial,
        }
    }


_BODIES: dict[str, Callable[[FroniusState], dict[str, Any]]] = {
    "GetPowerFlowRealtimeData.fcgi": _power_flow,
    "GetStorageRealtimeData.cgi": _storage,
    "GetMeterRealtimeData.cgi": _meter,
    "GetInverterInfo.cgi": _inverter_info,
    "GetLoggerInfo.cgi": _logger_info,
}
