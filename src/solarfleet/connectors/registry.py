"""From a catalogue connector name and an inverter's stored connection settings to a live connector.

Each connector module registers a `ConnectorKind`: a Pydantic model that validates the settings
(so onboarding and the CLI reject a bad address or key with the field that is wrong) and a factory.
Shared resources (one HTTP session, the request budgets, the simulation clock) come from one
`ConnectorContext` per worker, so every device behind one vendor credential shares one budget.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from solarfleet.connectors.base import Connector, ConnectorError, ControlMode

if TYPE_CHECKING:
    import aiohttp

    from solarfleet.connectors.budget import BudgetRegistry
    from solarfleet.connectors.simulator.clock import SimulationClock
    from solarfleet.connectors.simulator.home import HomeParameters, SimulatedHome


@dataclass
class ConnectorContext:
    """What connectors of one worker share. Built lazily so a worker without cloud devices opens no HTTP session."""

    clock: SimulationClock | None = None
    budgets: BudgetRegistry | None = None
    io_timeout_s: float = 10.0
    simulated_homes: dict[int, SimulatedHome] = field(default_factory=dict)
    _http: aiohttp.ClientSession | None = field(default=None, repr=False)

    def http(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.io_timeout_s))
        return self._http

    def budget_registry(self) -> BudgetRegistry:
        from solarfleet.connectors.budget import BudgetRegistry

        if self.budgets is None:
            self.budgets = BudgetRegistry()
        return self.budgets

    def simulation_clock(self) -> SimulationClock:
        from solarfleet.connectors.simulator.clock import SimulationClock

        if self.clock is None:
            self.clock = SimulationClock.real_time()
        return self.clock

    def simulated_home(self, parameters: HomeParameters) -> SimulatedHome:
        """The one simulated home with these parameters' seed (a seed names one home)."""
        from solarfleet.connectors.simulator.home import SimulatedHome

        home = self.simulated_homes.get(parameters.seed)
        if home is None or home.parameters != parameters:
            home = self.simulated_homes[parameters.seed] = SimulatedHome(parameters)
        return home

    async def close(self) -> None:
        if self._http is not None and not self._http.closed:
            await self._http.close()


@dataclass(frozen=True)
class ConnectorKind:
    name: str
    settings_model: type[BaseModel]
    build: Callable[[Any, ConnectorContext], Connector]
    # The controls the protocol can carry at most (a device may implement fewer): what the customer
    # consents to before any device is read.
    controls: frozenset[ControlMode] = frozenset()


class InvalidConnectionSettings(ConnectorError):
    """The stored or submitted settings do not fit the connector; `errors` says which field and why."""

    def __init__(self, connector: str, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        fields = ", ".join(".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in errors)
        super().__init__(f"{connector} connection settings: {fields}")


# Catalogue connector name → module that defines `KIND`; imported on first use.
_MODULES = {
    "simulator": "solarfleet.connectors.simulator.connector",
    "sunspec_modbus_tcp": "solarfleet.connectors.sunspec",
    "fronius_solar_api": "solarfleet.connectors.fronius",
    "solaredge_monitoring": "solarfleet.connectors.solaredge",
}


def connector_kind(name: str) -> ConnectorKind:
    try:
        module = _MODULES[name]
    except KeyError:
        raise ConnectorError(f"no connector named {name!r}; known: {', '.join(sorted(_MODULES))}") from None
    return importlib.import_module(module).KIND


def validate_settings(name: str, settings: Mapping[str, Any]) -> BaseModel:
    kind = connector_kind(name)
    try:
        return kind.settings_model.model_validate(dict(settings))
    except ValidationError as exc:
        raise InvalidConnectionSettings(name, exc.errors(include_url=False, include_input=False)) from None


def open_connector(name: str, settings: Mapping[str, Any], context: ConnectorContext) -> Connector:
    """A connector for one device; no I/O happens until its first call."""
    return connector_kind(name).build(validate_settings(name, settings), context)
