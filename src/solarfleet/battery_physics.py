"""How a home battery responds to a power request: one rule for the simulator, the baseline and the fallback plan.

Power uses the partner API's sign (positive = discharging). Efficiency applies each way: charging
with P for h hours stores P·η·h; discharging P for h hours takes P/η·h out of the cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BatteryModel:
    capacity_wh: float
    floor_wh: float  # the lowest state of charge it may reach (reserve, or the user's minimum)
    ceiling_wh: float  # the highest (capacity, or the user's maximum)
    max_charge_w: float
    max_discharge_w: float
    efficiency: float  # each way

    @classmethod
    def of(
        cls,
        capacity_wh: float,
        max_charge_w: float,
        max_discharge_w: float,
        round_trip_efficiency: float,
        floor_percent: float = 0.0,
        ceiling_percent: float = 100.0,
    ) -> BatteryModel:
        return cls(
            capacity_wh,
            capacity_wh * floor_percent / 100.0,
            capacity_wh * ceiling_percent / 100.0,
            max_charge_w,
            max_discharge_w,
            math.sqrt(round_trip_efficiency),
        )

    def step(self, wanted_w: float, soc_wh: float, hours: float) -> tuple[float, float]:
        """The power the battery really gives for `wanted_w` over `hours`, and the state of charge after.

        Power is clamped to the converter's limits and to what the cells can give above the floor or
        take below the ceiling in that time; a battery outside its window only moves back towards it.
        """
        most_out = max((soc_wh - self.floor_wh) * self.efficiency / hours, 0.0)
        most_in = max((self.ceiling_wh - soc_wh) / self.efficiency / hours, 0.0)
        power = max(-min(self.max_charge_w, most_in), min(wanted_w, self.max_discharge_w, most_out))
        if power > 0:
            return power, soc_wh - power / self.efficiency * hours
        return power, soc_wh - power * self.efficiency * hours
