"""Whether a household charges an electric vehicle, told from its consumption: charging is an extra load of
3.3–24 kW that is held flat for half an hour or more and then simply stops.

Pure computation on `ReadingArrays`, vectorised. The last 30 days of household consumption are laid on a
one-minute grid: a reading fills the minutes it stands for, gaps of up to BRIDGE_MINUTES take the next
reading's value, longer ones stay unknown. Then:

- Extra load: the load above the household's baseline, the lowest load of the last BASELINE_HOURS clock
  hours (standby), which a bout shorter than that never raises.
- Sustained level: the highest extra load held through MIN_BOUT_MINUTES consecutive minutes around each
  minute (a morphological opening). Anything shorter drops out of it, whether on its own (kettles, ovens,
  instantaneous water heaters, heat-pump cycles of 10–20 min, thermostats) or on top of a charger.
- Bout: where the sustained level reaches ON_W (below the band, so that meter noise never splits a bout)
  and CORE_SHARE of the run's median sustained level, so that a lower load running on before or after the
  charger is cut off. Every bout lasts at least MIN_BOUT_MINUTES by construction.
- Extra power: the bout's floor (FLOOR quantile of its load) less the floor of the AROUND_MINUTES before
  and after it: the household's own load underneath cancels, and loads on top of the charger for up to three
  quarters of the bout leave it alone. Must lie in POWER_BAND: 16 A on one phase at 207 V (−10 % of
  nominal) up to 22 kW at +10 %.
- Flat: the bout's LOW quantile lies below its floor by at most FLAT_SPREAD of its power (four standard
  deviations of a meter with 2 % noise) plus as much as the household's own load spreads around it
  (capped at as much again). Irregular loads in the band (an induction hob) spread far more.
- Not a cycling appliance: a sauna heats flat for its first half hour or more, as a charger does, and then
  its thermostat switches the same heater on and off; a heat pump whose off-time is bridged by a shower
  looks flat too, but it cycles before and after. A bout with CYCLING_STEPS or more steps of its own size
  (within STEP_TOLERANCE) in the AROUND_MINUTES before it and those after it together is such an appliance.

Limitations: a flat load in the band that simply ends (a storage water heater of 3.3 kW or more, a sauna
switched off once hot) is indistinguishable from charging; a charger of about the power of a heat pump
that cycles around it (3.5–4 kW, single phase) is taken for that heat pump, and a 19–24 kW charger with an
instantaneous water heater of the same power used right before or after it for that water heater.

`ev_inference_confidence` is the number of bouts in the last 30 days / FULL_CONFIDENCE_BOUTS, capped at 1;
`has_ev_in_household` is confidence ≥ EV_CONFIDENCE, two bouts. One bout can be a guest's car; over 30 days
of 300 simulated homes without an EV, most with heat pumps, ovens, saunas, induction hobs or instantaneous
water heaters, 4 (1.3 %) showed two bouts or more, while each of 99 EV homes that charged at all (1–6 times
a week) showed three or more, and over 14 days two bouts still find homes that charge once or twice a week.
Both are None until there is enough history: at least MIN_HISTORY_S of measured household consumption,
covering at least MIN_COVERAGE of the time since the first reading in the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from solarfleet.inference.readings import ReadingArrays

MINUTE_S = 60
WINDOW_MINUTES = 30 * 24 * 60
MIN_HISTORY_S = 7 * 86_400
MIN_COVERAGE = 0.8
BRIDGE_MINUTES = 10
BASELINE_HOURS = 12
MIN_BOUT_MINUTES = 30
ON_W = 3000.0
CORE_SHARE = 0.85
POWER_BAND = (3300.0, 24_200.0)
AROUND_MINUTES = 30
FLOOR = 0.25
LOW = 0.05
FLAT_SPREAD = 0.08
STEP_TOLERANCE = 0.15
CYCLING_STEPS = 2
FULL_CONFIDENCE_BOUTS = 16
EV_CONFIDENCE = 2 / FULL_CONFIDENCE_BOUTS


@dataclass(frozen=True, slots=True)
class ChargingBout:
    """One charging bout: from the first reading at the charging level to the first after it (epoch s),
    and the extra power over the household's own load (W)."""

    start_s: int
    end_s: int
    power_w: float


