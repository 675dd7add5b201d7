"""The one interface every device connector implements, and the values that cross it.

Signs follow the partner API everywhere: grid power is positive when exporting, battery power is
positive when discharging, solar production and household consumption are never negative.
A connector never touches the database; it turns one device's protocol into these values.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

DEFAULT_IO_TIMEOUT_S = 10.0


class Quantity(StrEnum):
    """What a reading can carry; the values are the partner API's field names where it has one."""

    SOLAR_PRODUCTION_W = "solar_production_w"
    POWER_TO_GRID_W = "power_to_grid_w"
    HOUSEHOLD_CONSUMPTION_W = "household_consumption_w"
    BATTERY_POWER_W = "battery_charge_discharge_power_w"
    BATTERY_SOC_PERCENT = "battery_charge_level_percent"
    SOLAR_ENERGY_WH = "solar_energy_wh"


POWER_BALANCE = (
    Quantity.SOLAR_PRODUCTION_W,
    Quantity.POWER_TO_GRID_W,
    Quantity.HOUSEHOLD_CONSUMPTION_W,
    Quantity.BATTERY_POWER_W,
)


@dataclass(frozen=True, slots=True)
class Reading:
    """One timestamped state of a device, as the device (or its cloud) reported it.

    `time` is the device's own timestamp (UTC). `solar_energy_wh` is the device's lifetime PV
    energy counter where it has one. `reported` names the quantities the device gave itself;
    anything else that is set was computed (for instance from the power balance).
    """

    time: datetime
    solar_production_w: float | None = None
    power_to_grid_w: float | None = None
    household_consumption_w: float | None = None
    battery_charge_discharge_power_w: float | None = None
    battery_charge_level_percent: float | None = None
    solar_energy_wh: float | None = None
    reported: frozenset[Quantity] = frozenset()

    def value(self, quantity: Quantity) -> float | None:
        return getattr(self, _ATTRIBUTE[quantity])

    @property
    def computed(self) -> frozenset[Quantity]:
        return frozenset(q for q in Quantity if q not in self.reported and self.value(q) is not None)


_ATTRIBUTE = {
    Quantity.SOLAR_PRODUCTION_W: "solar_production_w",
    Quantity.POWER_TO_GRID_W: "power_to_grid_w",
    Quantity.HOUSEHOLD_CONSUMPTION_W: "household_consumption_w",
    Quantity.BATTERY_POWER_W: "battery_charge_discharge_power_w",
    Quantity.BATTERY_SOC_PERCENT: "battery_charge_level_percent",
    Quantity.SOLAR_ENERGY_WH: "solar_energy_wh",
}


def attribute_of(quantity: Quantity) -> str:
    """The `Reading` attribute that holds a quantity."""
    return _ATTRIBUTE[quantity]


class ControlMode(StrEnum):
    """What solarfleet can ask of a device."""

    SELF_CONSUMPTION = "self_consumption"  # the device's own logic: battery serves the house
    HOLD = "hold"  # the battery neither charges nor discharges
    CHARGE = "charge"  # charge at `power_w` (from PV or grid)
    DISCHARGE = "discharge"  # discharge at `power_w`
    CURTAIL = "curtail"  # limit PV/AC output to `limit_w`
    PAUSE = "pause"  # no export, no battery exchange with the grid


@dataclass(frozen=True, slots=True)
class Command:
    """A control request. `power_w` is the battery power for charge/discharge (always ≥ 0);
    `limit_w` the AC output limit for curtailment; `revert_after` how long the device keeps the
    command before falling back to its own logic (devices that support a revert timeout)."""

    mode: ControlMode
    power_w: float | None = None
    limit_w: float | None = None
    revert_after: timedelta | None = None

    def __post_init__(self) -> None:
        if self.mode in (ControlMode.CHARGE, ControlMode.DISCHARGE) and (self.power_w is None or self.power_w < 0):
            raise ValueError(f"{self.mode} needs a power_w ≥ 0")
        if self.mode is ControlMode.CURTAIL and (self.limit_w is None or self.limit_w < 0):
            raise ValueError("curtail needs a limit_w ≥ 0")


@dataclass(frozen=True, slots=True)
class ControlState:
    """What the device says is in force now (read back, not what we last sent)."""

    mode: ControlMode
    power_w: float | None = None
    limit_w: float | None = None
    reverts_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BatteryNameplate:
    capacity_wh: float | None = None
    max_charge_w: float | None = None
    max_discharge_w: float | None = None
    reserve_percent: float | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Which quantities a device reads and which controls it accepts."""

    reads: frozenset[Quantity]
    controls: frozenset[ControlMode]
    poll_interval: timedelta | None = None  # None: the device sets no pace, the operator's default applies
    ac_limit_w: float | None = None
    battery: BatteryNameplate | None = None
    identity: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The capabilities as stored beside the device's connection (JSON types only)."""
        return {
            "reads": sorted(self.reads),
            "controls": sorted(self.controls),
            "poll_interval_s": self.poll_interval.total_seconds() if self.poll_interval else None,
            "ac_limit_w": self.ac_limit_w,
            "battery": asdict(self.battery) if self.battery else None,
            "identity": dict(self.identity),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Capabilities:
        interval = data.get("poll_interval_s")
        battery = data.get("battery")
        return cls(
            reads=frozenset(Quantity(q) for q in data["reads"]),
            controls=frozenset(ControlMode(c) for c in data["controls"]),
            poll_interval=timedelta(seconds=interval) if interval else None,
            ac_limit_w=data.get("ac_limit_w"),
            battery=BatteryNameplate(**battery) if battery else None,
            identity=dict(data.get("identity") or {}),
        )


class ConnectorError(Exception):
    """A connector failed; subclasses say whether trying again can help."""

    transient = False


class DeviceUnreachable(ConnectorError):
    """No answer, a timeout, a dropped connection, or the vendor asked us to back off: try again later."""

    transient = True


class CredentialsRejected(ConnectorError):
    """The device or its cloud refused the stored credentials: the customer must re-authorise."""


class Unsupported(ConnectorError):
    """The device cannot do what was asked (a control it lacks, a protocol variant we do not speak)."""


class MalformedData(ConnectorError):
    """The device answered, but with something that cannot be decoded."""


T = TypeVar("T")


async def within(seconds: float, operation: Awaitable[T], what: str) -> T:
    """Await one I/O step, turning a timeout into `DeviceUnreachable` that says what timed out."""
    try:
        return await asyncio.wait_for(operation, seconds)
    except TimeoutError:
        raise DeviceUnreachable(f"{what}: no answer within {seconds:g} s") from None


class Connector(abc.ABC):
    """One device, spoken to through one protocol. Every method does its I/O under a timeout."""

    @abc.abstractmethod
    async def read_state(self) -> Reading:
        """The device's current state."""

    @abc.abstractmethod
    async def capabilities(self) -> Capabilities:
        """What the device reads and which controls it accepts."""

    @abc.abstractmethod
    async def apply(self, command: Command) -> None:
        """Send a command; raises `Unsupported` for a control the device lacks."""

    @abc.abstractmethod
    async def read_control(self) -> ControlState:
        """What control is in force on the device now."""

    def poll_interval(self) -> timedelta | None:
        """How long to wait before the next poll, where the device's own limits decide it (a cloud
        API's request budget, shared with other devices and so changing over time); None otherwise."""
        return None

    async def close(self) -> None:  # noqa: B027 - connectors without a connection have nothing to close
        """Release connections; the connector may be opened again by the next call."""
