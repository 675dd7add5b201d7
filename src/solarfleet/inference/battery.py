"""Battery parameters learnt from one device's history: the power limits it is clamped at, the reserve it
stops discharging at, and its usable capacity (with the round-trip efficiency that comes with it).

Pure computation on `ReadingArrays`, vectorised. Each estimate is None until its evidence rule holds:

- Maximum charge (discharge) power: the battery is *limited* in a reading when it charges (discharges)
  while the grid carries the rest of the surplus (deficit), exporting (importing) more than SPILL_W, with
  its state of charge away from the floor and ceiling. A battery that follows the house keeps the grid
  near zero, so its flat stretches (a clear noon, a steady load) never count. A *plateau* is a chain of
  overlapping flat windows of limited readings: at least five minutes of consecutive readings (a gap
  breaks the chain) that all lie within PLATEAU_BAND (6 %) of their window's median. A spike spoils every
  window it is in, so it splits a plateau and never becomes one. The estimate is the highest level that
  at least MIN_PLATEAUS (3) plateaus within LEVEL_TOLERANCE (3 %) of it agree on. Under a forced command
  the battery is limited at the commanded power, never above its maximum, so the top level is still the
  highest power it was seen to sustain.
- Minimum state of charge: the battery sits idle (|power| ≤ IDLE_W) for at least five minutes while the
  house imports more than SPILL_W, its state of charge flat within FLOOR_FLAT_POINTS: discharge has
  stopped although the house still needs power (importing means it draws more than the panels give).
  Each day gives its lowest such level; the estimate is the lowest level that MIN_FLOOR_DAYS (3) days
  agree on within FLOOR_TOLERANCE_POINTS (1 point).
- Capacity: clean segments are consecutive readings without gaps in which the battery keeps charging
  (discharging) above IDLE_W and the state of charge never moves the other way, away from the floor and
  ceiling, over at least MIN_SEGMENT_SOC_POINTS (10 points). Charging stores AC energy × η, discharging
  delivers stored energy × η, so per point of SoC a charge segment shows k_c = C/η and a discharge
  segment k_d = C·η: C = √(k_c·k_d) and the round-trip efficiency η² = k_d/k_c, whatever η is. Needs at
  least MIN_SEGMENTS_EACH_WAY (2) segments each way.

No estimate rests on one day alone: a single day may be an exception (a test, an unusual command). Days
are UTC days; an occasion counts for the day it starts on. Every `Estimate` carries how many pieces of
evidence it rests on (plateaus, days, segments) and the interquartile range of their individual values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from solarfleet.inference.readings import ReadingArrays

DAY_S = 86_400
# A reading more than this many typical steps after the previous one leaves a gap: runs never span it.
GAP_STEPS = 1.5
# Sustained means at least five minutes, and at least three readings so that one spike is told from a run.
MIN_PLATEAU_S = 300.0
MIN_PLATEAU_READINGS = 3
# Each reading of a flat window lies within this share of the window's median: three standard deviations
# of a meter with 2 % noise, far tighter than a battery that follows the household load.
PLATEAU_BAND = 0.06
# Plateaus within this share of each other are one level; plateau means are good to about 1 %.
LEVEL_TOLERANCE = 0.03
MIN_PLATEAUS = 3
# Grid flow beyond metering and control slack: the battery did not take (give) all that the house offered (asked).
SPILL_W = 100.0
# Battery power within standby and metering noise counts as idle.
IDLE_W = 50.0
# Readings this close to the lowest or highest state of charge seen are at the clamps, where the BMS
# recalibrates its SoC and the power tapers: neither capacity nor power limits are read there.
CLAMP_MARGIN_POINTS = 2.0
FLOOR_FLAT_POINTS = 0.5
FLOOR_TOLERANCE_POINTS = 1.0
MIN_FLOOR_DAYS = 3
# Ten points of SoC make a reported SoC's rounding (0.5 point at most) cost at most 5 % per segment.
MIN_SEGMENT_SOC_POINTS = 10.0
MIN_SEGMENTS_EACH_WAY = 2


@dataclass(frozen=True, slots=True)
class Estimate:
    """A learnt value, the number of independent pieces of evidence it rests on, and the interquartile
    range of their individual values (in the value's unit)."""

    value: float
    segments: int
    spread: float


@dataclass(frozen=True, slots=True)
class BatteryInference:
    """What one device's history tells about its battery, and which readings it was told from."""

    max_charge_w: Estimate | None
    max_discharge_w: Estimate | None
    min_battery_soc_percent: Estimate | None
    battery_capacity_kwh: Estimate | None
    round_trip_efficiency: Estimate | None
    readings: int  # readings with both battery power and state of charge
    since: datetime | None  # the first and last of them
    until: datetime | None


def infer_battery(readings: ReadingArrays) -> BatteryInference:
    """Battery power limits, reserve and capacity from a device's history; see the module for the rules."""
    battery_w, soc = readings.battery_w, readings.soc_percent
    known = np.isfinite(battery_w) & np.isfinite(soc)
    used = np.flatnonzero(known)
    if len(used) < 2:
        return BatteryInference(None, None, None, None, None, len(used), None, None)
    time_s = readings.time_s
    step_s = float(np.median(np.diff(time_s)))
    joined = np.zeros(len(time_s), dtype=bool)  # reading i follows i-1 without a gap
    joined[1:] = (np.diff(time_s) <= GAP_STEPS * step_s) & known[1:] & known[:-1]
    lowest, highest = np.min(soc[used]), np.max(soc[used])
    with np.errstate(invalid="ignore"):  # NaN compares False: unknown readings are in no run
        inside = known & (soc > lowest + CLAMP_MARGIN_POINTS) & (soc < highest - CLAMP_MARGIN_POINTS)
    day = time_s // DAY_S
    window = max(MIN_PLATEAU_READINGS, int(np.ceil(MIN_PLATEAU_S / step_s)))
    charge_w = _max_power(-battery_w, readings.grid_w, inside, joined, day, window)
    discharge_w = _max_power(battery_w, -readings.grid_w, inside, joined, day, window)
    floor = _floor(readings, known, joined, day, step_s)
    capacity, efficiency = _capacity(readings, inside, joined, day)
    since, until = (datetime.fromtimestamp(int(time_s[i]), UTC) for i in (used[0], used[-1]))
    return BatteryInference(charge_w, discharge_w, floor, capacity, efficiency, len(used), since, until)


def _runs(mask: np.ndarray, joined: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each maximal run of True in `mask` that does not cross a gap."""
    follows = np.zeros_like(mask)
    follows[1:] = mask[1:] & mask[:-1] & joined[1:]
    starts = np.flatnonzero(mask & ~follows)
    ends = np.flatnonzero(mask & ~np.append(follows[1:], False)) + 1
    return starts, ends


def _over_runs(ufunc: np.ufunc, values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """`ufunc` reduced over each run values[start:end] (non-empty runs in time order)."""
    bounds = np.column_stack((starts, ends)).ravel()
    return ufunc.reduceat(np.append(values, 0.0), bounds)[::2]  # the appended value lets a run end at the last


def _interquartile(values: np.ndarray) -> float:
    low, high = np.percentile(values, [25, 75])
    return float(high - low)


def _max_power(
    power_w: np.ndarray, spill_w: np.ndarray, inside: np.ndarray, joined: np.ndarray, day: np.ndarray, window: int
) -> Estimate | None:
    """The top sustained level of `power_w` (positive in the direction asked) while the grid carried the rest
    (`spill_w` positive when it did)."""
    with np.errstate(invalid="ignore"):
        limited = inside & (power_w > IDLE_W) & (spill_w > SPILL_W)
    starts, ends = _runs(limited, joined)
    long = ends - starts >= window
    starts, ends = starts[long], ends[long]
    if len(starts) < MIN_PLATEAUS:  # too few runs for enough plateaus (and no run a window long)
        return None
    # every window start whose window stays inside its run
    counts = ends - starts - window + 1
    first = np.repeat(starts, counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    window_starts = first + offsets
    values = sliding_window_view(power_w, window)[window_starts]
    median = np.median(values, axis=1)
    flat = np.all(np.abs(values - median[:, None]) <= PLATEAU_BAND * median[:, None], axis=1)
    flat_starts = window_starts[flat]
    if len(flat_starts) < MIN_PLATEAUS:
        return None
    # a plateau is a chain of overlapping flat windows; windows never span a gap, overlapping ones never leave one
    breaks = np.flatnonzero(np.diff(flat_starts) >= window) + 1
    chain_first = flat_starts[np.r_[0, breaks]]
    chain_end = flat_starts[np.r_[breaks - 1, len(flat_starts) - 1]] + window
    levels = _over_runs(np.add, power_w, chain_first, chain_end) / (chain_end - chain_first)
    return _agreed_level(levels, day[chain_first], LEVEL_TOLERANCE * levels, MIN_PLATEAUS, highest=True)


def _agreed_level(
    levels: np.ndarray, days: np.ndarray, tolerance: float | np.ndarray, members: int, highest: bool
) -> Estimate | None:
    """The highest (lowest) level that at least `members` levels within `tolerance` of it agree on, from more
    than one day: the median of those levels, their count and interquartile range."""
    near = np.abs(levels[None, :] - levels[:, None]) <= np.reshape(tolerance, (-1, 1))  # row i: i's agreeing
    spans_days = np.where(near, days, days.max()).min(axis=1) < np.where(near, days, days.min()).max(axis=1)
    supported = (near.sum(axis=1) >= members) & spans_days
    if not supported.any():
        return None
    chosen = near[np.argmax(np.where(supported, levels if highest else -levels, -np.inf))]
    return Estimate(float(np.median(levels[chosen])), int(chosen.sum()), _interquartile(levels[chosen]))


def _floor(
    readings: ReadingArrays, known: np.ndarray, joined: np.ndarray, day: np.ndarray, step_s: float
) -> Estimate | None:
    """The reserve: the lowest state of charge the battery stays idle at while the house imports."""
    with np.errstate(invalid="ignore"):
        idle = known & (np.abs(readings.battery_w) <= IDLE_W) & (readings.grid_w < -SPILL_W)
    starts, ends = _runs(idle, joined)
    lasting = readings.time_s[ends - 1] - readings.time_s[starts] + step_s >= MIN_PLATEAU_S
    starts, ends = starts[lasting], ends[lasting]
    soc = readings.soc_percent
    flat = _over_runs(np.maximum, soc, starts, ends) - _over_runs(np.minimum, soc, starts, ends) <= FLOOR_FLAT_POINTS
    levels = (_over_runs(np.add, soc, starts, ends) / (ends - starts))[flat]
    days = day[starts][flat]
    if len(levels) < MIN_FLOOR_DAYS:
        return None
    # each day's lowest idle level: a day's first after sorting by day, then level
    order = np.lexsort((levels, days))
    levels, days = levels[order], days[order]
    first_of_day = np.r_[True, np.diff(days) > 0]
    return _agreed_level(
        levels[first_of_day], days[first_of_day], FLOOR_TOLERANCE_POINTS, MIN_FLOOR_DAYS, highest=False
    )


def _capacity(
    readings: ReadingArrays, inside: np.ndarray, joined: np.ndarray, day: np.ndarray
) -> tuple[Estimate | None, Estimate | None]:
    """Capacity (kWh) and round-trip efficiency from clean charge and discharge segments."""
    per_point = []  # Wh per point of SoC, charge segments then discharge
    segment_days = []
    for direction in (-1.0, 1.0):  # charging, discharging
        power_w = direction * readings.battery_w
        with np.errstate(invalid="ignore"):
            # step i: from reading i-1 to i, the power of reading i moves the SoC between them
            step = np.zeros(len(power_w), dtype=bool)
            step[1:] = (
                joined[1:]
                & inside[1:]
                & inside[:-1]
                & (power_w[1:] > IDLE_W)
                & (direction * np.diff(readings.soc_percent) <= 0)
            )
        starts, ends = _runs(step, joined)
        moved = direction * (readings.soc_percent[starts - 1] - readings.soc_percent[ends - 1])
        clean = moved >= MIN_SEGMENT_SOC_POINTS
        if np.count_nonzero(clean) < MIN_SEGMENTS_EACH_WAY:
            return None, None
        starts, ends = starts[clean], ends[clean]
        energy_wh = _over_runs(np.add, power_w * readings.interval_s, starts, ends) / 3600.0
        per_point.append(energy_wh / moved[clean])
        segment_days.append(day[starts])
    segment_days = np.concatenate(segment_days)
    if segment_days.min() == segment_days.max():
        return None, None
    charge, discharge = per_point  # C/η and C·η per point
    k_charge, k_discharge = np.median(charge), np.median(discharge)
    # each segment's own value, the other direction taken at its median
    capacities = np.sqrt(np.concatenate((charge * k_discharge, discharge * k_charge))) / 10.0  # Wh/point → kWh
    efficiencies = np.concatenate((k_discharge / charge, discharge / k_charge))
    count = len(capacities)
    return (
        Estimate(float(np.sqrt(k_charge * k_discharge) / 10.0), count, _interquartile(capacities)),
        Estimate(float(k_discharge / k_charge), count, _interquartile(efficiencies)),
    )