@dataclass(frozen=True, slots=True)
class EvInference:
    """What one device's household consumption tells about an EV as of `inferred_at_s`. The two partner
    fields are None until `history_covered_s`, the measured time in the last 30 days, is enough; the bouts
    are there either way."""

    has_ev_in_household: bool | None
    ev_inference_confidence: float | None
    inferred_at_s: int
    bouts: tuple[ChargingBout, ...]
    history_covered_s: int


def detect_ev(readings: ReadingArrays, now_s: int) -> EvInference:
    """EV charging bouts in the 30 days up to `now_s` and the confidence they give; see the module for the rules."""
    minute_end_s = now_s - MINUTE_S * np.arange(WINDOW_MINUTES - 1, -1, -1, dtype=np.int64)
    load_w, measured = _minute_grid(readings, minute_end_s)
    covered_s = int(np.count_nonzero(measured)) * MINUTE_S
    since_first_s = (WINDOW_MINUTES - int(np.argmax(measured))) * MINUTE_S
    bouts = tuple(
        ChargingBout(int(minute_end_s[start]), int(minute_end_s[end - 1]) + MINUTE_S, float(power_w))
        for start, end, power_w in zip(*_bouts(load_w), strict=True)
    )
    if covered_s < MIN_HISTORY_S or covered_s < MIN_COVERAGE * since_first_s:
        return EvInference(None, None, now_s, bouts, covered_s)
    confidence = min(1.0, len(bouts) / FULL_CONFIDENCE_BOUTS)
    return EvInference(confidence >= EV_CONFIDENCE, confidence, now_s, bouts, covered_s)


