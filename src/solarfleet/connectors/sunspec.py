"""SunSpec over Modbus TCP: discovery of the model chain, decoding with pysunspec2's model definitions, controls.

Sign conventions of the SunSpec models and how they become solarfleet's:

- Meters 201–204: `W` is positive when the site imports (the meter's orientation is the grid connection:
  power delivered from the grid is positive), so `power_to_grid_w = -W`.
- Battery 802: `W` follows the DER generator convention that model 701 states outright ("positive for DER
  generation, negative for absorption"): positive while discharging, so it is taken as it is.
- Inverters 101–103/111–113/701: `W` is the AC output, positive when delivering; a hybrid inverter's AC output
  includes the battery, so PV = AC − battery when no MPPT model (160) gives the DC power of the PV inputs.

Battery control through model 124 (Basic Storage Controls) uses the window the storage model defines:
`StorCtl_Mod` bit 0 (CHARGE) activates `InWRte`, the maximum charge rate, bit 1 (DiSCHARGE) activates
`OutWRte`, the maximum discharge rate, both in percent of `WChaMax` (as Fronius documents for its hybrid
inverters). A negative rate turns a maximum into a minimum of the opposite direction, so:

- charge at P:        StorCtl_Mod=3, InWRte=+P%, OutWRte=−P%  (the battery may only charge at exactly P)
- discharge at P:     StorCtl_Mod=3, OutWRte=+P%, InWRte=−P%
- hold:               StorCtl_Mod=3, InWRte=0, OutWRte=0
- self-consumption:   StorCtl_Mod=0 (rates back to 100 %)

`InOutWRte_RvrtTms` (seconds, 0 = never) makes the device fall back to its own logic; charging also sets
`ChaGriSet` to GRID where the device has it. Curtailment writes `WMaxLimPct` (percent of `WMax`, model 121,
or of `WRtg`, model 120) with `WMaxLim_Ena` in model 123, or `WMaxLimPct` with `WMaxLimPctEna` in model
704. SunSpec has no standard point that limits export at the grid connection, so `pause` is unsupported.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import re
import struct
from collections import ChainMap
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from importlib import resources
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU
from sunspec2 import mb, mdef

from solarfleet.connectors.base import (
    DEFAULT_IO_TIMEOUT_S,
    BatteryNameplate,
    Capabilities,
    Command,
    Connector,
    ConnectorError,
    ControlMode,
    ControlState,
    DeviceUnreachable,
    MalformedData,
    Quantity,
    Reading,
    Unsupported,
    attribute_of,
    within,
)
from solarfleet.connectors.registry import ConnectorContext, ConnectorKind

SUNS_MARKER = (0x5375, 0x6E53)  # "SunS"
BASE_ADDRESSES = (40000, 0, 50000)  # the base addresses SunSpec allows, the most common first
END_MODEL_ID = mdef.END_MODEL_ID
MAX_REGISTERS_PER_READ = 125  # Modbus limit for one "read holding registers" request
_MAX_MODELS = 200  # a chain longer than this is a device answering garbage, not a real map

COMMON = 1
INVERTER_MODELS = (101, 102, 103, 111, 112, 113, 701)
NAMEPLATE = 120
SETTINGS = 121
IMMEDIATE_CONTROLS = 123
STORAGE = 124
MPPT = 160
METER_MODELS = (201, 202, 203, 204)
DER_CAPACITY = 702
DER_AC_CONTROLS = 704
DER_STORAGE_CAPACITY = 713
BATTERY = 802
BATTERY_MODELS = (STORAGE, DER_STORAGE_CAPACITY, BATTERY)
SUPPORTED_MODELS = frozenset(
    {COMMON, *INVERTER_MODELS, NAMEPLATE, SETTINGS, IMMEDIATE_CONTROLS, STORAGE, MPPT, *METER_MODELS}
    | {DER_CAPACITY, DER_AC_CONTROLS, DER_STORAGE_CAPACITY, BATTERY}
)

# StorCtl_Mod bits (model 124): each one activates one of the two rate limits.
CHARGE_LIMIT = 1 << 0
DISCHARGE_LIMIT = 1 << 1
CHA_GRI_SET_GRID = 1  # ChaGriSet: the battery may charge from the grid
ENABLED = 1  # WMaxLim_Ena / WMaxLimPctEna

_FLOAT_TYPES = frozenset({mdef.TYPE_FLOAT32, mdef.TYPE_FLOAT64})

Points = dict[str, Any]
T = TypeVar("T")


# -- model definitions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PointDef:
    name: str
    type: str
    size: int  # registers
    sf: str | int | None  # name of the sunssf point that scales this one, or a fixed exponent
    writable: bool


@dataclass(frozen=True, slots=True)
class GroupDef:
    name: str
    points: tuple[PointDef, ...]
    groups: tuple[GroupDef, ...]
    # None: the group appears once; a point name: that point counts the instances;
    # 0: the instances fill the rest of the model (how SunSpec defines model 160's modules).
    count: str | int | None

    @property
    def length(self) -> int:
        """Registers of one instance, without repeating subgroups."""
        return sum(p.size for p in self.points) + sum(g.length for g in self.groups if g.count is None)


def _point_def(definition: Mapping[str, Any]) -> PointDef:
    point_type = definition[mdef.TYPE]
    if point_type not in mb.point_type_info:
        raise mdef.ModelDefinitionError(f"point {definition[mdef.NAME]} has unknown type {point_type}")
    sf = definition.get(mdef.SF)
    if isinstance(sf, str) and sf.lstrip("-").isdigit():
        sf = int(sf)
    return PointDef(
        name=definition[mdef.NAME],
        type=point_type,
        size=int(definition.get(mdef.SIZE) or mdef.point_type_info[point_type]["len"]),
        sf=sf,
        writable=definition.get(mdef.ACCESS) == mdef.ACCESS_RW,
    )


def _group_def(definition: Mapping[str, Any]) -> GroupDef:
    count = definition.get(mdef.COUNT)
    if isinstance(count, str) and count.isdigit():
        count = int(count)
    return GroupDef(
        name=definition[mdef.NAME],
        points=tuple(_point_def(p) for p in definition.get(mdef.POINTS, [])),
        groups=tuple(_group_def(g) for g in definition.get(mdef.GROUPS, [])),
        count=count,
    )


@lru_cache(maxsize=64)
def model_definition(model_id: int) -> GroupDef:
    """The layout of one model, from the JSON definition pysunspec2 ships (never from hand-copied offsets)."""
    source = resources.files("sunspec2") / "models" / "json" / mdef.to_json_filename(model_id)
    with resources.as_file(source) as path:
        definition = mdef.from_json_file(str(path))
    return _group_def(definition[mdef.GROUP])


def top_level_point(model_id: int, name: str) -> tuple[int, PointDef]:
    """Offset (from the model's ID register) and definition of a point outside any group."""
    offset = 0
    for point in model_definition(model_id).points:
        if point.name == name:
            return offset, point
        offset += point.size
    raise KeyError(f"model {model_id} has no point {name}")


# -- the pure codec ----------------------------------------------------------------------------------


def decode_value(point_type: str, registers: Sequence[int]) -> int | float | str | None:
    """One point's raw value (no scale factor applied); None where SunSpec says "not implemented"."""
    data = struct.pack(f">{len(registers)}H", *registers)
    if point_type == mdef.TYPE_STRING:
        # NUL-terminated or NUL-padded; a leading NUL means not implemented. Devices do send non-UTF-8 bytes.
        text = data.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()
        return text or None
    info = mb.point_type_info[point_type]
    value = info.data_to(data)
    if point_type in _FLOAT_TYPES:
        # data_to already gives None for any NaN, the floats' sentinel; is_impl would also reject the number
        # equal to the sentinel's bit pattern (2143289344.0), which is a valid reading.
        return value
    return value if info.is_impl(value) else None


def encode_value(point_type: str, value: int | float | str | None, size: int) -> list[int]:
    """Registers for one raw value; None gives the type's "not implemented" sentinel."""
    if value is None:
        data = mb.create_unimpl_value(point_type, len=size * 2)
    else:
        info = mb.point_type_info[point_type]
        if point_type != mdef.TYPE_STRING and not info.is_impl(value):
            raise ValueError(f"{value!r} is the {point_type} value that means not implemented")
        try:
            data = info.to_data(value, size * 2)
        except struct.error as exc:
            raise ValueError(f"{value!r} does not fit a {point_type}") from exc
    if len(data) != size * 2:
        raise ValueError(f"{value!r} does not fit {size} registers of {point_type}")
    return list(struct.unpack(f">{size}H", data))


def scaled(raw: int | float, exponent: int) -> int | float:
    """raw × 10^exponent, rounded to the digits the exponent leaves (1234 × 10⁻¹ is 123.4, not 123.40000000000001)."""
    if exponent >= 0:
        return raw * 10**exponent
    return round(raw * 10.0**exponent, -exponent)


def unscaled(value: float, exponent: int) -> int:
    """The raw integer that `scaled` turns into `value` (to the resolution the exponent allows)."""
    return round(value / 10.0**exponent)


def decode_model(model_id: int, registers: Sequence[int]) -> Points:
    """Decode one model block, from its ID register to the end of its body, into scaled point values.

    Pure: registers in, points out. Points the device marks as not implemented, points whose scale factor is not
    implemented and points beyond the length the device announced (older model versions) are None; pad points
    are left out; repeating groups become lists of dicts, other groups nested dicts.
    """
    if len(registers) < 2 or registers[0] != model_id:
        raise MalformedData(f"model {model_id}: the block starts with {list(registers[:2])}, not with its id")
    end = registers[1] + 2
    if len(registers) < end:
        raise MalformedData(f"model {model_id}: {len(registers) - 2} registers for an announced length of {end - 2}")
    values, _ = _decode_group(model_id, model_definition(model_id), registers, 0, end, ChainMap())
    return values


def _decode_group(
    model_id: int, group: GroupDef, registers: Sequence[int], start: int, end: int, outer: ChainMap[str, Any]
) -> tuple[Points, int]:
    raw: dict[str, Any] = {}
    position = start
    for point in group.points:
        stop = position + point.size
        raw[point.name] = decode_value(point.type, registers[position:stop]) if stop <= end else None
        position = stop
    # Scale factors live in the group itself or in an enclosing one (model 160's modules use the model's DCW_SF).
    scope = outer.new_child(raw)
    values = {p.name: _scale(model_id, p, raw[p.name], scope) for p in group.points if p.type != mdef.TYPE_PAD}
    for subgroup in group.groups:
        if subgroup.count is None:
            values[subgroup.name], position = _decode_group(model_id, subgroup, registers, position, end, scope)
            continue
        instances = []
        for _ in range(_instances(model_id, subgroup, scope, end - position)):
            instance, position = _decode_group(model_id, subgroup, registers, position, end, scope)
            instances.append(instance)
        values[subgroup.name] = instances
    return values, position


def _instances(model_id: int, group: GroupDef, scope: Mapping[str, Any], remaining: int) -> int:
    if isinstance(group.count, str):
        count = scope.get(group.count) or 0
        if count * group.length > remaining:
            raise MalformedData(f"model {model_id}: {count} {group.name} groups do not fit the model length")
        return count
    if group.count:
        return group.count
    count, rest = divmod(max(remaining, 0), group.length)
    if rest:
        raise MalformedData(
            f"model {model_id}: {remaining} registers are not a whole number of {group.name} groups of {group.length}"
        )
    return count


def _scale(model_id: int, point: PointDef, raw: Any, scope: Mapping[str, Any]) -> Any:
    if raw is None or point.sf is None:
        return raw
    exponent = point.sf if isinstance(point.sf, int) else scope.get(point.sf)
    if exponent is None:
        return None  # SunSpec: a point whose scale factor is not implemented is not implemented either
    if not -10 <= exponent <= 10:
        raise MalformedData(f"model {model_id}: scale factor {point.sf} of {point.name} is {exponent}, not in −10…10")
    return scaled(raw, exponent)


def _encode_writes(model_id: int, values: Iterable[tuple[str, float]], current: Points) -> list[tuple[int, list[int]]]:
    """(offset, registers) per write request, in the given order; points that follow each other merge into one."""
    runs: list[tuple[int, list[int]]] = []
    for name, value in values:
        offset, point = top_level_point(model_id, name)
        if not point.writable:
            raise ValueError(f"{name} is read-only")
        raw: float = value
        if point.sf is not None:
            raw = unscaled(value, point.sf if isinstance(point.sf, int) else current[point.sf])
        registers = encode_value(point.type, raw, point.size)
        if runs and runs[-1][0] + len(runs[-1][1]) == offset:
            runs[-1][1].extend(registers)
        else:
            runs.append((offset, registers))
    return runs


# -- from decoded models to solarfleet's values ------------------------------------------------------


def _first(models: Mapping[int, Points], model_ids: Iterable[int]) -> Points | None:
    return next((models[m] for m in model_ids if m in models), None)


def _point(models: Mapping[int, Points], model_id: int, name: str) -> Any:
    return models.get(model_id, {}).get(name)


def _first_value(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _first_float(*values: Any) -> float | None:
    value = _first_value(*values)
    return None if value is None else float(value)


def _is_storage_port(module: Points) -> bool:
    # Hybrid inverters list their battery among the MPPT modules ("StCha 3", "StDisCha 4" on Fronius).
    label = (module.get("IDStr") or "").lower()
    return label.startswith(("stcha", "stdischa"))


def _pv_power(mppt: Points | None) -> float | None:
    if mppt is None:
        return None
    powers = [m["DCW"] for m in mppt.get("module", []) if m["DCW"] is not None and not _is_storage_port(m)]
    return float(sum(powers)) if powers else None


def reading_from_models(models: Mapping[int, Points], time: datetime) -> Reading:
    """A reading in solarfleet's signs from the decoded models (pure; see the module docstring for the signs)."""
    values: dict[str, float] = {}
    reported: set[Quantity] = set()

    def give(quantity: Quantity, value: float | None, *, device_gave: bool = True) -> None:
        if value is not None:
            values[attribute_of(quantity)] = float(value)
            if device_gave:
                reported.add(quantity)

    battery_w = _point(models, BATTERY, "W")
    give(Quantity.BATTERY_POWER_W, battery_w)
    give(
        Quantity.BATTERY_SOC_PERCENT,
        _first_value(
            _point(models, BATTERY, "SoC"),
            _point(models, DER_STORAGE_CAPACITY, "SoC"),
            _point(models, STORAGE, "ChaState"),
        ),
    )
    meter = _first(models, METER_MODELS)
    if meter is not None and meter["W"] is not None:
        give(Quantity.POWER_TO_GRID_W, -meter["W"])  # the meter counts import as positive
    inverter = _first(models, INVERTER_MODELS) or {}
    pv_w = _pv_power(models.get(MPPT))
    ac_w = inverter.get("W")
    if pv_w is not None:
        give(Quantity.SOLAR_PRODUCTION_W, pv_w)
    elif ac_w is not None and not any(m in models for m in BATTERY_MODELS):
        give(Quantity.SOLAR_PRODUCTION_W, max(ac_w, 0.0))  # a PV-only inverter draws a little at night
    elif ac_w is not None and battery_w is not None:
        give(Quantity.SOLAR_PRODUCTION_W, max(ac_w - battery_w, 0.0), device_gave=False)
    give(Quantity.SOLAR_ENERGY_WH, _first_value(inverter.get("WH"), inverter.get("TotWhInj")))
    return Reading(time=time, reported=frozenset(reported), **values)


@dataclass(frozen=True, slots=True)
class _Curtailment:
    model_id: int
    points: Points
    reference_w: float  # what WMaxLimPct is a percentage of
    enable: str
    revert: str


def _storage_controls(models: Mapping[int, Points]) -> Points | None:
    storage = models.get(STORAGE)
    if storage is None or not storage.get("WChaMax"):
        return None
    if any(storage.get(name) is None for name in ("StorCtl_Mod", "InWRte", "OutWRte")):
        return None
    return storage


def _curtailment(models: Mapping[int, Points]) -> _Curtailment | None:
    rating_w = _point(models, NAMEPLATE, "WRtg")
    controls = models.get(IMMEDIATE_CONTROLS)
    if controls and controls.get("WMaxLimPct") is not None and controls.get("WMaxLim_Ena") is not None:
        reference = _first_value(_point(models, SETTINGS, "WMax"), rating_w)  # 123 limits in % of WMax
        if reference:
            return _Curtailment(IMMEDIATE_CONTROLS, controls, reference, "WMaxLim_Ena", "WMaxLimPct_RvrtTms")
    controls = models.get(DER_AC_CONTROLS)
    if controls and controls.get("WMaxLimPct") is not None and controls.get("WMaxLimPctEna") is not None:
        reference = _first_value(
            _point(models, DER_CAPACITY, "WMax"), _point(models, DER_CAPACITY, "WMaxRtg"), rating_w
        )
        if reference:
            return _Curtailment(DER_AC_CONTROLS, controls, reference, "WMaxLimPctEna", "WMaxLimPctRvrtTms")
    return None


def capabilities_from_models(models: Mapping[int, Points], time: datetime) -> Capabilities:
    """What the device reads and accepts, judged from the models it has and the points they implement (pure)."""
    reading = reading_from_models(models, time)
    controls: set[ControlMode] = set()
    if _storage_controls(models) is not None:
        controls |= {ControlMode.SELF_CONSUMPTION, ControlMode.HOLD, ControlMode.CHARGE, ControlMode.DISCHARGE}
    if _curtailment(models) is not None:
        controls |= {ControlMode.SELF_CONSUMPTION, ControlMode.CURTAIL}
    battery = None
    if any(m in models for m in BATTERY_MODELS):
        battery = BatteryNameplate(
            capacity_wh=_first_float(
                _point(models, BATTERY, "WHRtg"),
                _point(models, DER_STORAGE_CAPACITY, "WHRtg"),
                _point(models, NAMEPLATE, "WHRtg"),
            ),
            max_charge_w=_first_float(
                _point(models, BATTERY, "WChaRteMax"),
                _point(models, NAMEPLATE, "MaxChaRte"),
                _point(models, DER_CAPACITY, "WChaRteMaxRtg"),
                _point(models, STORAGE, "WChaMax"),
            ),
            max_discharge_w=_first_float(
                _point(models, BATTERY, "WDisChaRteMax"),
                _point(models, NAMEPLATE, "MaxDisChaRte"),
                _point(models, DER_CAPACITY, "WDisChaRteMaxRtg"),
            ),
            reserve_percent=_first_float(_point(models, STORAGE, "MinRsvPct"), _point(models, BATTERY, "SoCRsvMin")),
        )
    common = models.get(COMMON, {})
    identity = {
        key: str(common[point])
        for key, point in (("manufacturer", "Mn"), ("model", "Md"), ("serial", "SN"), ("version", "Vr"))
        if common.get(point) is not None
    }
    return Capabilities(
        reads=frozenset(q for q in Quantity if reading.value(q) is not None),
        controls=frozenset(controls),
        ac_limit_w=_first_float(_point(models, NAMEPLATE, "WRtg"), _point(models, DER_CAPACITY, "WMaxRtg")),
        battery=battery,
        identity=identity,
    )


_BATTERY_MODES = (ControlMode.CHARGE, ControlMode.DISCHARGE, ControlMode.HOLD)


def control_writes(command: Command, models: Mapping[int, Points]) -> list[tuple[int, list[tuple[str, float]]]]:
    """The points to write, per model and in order, for a command; raises `Unsupported` for what the device lacks.

    Only one control is in force at a time (as `ControlState` has one mode): the one a command does not use
    is switched off first. Rate and timeout points are written before the switch that activates them.
    """
    mode = command.mode
    storage = _storage_controls(models)
    curtailment = _curtailment(models)
    if mode is ControlMode.PAUSE:
        raise Unsupported("SunSpec has no standard export limit at the grid connection, so the device cannot pause")
    if mode in _BATTERY_MODES and storage is None:
        raise Unsupported(f"cannot {mode}: the device has no writable storage controls (SunSpec model 124)")
    if mode is ControlMode.CURTAIL and curtailment is None:
        raise Unsupported("cannot curtail: the device has no power limit (SunSpec model 123 or 704) and rating")
    if storage is None and curtailment is None:
        raise Unsupported("the device has no SunSpec controls (models 123, 124 or 704)")
    revert_s = 0 if command.revert_after is None else max(1, math.ceil(command.revert_after.total_seconds()))
    writes: list[tuple[int, list[tuple[str, float]]]] = []
    if curtailment is not None and mode is not ControlMode.CURTAIL:
        writes.append((curtailment.model_id, [(curtailment.enable, 0)]))
    if storage is not None:
        writes.append((STORAGE, _storage_writes(command, storage, revert_s)))
    if curtailment is not None and mode is ControlMode.CURTAIL:
        percent = min(100.0, 100.0 * command.limit_w / curtailment.reference_w)
        points = [("WMaxLimPct", percent)]
        if curtailment.points.get(curtailment.revert) is not None:
            points.append((curtailment.revert, revert_s))
        writes.append((curtailment.model_id, [*points, (curtailment.enable, ENABLED)]))
    return writes


def _storage_writes(command: Command, storage: Points, revert_s: int) -> list[tuple[str, float]]:
    if command.mode not in _BATTERY_MODES:
        return [("OutWRte", 100.0), ("InWRte", 100.0), ("StorCtl_Mod", 0)]
    percent = 0.0 if command.mode is ControlMode.HOLD else 100.0 * command.power_w / storage["WChaMax"]
    # The window [−InWRte, +OutWRte] (discharge positive) shrinks to the one power the command asks for.
    in_rate, out_rate = {
        ControlMode.CHARGE: (percent, -percent),
        ControlMode.DISCHARGE: (-percent, percent),
        ControlMode.HOLD: (0.0, 0.0),
    }[command.mode]
    points = [("OutWRte", out_rate), ("InWRte", in_rate)]
    if storage.get("InOutWRte_RvrtTms") is not None:
        points.append(("InOutWRte_RvrtTms", revert_s))
    if command.mode is ControlMode.CHARGE and storage.get("ChaGriSet") is not None:
        points.append(("ChaGriSet", CHA_GRI_SET_GRID))
    return [*points, ("StorCtl_Mod", CHARGE_LIMIT | DISCHARGE_LIMIT)]


def _storage_mode(storage: Points) -> tuple[ControlMode, float | None]:
    bits, full_w = storage["StorCtl_Mod"], storage["WChaMax"]
    most_in = storage["InWRte"] * full_w / 100 if bits & CHARGE_LIMIT else None
    most_out = storage["OutWRte"] * full_w / 100 if bits & DISCHARGE_LIMIT else None
    if most_out is not None and most_out < 0:
        return ControlMode.CHARGE, -most_out
    if most_in is not None and most_in < 0:
        return ControlMode.DISCHARGE, -most_in
    if most_in == 0 and most_out == 0:
        return ControlMode.HOLD, None
    # No limit, or limits that leave the device's own logic some room: solarfleet has no mode for the latter.
    return ControlMode.SELF_CONSUMPTION, None


def control_state(
    models: Mapping[int, Points], now: datetime, commanded: tuple[ControlMode, datetime] | None = None
) -> ControlState:
    """The control the registers say is in force (pure).

    Models 123 and 124 give a revert timeout but not when it started; the revert time is then estimated from
    `commanded` (the mode this connector last set, and when), if the device still has that mode in force.
    Model 704 reports the remaining time itself.
    """
    storage = _storage_controls(models)
    if storage is not None:
        mode, power_w = _storage_mode(storage)
        if mode is not ControlMode.SELF_CONSUMPTION:
            reverts_at = _estimated_revert(mode, storage.get("InOutWRte_RvrtTms"), now, commanded)
            return ControlState(mode, power_w=power_w, reverts_at=reverts_at)
    curtailment = _curtailment(models)
    if curtailment is not None and curtailment.points[curtailment.enable] == ENABLED:
        limit_w = curtailment.points["WMaxLimPct"] * curtailment.reference_w / 100
        if curtailment.model_id == DER_AC_CONTROLS:
            remaining = curtailment.points.get("WMaxLimPctRvrtRem")
            reverts_at = now + timedelta(seconds=remaining) if remaining else None
        else:
            reverts_at = _estimated_revert(
                ControlMode.CURTAIL, curtailment.points.get(curtailment.revert), now, commanded
            )
        return ControlState(ControlMode.CURTAIL, limit_w=limit_w, reverts_at=reverts_at)
    return ControlState(ControlMode.SELF_CONSUMPTION)


def _estimated_revert(
    mode: ControlMode, timeout_s: int | None, now: datetime, commanded: tuple[ControlMode, datetime] | None
) -> datetime | None:
    if not timeout_s or commanded is None or commanded[0] is not mode:
        return None
    reverts_at = commanded[1] + timedelta(seconds=timeout_s)
    return reverts_at if reverts_at > now else None


# -- the connection ----------------------------------------------------------------------------------

_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?", re.IGNORECASE)


class SunSpecSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(description="IP address or host name of the inverter, or of its Modbus TCP gateway")
    port: int = Field(default=502, ge=1, le=65535)
    unit_id: int = Field(default=1, ge=0, le=247, description="Modbus unit id of the SunSpec device")

    @field_validator("host")
    @classmethod
    def _ip_or_host_name(cls, value: str) -> str:
        value = value.strip()
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            pass
        if ":" in value or "/" in value:
            raise ValueError("give an IP address or a host name; the port has its own field")
        labels = value.rstrip(".").split(".")
        if len(value) > 253 or not _HOST_NAME.fullmatch(value) or all(label.isdigit() for label in labels):
            raise ValueError(f"{value!r} is neither an IP address nor a host name")
        return value.lower()


@dataclass(frozen=True, slots=True)
class ModelLocation:
    model_id: int
    address: int  # of the model's ID register
    length: int  # registers after ID and L


@dataclass(frozen=True, slots=True)
class SunSpecMap:
    """Where the device's models are, as found by walking the chain from the SunS marker."""

    base: int
    models: tuple[ModelLocation, ...]

    def find(self, model_id: int) -> ModelLocation | None:
        """The first instance of a model (a device may have several, e.g. meters)."""
        return next((m for m in self.models if m.model_id == model_id), None)


class _Refused(ConnectorError):
    """The device answered a request with a Modbus exception; callers decide what that means."""

    def __init__(self, what: str, code: int) -> None:
        super().__init__(f"{what}: the device answered with Modbus exception {code}")


class SunSpecConnector(Connector):
    """One SunSpec device over Modbus TCP. The connection and the discovered map are kept across calls;
    after a failure both are dropped, and the next call connects and discovers again."""

    def __init__(
        self,
        settings: SunSpecSettings,
        io_timeout_s: float = DEFAULT_IO_TIMEOUT_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._timeout = io_timeout_s
        self._now = clock  # the worker's clock: real time in service, simulated time in tests and demos
        self._client: AsyncModbusTcpClient | None = None
        self._dropped = asyncio.Event()
        self._map: SunSpecMap | None = None
        self._commanded: tuple[ControlMode, datetime] | None = None
        self._lock = asyncio.Lock()  # one Modbus conversation at a time: discovery and writes come in sequences

    @property
    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port} (unit {self.settings.unit_id})"

    async def discover(self) -> SunSpecMap:
        async with self._lock:
            return await self._sunspec_map()

    async def read_state(self) -> Reading:
        async with self._lock:
            models = await self._read_models((*INVERTER_MODELS, MPPT, *METER_MODELS, *BATTERY_MODELS))
        return reading_from_models(models, self._now())  # Modbus has no device time: the read's end

    async def capabilities(self) -> Capabilities:
        async with self._lock:
            models = await self._read_models(sorted(SUPPORTED_MODELS))
        return capabilities_from_models(models, self._now())

    async def apply(self, command: Command) -> None:
        async with self._lock:
            models = await self._read_models(_CONTROL_MODELS)
            for model_id, points in control_writes(command, models):
                await self._write(model_id, points, models[model_id])
            self._commanded = (command.mode, self._now())

    async def read_control(self) -> ControlState:
        async with self._lock:
            models = await self._read_models(_CONTROL_MODELS)
        return control_state(models, self._now(), self._commanded)

    async def close(self) -> None:
        self._disconnect()

    # -- discovery and models ---------------------------------------------------------------------

    async def _sunspec_map(self) -> SunSpecMap:
        if self._map is None:
            self._map = await self._discover()
        return self._map

    async def _discover(self) -> SunSpecMap:
        for base in BASE_ADDRESSES:
            try:
                marker = await self._read(base, 2, f"reading the SunS marker at {base}")
            except _Refused:
                continue  # nothing there on this device: try the next base address
            if tuple(marker) == SUNS_MARKER:
                return SunSpecMap(base, await self._walk(base))
        raise Unsupported(
            f"no SunSpec map at 40000, 0 or 50000 on {self._where}; enable SunSpec Modbus in the inverter"
        )

    async def _walk(self, base: int) -> tuple[ModelLocation, ...]:
        models: list[ModelLocation] = []
        address = base + len(SUNS_MARKER)
        while True:
            if len(models) > _MAX_MODELS or address + 2 > 0x10000:
                raise MalformedData(f"the SunSpec map at {base} on {self._where} has no end marker")
            try:
                model_id, length = await self._read(address, 2, f"reading the model header at {address}")
            except _Refused as refused:
                raise MalformedData(f"the SunSpec map at {base} breaks off: {refused}") from None
            if model_id == END_MODEL_ID:
                return tuple(models)
            models.append(ModelLocation(model_id, address, length))
            address += 2 + length

    async def _read_models(self, model_ids: Iterable[int]) -> dict[int, Points]:
        sunspec = await self._sunspec_map()
        models: dict[int, Points] = {}
        for model_id in model_ids:
            location = sunspec.find(model_id)
            if location is None:
                continue
            what = f"reading model {model_id} at {location.address}"
            try:
                registers = await self._read(location.address, location.length + 2, what)
            except _Refused as refused:
                raise MalformedData(f"the device announced model {model_id} but refuses it: {refused}") from None
            models[model_id] = decode_model(model_id, registers)
        return models

    async def _write(self, model_id: int, points: list[tuple[str, float]], current: Points) -> None:
        location = (await self._sunspec_map()).find(model_id)
        assert location is not None, "only models that were read are written"
        try:
            runs = _encode_writes(model_id, points, current)
        except ValueError as exc:
            raise Unsupported(f"model {model_id}: {exc}") from None
        for offset, registers in runs:
            address = location.address + offset
            request = partial(
                AsyncModbusTcpClient.write_registers, address=address, values=registers, device_id=self.settings.unit_id
            )
            try:
                await self._io(f"writing model {model_id} at {address}", request)
            except _Refused as refused:
                raise Unsupported(f"{refused}; allow control over Modbus in the inverter's settings") from None

    # -- Modbus I/O ------------------------------------------------------------------------------

    async def _read(self, address: int, count: int, what: str) -> list[int]:
        registers: list[int] = []
        for start in range(address, address + count, MAX_REGISTERS_PER_READ):
            size = min(MAX_REGISTERS_PER_READ, address + count - start)
            request = partial(
                AsyncModbusTcpClient.read_holding_registers, address=start, count=size, device_id=self.settings.unit_id
            )
            response = await self._io(what, request)
            if len(response.registers) != size:
                raise MalformedData(f"{what}: {len(response.registers)} registers instead of {size}")
            registers.extend(response.registers)
        return registers

    async def _io(self, what: str, request: Callable[[AsyncModbusTcpClient], Awaitable[ModbusPDU]]) -> ModbusPDU:
        client = await self._connected()
        try:
            response = await within(self._timeout, self._unless_dropped(request(client)), f"{self._where}: {what}")
        except DeviceUnreachable:
            self._disconnect()
            raise
        except (ModbusException, OSError) as exc:
            self._disconnect()
            raise DeviceUnreachable(f"{self._where}: {what}: {exc}") from exc
        if response.isError():
            raise _Refused(what, response.exception_code)
        return response

    async def _unless_dropped(self, request: Awaitable[T]) -> T:
        """The answer, or `DeviceUnreachable` as soon as the device closes the connection (pymodbus itself
        would only notice when its timeout runs out)."""
        answer = asyncio.ensure_future(request)
        dropped = asyncio.ensure_future(self._dropped.wait())
        try:
            await asyncio.wait((answer, dropped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            dropped.cancel()
            answer.cancel()  # no-op once answered; stops the request when the connection dropped or time ran out
        if answer.done() and not answer.cancelled():
            return answer.result()
        raise DeviceUnreachable(f"{self._where}: the device closed the connection")

    async def _connected(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        self._disconnect()
        dropped = asyncio.Event()
        client = AsyncModbusTcpClient(
            self.settings.host,
            port=self.settings.port,
            timeout=self._timeout,
            retries=0,  # a retry is the next poll's business, under its own timeout
            reconnect_delay=0,  # no background reconnects: the next call reconnects
            trace_connect=lambda up: None if up else dropped.set(),
        )
        try:
            connected = await within(self._timeout, client.connect(), f"connecting to {self._where}")
        except BaseException:
            client.close()
            raise
        if not connected:
            client.close()
            raise DeviceUnreachable(f"cannot connect to {self._where}: refused or unreachable")
        self._client, self._dropped = client, dropped
        return client

    def _disconnect(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
        self._map = None  # the map is cached per connection: a reconnect may meet a restarted, changed device


_CONTROL_MODELS = (NAMEPLATE, SETTINGS, IMMEDIATE_CONTROLS, STORAGE, DER_CAPACITY, DER_AC_CONTROLS)


def build(settings: SunSpecSettings, context: ConnectorContext) -> SunSpecConnector:
    return SunSpecConnector(settings, io_timeout_s=context.io_timeout_s, clock=context.simulation_clock().now)


KIND = ConnectorKind(
    "sunspec_modbus_tcp",
    SunSpecSettings,
    build,
    frozenset(
        {ControlMode.SELF_CONSUMPTION, ControlMode.HOLD, ControlMode.CHARGE, ControlMode.DISCHARGE, ControlMode.CURTAIL}
    ),
)
