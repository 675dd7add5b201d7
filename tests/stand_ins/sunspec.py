"""A SunSpec inverter on loopback: a real pymodbus TCP server whose register image a simulated home drives.

Every model is encoded by pysunspec2 itself (`sunspec2.device.Model`), from its shipped definitions, so the
connector's own decoder is checked against an independent encoder. The image is rebuilt from
`home.advance_to(clock.now())` whenever a read arrives; a write to the control points of models 123, 124 or
704 is read back the same way, turned into a `Command` and applied to the home, so the simulated battery
really changes. The device follows the SunSpec signs: meters count import as positive, the battery (802)
and the inverters count delivery as positive.

Fault knobs, changed by tests between calls: `unimplemented` (points sent as SunSpec's "not implemented"),
`marker=False` (no SunS marker), `delay_s` (slow answers), `drop` (close the connection instead of answering).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Self

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from sunspec2 import device

from solarfleet.connectors.base import Command, ControlMode, ControlState
from solarfleet.connectors.simulator.clock import SimulationClock
from solarfleet.connectors.simulator.home import HomeState, SimulatedHome

DEFAULT_MODELS = (1, 103, 120, 123, 124, 160, 203, 802)
DER_MODELS = (1, 701, 702, 704, 713, 160, 203, 802)  # the IEEE 1547 (700-series) variant
SUNS_MARKER = (0x5375, 0x6E53)
END_MARKER = (0xFFFF, 0)
ENERGY_BEFORE_WH = 12_345_000  # what the inverter's lifetime counter held before the simulated home started
PV_STRINGS = (("String 1", 0.6), ("String 2", 0.4))  # MPPT inputs and their share of the PV power

# The control points this device accepts; writes anywhere else are refused with "illegal address".
_MODE_POINTS = {
    123: {"WMaxLimPct", "WMaxLim_Ena"},
    124: {"StorCtl_Mod", "InWRte", "OutWRte"},
    704: {"WMaxLimPct", "WMaxLimPctEna"},
}
_SETTING_POINTS = {  # kept as written: the home does not decide them
    123: {"WMaxLimPct_WinTms", "WMaxLimPct_RvrtTms", "WMaxLimPct_RmpTms"},
    124: {"InOutWRte_WinTms", "InOutWRte_RvrtTms", "InOutWRte_RmpTms", "ChaGriSet"},
    704: {"WMaxLimPctRvrtTms"},
}
_CHARGE_LIMIT, _DISCHARGE_LIMIT = 1, 2  # StorCtl_Mod bits


class SunSpecStandIn:
    """`async with SunSpecStandIn(home, clock) as device:` serves on 127.0.0.1:`device.port` until the block ends."""

    def __init__(
        self,
        home: SimulatedHome,
        clock: SimulationClock,
        *,
        models: Sequence[int] = DEFAULT_MODELS,
        base: int = 40000,
        marker: bool = True,
    ) -> None:
        self.home = home
        self.clock = clock
        self.models = tuple(models)
        self.base = base
        self.marker = marker
        self.unimplemented: set[tuple[int, str]] = set()  # (model id, point name), also inside repeating groups
        self.delay_s = 0.0
        self.drop = False
        self.writes: list[tuple[int, list[int]]] = []  # (address, registers) of every accepted write
        self.port = 0
        self.locations: dict[int, int] = {}  # model id → address of its ID register
        self._settings: dict[tuple[int, str], int] = {}
        self._writable: dict[int, tuple[int, str]] = {}  # register address → (model id, point name)
        self._server: ModbusTcpServer | None = None
        self._stopping = asyncio.Event()

    async def __aenter__(self) -> Self:
        image = self._image()
        registers = SimData(self.base, values=image, datatype=DataType.REGISTERS)
        # Device id 0 answers every unit id.
        self._server = ModbusTcpServer(
            SimDevice(0, simdata=[registers], action=self._on_request), address=("127.0.0.1", 0)
        )
        await self._server.serve_forever(background=True)
        self.port = self._server.transport.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stopping.set()
        assert self._server is not None
        await self._server.shutdown()

    # -- requests ----------------------------------------------------------------------------------

    async def _on_request(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if self.delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.delay_s)
        if self.drop:
            assert self._server is not None
            for connection in list(self._server.active_connections.values()):
                connection.close()
            return ExcCodes.DEVICE_FAILURE  # never sent: the connection is gone
        if values is None:
            image = self._image()
            registers[: len(image)] = image
            return None
        return self._write(address, [int(v) for v in values], registers, start_address)

    def _write(self, address: int, values: list[int], registers: list[int], start_address: int) -> ExcCodes | None:
        targets = [self._writable.get(address + i) for i in range(len(values))]
        if None in targets:
            return ExcCodes.ILLEGAL_ADDRESS
        self.writes.append((address, values))
        after = list(registers)
        after[address - start_address : address - start_address + len(values)] = values
        points = {
            model_id: self._decode(model_id, after, start_address)
            for model_id in _MODE_POINTS
            if model_id in self.locations
        }
        for model_id, names in _SETTING_POINTS.items():
            if model_id in points:
                raw = points[model_id]["raw"]
                self._settings.update({(model_id, name): raw[name] for name in names if raw[name] is not None})
        # The registers written now are rewritten from the home on the next read, like a device's read-back.
        self.home.apply(self._command({m: p["computed"] for m, p in points.items()}), self.clock.now())
        return None

    def _decode(self, model_id: int, registers: list[int], start_address: int) -> dict[str, dict[str, Any]]:
        offset = self.locations[model_id] - start_address
        length = registers[offset + 1] + 2
        data = struct.pack(f">{length}H", *registers[offset : offset + length])
        model = device.Model(model_id, model_len=length - 2, data=data)
        return {"raw": model.get_dict(), "computed": model.get_dict(computed=True)}

    def _command(self, points: dict[int, dict[str, Any]]) -> Command:
        """What this device does with its control registers: the battery's charge/discharge window first,
        then the power limit, else its own self-consumption logic."""
        if (storage := points.get(124)) and (command := self._battery_command(storage)):
            return command
        limit = self._limit(points)
        if limit is not None:
            return Command(ControlMode.CURTAIL, limit_w=limit[0], revert_after=limit[1])
        return Command(ControlMode.SELF_CONSUMPTION)

    def _battery_command(self, storage: dict[str, Any]) -> Command | None:
        full_w = self.home.parameters.battery.max_charge_w
        bits = storage["StorCtl_Mod"] or 0
        # Allowed battery power (discharge positive) lies in [lowest, highest].
        lowest = -storage["InWRte"] * full_w / 100 if bits & _CHARGE_LIMIT else None
        highest = storage["OutWRte"] * full_w / 100 if bits & _DISCHARGE_LIMIT else None
        revert = _seconds(storage["InOutWRte_RvrtTms"])
        if lowest == highest == 0:
            return Command(ControlMode.HOLD, revert_after=revert)
        if highest is not None and highest < 0:
            return Command(ControlMode.CHARGE, power_w=-highest, revert_after=revert)
        if lowest is not None and lowest > 0:
            return Command(ControlMode.DISCHARGE, power_w=lowest, revert_after=revert)
        return None

    def _limit(self, points: dict[int, dict[str, Any]]) -> tuple[float, timedelta | None] | None:
        rating_w = self.home.parameters.inverter_ac_limit_w
        if (controls := points.get(123)) and controls["WMaxLim_Ena"] == 1:
            return controls["WMaxLimPct"] * rating_w / 100, _seconds(controls["WMaxLimPct_RvrtTms"])
        if (controls := points.get(704)) and controls["WMaxLimPctEna"] == 1:
            return controls["WMaxLimPct"] * rating_w / 100, _seconds(controls["WMaxLimPctRvrtTms"])
        return None

    # -- the register image -----------------------------------------------------------------------

    def _image(self) -> list[int]:
        now = self.clock.now()
        state = self.home.advance_to(now)
        control = self.home.control(now)
        registers = list(SUNS_MARKER if self.marker else (0, 0))
        for model_id in self.models:
            address = self.base + len(registers)
            values = self._values(model_id, state, control)
            for unimplemented_in, name in self.unimplemented:
                if unimplemented_in == model_id:
                    _unimplement(values, name)
            model = device.Model(model_id, data=values)
            assert not model.error_info, model.error_info
            data = model.get_mb()
            registers += struct.unpack(f">{len(data) // 2}H", data)
            if model_id not in self.locations:
                self.locations[model_id] = address
                self._writable.update(_writable_registers(model, address))
        return [*registers, *END_MARKER]

    def _values(self, model_id: int, state: HomeState, control: ControlState) -> dict[str, Any]:
        """Raw point values (scale factors applied by hand, as a device firmware would) for one model."""
        parameters = self.home.parameters
        battery = parameters.battery
        ac_w = state.solar_w + state.battery_w  # a hybrid inverter's AC output carries the battery too
        energy_wh = ENERGY_BEFORE_WH + state.solar_energy_wh
        rating_w = parameters.inverter_ac_limit_w
        setting = self._settings.get
        match model_id:
            case 1:
                return {"Mn": "solarfleet", "Md": "simulated home", "Vr": "1.0.0", "SN": f"SIM-{parameters.seed}"}
            case 101 | 102 | 103:
                return {"W": round(ac_w / 10), "W_SF": 1, "WH": round(energy_wh), "WH_SF": 0, "Hz": 5000, "Hz_SF": -2}
            case 111 | 112 | 113:
                return {"W": ac_w, "WH": energy_wh, "Hz": 50.0}
            case 701:
                return {"W": round(ac_w / 10), "W_SF": 1, "TotWhInj": round(energy_wh), "TotWh_SF": 0}
            case 120:
                values = {"DERTyp": 82 if battery else 4, "WRtg": round(rating_w), "WRtg_SF": 0}
                if battery:
                    values |= {"WHRtg": round(battery.capacity_kwh * 100), "WHRtg_SF": 1}
                    values |= {"MaxChaRte": round(battery.max_charge_w), "MaxChaRte_SF": 0}
                    values |= {"MaxDisChaRte": round(battery.max_discharge_w), "MaxDisChaRte_SF": 0}
                return values
            case 702:
                return {"WMaxRtg": round(rating_w), "WMax": round(rating_w), "W_SF": 0}
            case 123:
                limited = control.mode is ControlMode.CURTAIL
                return {
                    "Conn": 1,
                    "WMaxLimPct": round(100 * 100 * control.limit_w / rating_w) if limited else 10000,
                    "WMaxLimPct_SF": -2,
                    "WMaxLim_Ena": int(limited),
                    "WMaxLimPct_RvrtTms": setting((123, "WMaxLimPct_RvrtTms"), 0),
                }
            case 704:
                limited = control.mode is ControlMode.CURTAIL
                remaining = (control.reverts_at - self.clock.now()).total_seconds() if control.reverts_at else 0
                return {
                    "WMaxLimPctEna": int(limited),
                    "WMaxLimPct": round(100 * 100 * control.limit_w / rating_w) if limited else 10000,
                    "WMaxLimPct_SF": -2,
                    "WMaxLimPctRvrtTms": setting((704, "WMaxLimPctRvrtTms"), 0),
                    "WMaxLimPctRvrtRem": max(0, round(remaining)),
                }
            case 124:
                bits, in_rate, out_rate = self._storage_registers(control)
                return {
                    "WChaMax": round(battery.max_charge_w),
                    "WChaMax_SF": 0,
                    "StorCtl_Mod": bits,
                    "MinRsvPct": round(battery.reserve_percent * 10),
                    "MinRsvPct_SF": -1,
                    "ChaState": round(state.soc_percent * 10),
                    "ChaState_SF": -1,
                    "ChaSt": 4 if state.battery_w < 0 else 3 if state.battery_w > 0 else 6,
                    "OutWRte": out_rate,
                    "InWRte": in_rate,
                    "InOutWRte_SF": -2,
                    "InOutWRte_RvrtTms": setting((124, "InOutWRte_RvrtTms"), 0),
                    "ChaGriSet": setting((124, "ChaGriSet"), 0),
                }
            case 160:
                modules = [
                    {
                        "ID": i,
                        "IDStr": label,
                        "DCW": round(state.solar_w * share * 10),
                        "DCWH": round(energy_wh * share),
                    }
                    for i, (label, share) in enumerate(PV_STRINGS, start=1)
                ]
                if battery:  # a hybrid lists its battery port as two more modules, as Fronius does
                    modules.append({"ID": 3, "IDStr": "StCha 3", "DCW": round(max(-state.battery_w, 0.0) * 10)})
                    modules.append({"ID": 4, "IDStr": "StDisCha 4", "DCW": round(max(state.battery_w, 0.0) * 10)})
                return {"DCW_SF": -1, "DCWH_SF": 0, "N": len(modules), "module": modules}
            case 201 | 202 | 203 | 204:
                return {"W": round(-state.grid_w), "W_SF": 0, "Hz": 5000, "Hz_SF": -2}
            case 713:
                return {
                    "WHRtg": round(battery.capacity_kwh * 100),
                    "WH_SF": 1,
                    "SoC": round(state.soc_percent * 10),
                    "Pct_SF": -1,
                }
            case 802:
                return {
                    "WHRtg": round(battery.capacity_kwh * 100),
                    "WHRtg_SF": 1,
                    "WChaRteMax": round(battery.max_charge_w),
                    "WDisChaRteMax": round(battery.max_discharge_w),
                    "WChaDisChaMax_SF": 0,
                    "SoCRsvMin": round(battery.reserve_percent * 10),
                    "SoC": round(state.soc_percent * 10),
                    "SoC_SF": -1,
                    "W": round(state.battery_w),
                    "W_SF": 0,
                    "LocRemCtl": 0,
                }
        raise ValueError(f"the stand-in has no values for model {model_id}")

    def _storage_registers(self, control: ControlState) -> tuple[int, int, int]:
        """StorCtl_Mod, InWRte and OutWRte (0.01 % of WChaMax) for what the home has in force."""
        percent = round(100 * 100 * (control.power_w or 0.0) / self.home.parameters.battery.max_charge_w)
        both = _CHARGE_LIMIT | _DISCHARGE_LIMIT
        match control.mode:
            case ControlMode.CHARGE:
                return both, percent, -percent
            case ControlMode.DISCHARGE:
                return both, -percent, percent
            case ControlMode.HOLD:
                return both, 0, 0
        return 0, 10000, 10000


def _unimplement(values: dict[str, Any], name: str) -> None:
    values[name] = None
    for group in values.values():
        if isinstance(group, list):
            for instance in group:
                instance[name] = None


def _writable_registers(model: device.Model, address: int) -> dict[int, tuple[int, str]]:
    names = _MODE_POINTS.get(model.model_id, set()) | _SETTING_POINTS.get(model.model_id, set())
    return {
        address + point.offset + i: (model.model_id, name)
        for name, point in model.points.items()
        if name in names
        for i in range(point.len)
    }


def _seconds(value: int | None) -> timedelta | None:
    return timedelta(seconds=value) if value else None
