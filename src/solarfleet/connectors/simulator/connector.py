"""The simulator as a connector: a simulated home read and steered through the common interface.

The home lives in the worker's `ConnectorContext`, keyed by its seed, so every connector object for
one simulated device (monitoring, steering, a SunSpec register image) sees one and the same home.
"""

from __future__ import annotations

from solarfleet.connectors.base import Capabilities, Command, Connector, ControlMode, ControlState, Reading
from solarfleet.connectors.registry import ConnectorContext, ConnectorKind
from solarfleet.connectors.simulator.clock import SimulationClock
from solarfleet.connectors.simulator.home import HomeParameters, SimulatedHome


class SimulatorConnector(Connector):
    def __init__(self, home: SimulatedHome, clock: SimulationClock) -> None:
        self.home = home
        self.clock = clock

    async def read_state(self) -> Reading:
        return self.home.reading(self.clock.now())

    async def capabilities(self) -> Capabilities:
        return self.home.capabilities()

    async def apply(self, command: Command) -> None:
        self.home.apply(command, self.clock.now())

    async def read_control(self) -> ControlState:
        return self.home.control(self.clock.now())


def _build(parameters: HomeParameters, context: ConnectorContext) -> SimulatorConnector:
    return SimulatorConnector(context.simulated_home(parameters), context.simulation_clock())


KIND = ConnectorKind("simulator", HomeParameters, _build, frozenset(ControlMode))