def _minute_grid(readings: ReadingArrays, minute_end_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Household load per minute of the window (NaN where unknown, short gaps bridged) and whether each
    minute was measured. Minute m is (minute_end_s[m] - 60, minute_end_s[m]]."""
    now_s = int(minute_end_s[-1])
    first, last = np.searchsorted(readings.time_s, [now_s - WINDOW_MINUTES * MINUTE_S, now_s], side="right")
    household_w = readings.household_w[first:last]
    known = np.isfinite(household_w)
    time_s, household_w = readings.time_s[first:last][known], household_w[known]
    count = len(time_s)
    if count == 0:
        return np.full(WINDOW_MINUTES, np.nan), np.zeros(WINDOW_MINUTES, dtype=bool)
    # A reading stands for its own minute and for its interval back from its time.
    reach_s = time_s - np.maximum(np.nan_to_num(readings.interval_s[first:last][known]), MINUTE_S)
    reading = np.full(WINDOW_MINUTES, count)
    reading[(WINDOW_MINUTES - 1 - (now_s - time_s) // MINUTE_S)[::-1]] = np.arange(count)[::-1]  # its own reading
    reading = np.minimum.accumulate(reading[::-1])[::-1]  # a minute without a reading takes the next one
    found = reading < count
    reading = np.where(found, reading, 0)
    measured = found & (reach_s[reading] < minute_end_s)
    bridged = found & (reach_s[reading] - BRIDGE_MINUTES * MINUTE_S < minute_end_s)
    return np.where(bridged, household_w[reading], np.nan), measured


def _bouts(load_w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and end (exclusive) minute and extra power of each charging bout on the minute grid."""
    hourly_w = np.where(np.isnan(load_w), np.inf, load_w).reshape(-1, 60).min(axis=1)
    hourly_w = np.concatenate([np.full(BASELINE_HOURS - 1, np.inf), hourly_w])
    baseline_w = np.repeat(sliding_window_view(hourly_w, BASELINE_HOURS).min(axis=1), 60)
    with np.errstate(invalid="ignore"):  # unknown minutes stay NaN, and hold no level
        extra_w = load_w - baseline_w
    sustained_w = ndimage.grey_opening(np.nan_to_num(extra_w, nan=-np.inf), size=MIN_BOUT_MINUTES)
    starts, ends = _runs(sustained_w >= ON_W)
    (typical_w,) = _row_quantiles(_run_rows(sustained_w, starts, ends), 0.5)
    core_w = np.full(len(load_w), np.inf)
    core_w[_indices(starts, ends)] = np.repeat(CORE_SHARE * typical_w, ends - starts)
    starts, ends = _runs(sustained_w >= core_w)

    low_w, level_w = _row_quantiles(_run_rows(load_w, starts, ends), LOW, FLOOR)
    # The half hours before and after each bout, kept apart by an unknown minute so that no step spans the bout.
    around_w = np.concatenate(
        [
            _window(load_w, starts - AROUND_MINUTES, AROUND_MINUTES),
            np.full((len(starts), 1), np.nan),
            _window(load_w, ends, AROUND_MINUTES),
        ],
        axis=1,
    )
    # Unknown all around (a bout between gaps): the baseline stands in for the household's own load.
    around_w[:, 0] = np.where(np.isnan(around_w).all(axis=1), baseline_w[starts], around_w[:, 0])
    around_low_w, around_level_w = _row_quantiles(around_w, LOW, FLOOR)
    power_w = level_w - around_level_w
    household_spread_w = np.minimum(around_level_w - around_low_w, FLAT_SPREAD * power_w)
    keep = (
        (power_w >= POWER_BAND[0])
        & (power_w <= POWER_BAND[1])
        & (level_w - low_w <= FLAT_SPREAD * power_w + household_spread_w)
        & (_steps_of(around_w, power_w) < CYCLING_STEPS)
    )
    return starts[keep], ends[keep], power_w[keep]


def _steps_of(rows_w: np.ndarray, power_w: np.ndarray) -> np.ndarray:
    """Per row of minutes, how often the load steps up or down by its bout's power (within STEP_TOLERANCE)."""
    step_w = np.abs(np.diff(rows_w, axis=1))
    with np.errstate(invalid="ignore"):  # a step to or from an unknown minute is none
        return np.count_nonzero(np.abs(step_w - power_w[:, None]) <= STEP_TOLERANCE * power_w[:, None], axis=1)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each run of True at least MIN_BOUT_MINUTES long."""
    edges = np.diff(mask.astype(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long = ends - starts >= MIN_BOUT_MINUTES
    return starts[long], ends[long]


def _indices(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The positions inside all runs, concatenated in order."""
    lengths = ends - starts
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(lengths.sum())


def _window(values: np.ndarray, firsts: np.ndarray, length: int) -> np.ndarray:
    """One row per first position: the `length` values from it on, NaN outside the array."""
    positions = firsts[:, None] + np.arange(length)
    inside = (positions >= 0) & (positions < len(values))
    return np.where(inside, values[np.clip(positions, 0, len(values) - 1)], np.nan)


def _run_rows(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """One row per run: its values, padded with NaN to the longest run."""
    width = int((ends - starts).max(initial=0))
    rows = _window(values, starts, width)
    rows[np.arange(width) >= (ends - starts)[:, None]] = np.nan
    return rows


def _row_quantiles(rows: np.ndarray, *fractions: float) -> list[np.ndarray]:
    """Per row, the value at each fraction of its known values in order (the lower one between two)."""
    ordered = np.sort(rows, axis=1)  # NaN last
    last = np.maximum(np.count_nonzero(~np.isnan(rows), axis=1) - 1, 0)
    row = np.arange(len(rows))
    return [ordered[row, (fraction * last).astype(np.int64)] for fraction in fractions]
