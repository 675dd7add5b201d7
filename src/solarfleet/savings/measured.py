"""What was measured, in the form the savings accounting replays it: each inverter's 15-minute rollups
on a quarter-hour grid, and the battery as its history shows it.

Read in bulk: one query per chunk of inverters, whatever the number of days, for the daily job as for
the data endpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import groupby

import numpy as np
from sqlalchemy import String, case, cast, func, select
from sqlalchemy.orm import Session

from solarfleet.battery_physics import BatteryModel
from solarfleet.connectors.base import BatteryNameplate, Capabilities
from solarfleet.database import in_chunks
from solarfleet.forecasts.validation import MIN_COVERAGE, STEP_S, MeasuredSteps, StepGrid
from solarfleet.inverters.models import Inverter
from solarfleet.monitoring.models import ReadingRollup
from solarfleet.optimization.service import battery_model
from solarfleet.savings.accounting import MeasuredPeriod

ROLLUP_RESOLUTION = "15MIN"
# A battery's limits are read from at least this much history before the end of what is replayed.
SEEN_HISTORY_S = 30 * 86_400
_ENERGIES = ("solar_wh", "household_wh", "import_wh", "export_wh", "charge_wh", "discharge_wh")
_COLUMNS = (*_ENERGIES, "covered_s", "soc_weighted", "soc_covered_s")


@dataclass(frozen=True, eq=False)
class QuarterHours:
    """One inverter's 15-minute rollups on `grid`: energies in Wh and the time-weighted mean state of
    charge in %, NaN where a bucket has no rollup, no covered time, or the quantity was not measured."""

    grid: StepGrid
    solar_wh: np.ndarray
    household_wh: np.ndarray
    import_wh: np.ndarray
    export_wh: np.ndarray
    charge_wh: np.ndarray
    discharge_wh: np.ndarray
    soc_percent: np.ndarray
    covered_s: np.ndarray  # 0 where no rollup

    def window(self, start_index: int, count: int) -> QuarterHours:
        """The `count` steps from step `start_index` of the grid."""
        cut = slice(start_index, start_index + count)
        return QuarterHours(
            StepGrid.from_epoch(self.grid.start_s + start_index * STEP_S, count),
            self.solar_wh[cut],
            self.household_wh[cut],
            self.import_wh[cut],
            self.export_wh[cut],
            self.charge_wh[cut],
            self.discharge_wh[cut],
            self.soc_percent[cut],
            self.covered_s[cut],
        )

    def period(self, import_price: np.ndarray, export_price: np.ndarray) -> MeasuredPeriod:
        return MeasuredPeriod(
            self.grid,
            self.solar_wh,
            self.household_wh,
            self.import_wh,
            self.export_wh,
            import_price,
            export_price,
            battery_wh=self.discharge_wh - self.charge_wh,
        )

    def steps(self, energy_wh: np.ndarray, keep: np.ndarray) -> MeasuredSteps:
        """One energy of the `keep` quarter hours that have a rollup, as the forecast checks read history."""
        keep = keep & (self.covered_s > 0)
        return MeasuredSteps(self.grid.bucket_s()[keep], energy_wh[keep], self.covered_s[keep])

    def soc_at(self, index: int, within: int) -> float | None:
        """The state of charge (%) at the start of step `index`: the mean of the quarter hours either side of
        that instant (their midpoints lie 7.5 minutes before and after it), else the one of them that is
        known, else the first known in the `within` steps from `index`; None when none of them is known."""
        around = self.soc_percent[max(index - 1, 0) : index + 1]
        known = around[np.isfinite(around)]
        if known.size:
            return float(known.mean())
        later = self.soc_percent[index : index + within]
        later = later[np.isfinite(later)]
        return float(later[0]) if later.size else None


def ids_by_text(ids: Iterable[uuid.UUID]) -> dict[str, uuid.UUID]:
    """Each id under the text a query gets for `cast(<uuid column>, String)`: queries over many rows read
    ids as text and look them up here, as building a UUID object for every row took a third of their
    time. SQLite stores the hex digits, PostgreSQL writes the dashed form."""
    return {text: inverter_id for inverter_id in ids for text in (inverter_id.hex, str(inverter_id))}


def read_quarter_hours(
    session: Session, inverter_ids: Iterable[uuid.UUID], grid: StepGrid
) -> dict[uuid.UUID, QuarterHours]:
    """The 15-minute rollups of these inverters on `grid`, for the inverters that have any."""
    ids = sorted(set(inverter_ids))
    found: dict[uuid.UUID, QuarterHours] = {}
    end_s = grid.start_s + grid.count * STEP_S
    by_text = ids_by_text(ids)
    for chunk in in_chunks(ids):
        query = (
            select(
                cast(ReadingRollup.inverter_id, String),
                ReadingRollup.bucket_s,
                *(getattr(ReadingRollup, c) for c in _COLUMNS),
            )
            .where(
                ReadingRollup.inverter_id.in_(chunk),
                ReadingRollup.resolution == ROLLUP_RESOLUTION,
                ReadingRollup.bucket_s >= grid.start_s,
                ReadingRollup.bucket_s < end_s,
            )
            .order_by(ReadingRollup.inverter_id, ReadingRollup.bucket_s)
        )
        for inverter_id, rows in groupby(session.execute(query), key=lambda row: row[0]):
            found[by_text[inverter_id]] = _on_grid(grid, [tuple(row) for row in rows])
    return found


def _on_grid(grid: StepGrid, rows: Sequence[tuple]) -> QuarterHours:
    # numpy turns None (a quantity the device does not measure) into NaN in a float array
    table = np.array([row[1:] for row in rows], dtype=float)
    at = ((table[:, 0] - grid.start_s) // STEP_S).astype(np.int64)
    covered = table[:, 1 + _COLUMNS.index("covered_s")]
    # A bucket whose only reading stands for no time yet (a device's first) measured nothing.
    spans_time = covered > 0

    def column(values: np.ndarray) -> np.ndarray:
        out = np.full(grid.count, np.nan)
        out[at] = np.where(spans_time, values, np.nan)
        return out

    energies = {name: column(table[:, 1 + _COLUMNS.index(name)]) for name in _ENERGIES}
    soc_weighted = table[:, 1 + _COLUMNS.index("soc_weighted")]
    soc_covered = table[:, 1 + _COLUMNS.index("soc_covered_s")]
    with np.errstate(invalid="ignore", divide="ignore"):
        soc = column(np.where(soc_covered > 0, soc_weighted / soc_covered, np.nan))
    covered_s = np.zeros(grid.count)
    covered_s[at] = np.nan_to_num(covered, nan=0.0)
    return QuarterHours(grid, soc_percent=soc, covered_s=covered_s, **energies)


# -- the battery as its history shows it ---------------------------------------------------------------


@dataclass(frozen=True)
class SeenBattery:
    """The extremes a battery reached in its quarter-hour rollups: the highest mean charging and
    discharging powers (W) and the lowest mean state of charge (%); None where never measured."""

    max_charge_w: float | None
    max_discharge_w: float | None
    min_soc_percent: float | None


def seen_batteries(
    session: Session, inverter_ids: Iterable[uuid.UUID], start_s: int, end_s: int
) -> dict[uuid.UUID, SeenBattery]:
    """What each battery's rollups in [start_s, end_s) show; one aggregate query per chunk of ids.
    Only buckets whose readings cover at least half the quarter hour count, so a power is a mean over
    enough time to stand for the bucket."""
    ids = sorted(set(inverter_ids))
    covered = ReadingRollup.covered_s
    charge_w = func.max(ReadingRollup.charge_wh * 3600.0 / covered)
    discharge_w = func.max(ReadingRollup.discharge_wh * 3600.0 / covered)
    soc = func.min(case((ReadingRollup.soc_covered_s > 0, ReadingRollup.soc_weighted / ReadingRollup.soc_covered_s)))
    found = {}
    for chunk in in_chunks(ids):
        query = (
            select(ReadingRollup.inverter_id, charge_w, discharge_w, soc)
            .where(
                ReadingRollup.inverter_id.in_(chunk),
                ReadingRollup.resolution == ROLLUP_RESOLUTION,
                ReadingRollup.bucket_s >= start_s,
                ReadingRollup.bucket_s < end_s,
                covered >= MIN_COVERAGE * STEP_S,
            )
            .group_by(ReadingRollup.inverter_id)
        )
        for inverter_id, most_in, most_out, lowest in session.execute(query):
            found[inverter_id] = SeenBattery(most_in, most_out, lowest)
    return found


def baseline_battery(
    inverter: Inverter, capabilities: Capabilities | None, seen: SeenBattery | None
) -> BatteryModel | None:
    """The battery the baseline and the perfect-foresight plan replay: as planning sees it
    (`battery_model`: configured, else nameplate, else inferred), with what neither the device nor
    inference has told yet taken from its history: the highest powers it was seen to charge and
    discharge at, and the lowest charge it was seen at as its reserve. Without that a battery whose
    limits are not yet known would drop out of the baseline, and plain self-consumption would be
    credited to the optimiser. None without a battery, or when even its capacity is unknown."""
    if not inverter.is_battery_connected:
        return None
    nameplate = (capabilities.battery if capabilities is not None else None) or BatteryNameplate()
    if seen is not None:
        nameplate = BatteryNameplate(
            capacity_wh=nameplate.capacity_wh,
            max_charge_w=nameplate.max_charge_w or inverter.inferred_max_charge_power_w or seen.max_charge_w,
            max_discharge_w=(
                nameplate.max_discharge_w or inverter.inferred_max_discharge_power_w or seen.max_discharge_w
            ),
            reserve_percent=_first_known(
                nameplate.reserve_percent, inverter.inferred_min_battery_soc_percent, seen.min_soc_percent
            ),
        )
    known = (
        replace(capabilities, battery=nameplate)
        if capabilities is not None
        else Capabilities(reads=frozenset(), controls=frozenset(), battery=nameplate)
    )
    return battery_model(inverter, known)[0]


def replay_soc_wh(
    inverter: Inverter, battery: BatteryModel | None, quarter_hours: QuarterHours, index: int, within: int
) -> float | None:
    """Where the baseline's battery starts a replay from step `index`: its measured state of charge (Wh)
    then (see `QuarterHours.soc_at`); 0.0 without a battery; None for a connected battery the baseline
    cannot replay (capacity or state of charge unknown), whose own self-consumption would otherwise be
    counted as savings."""
    if not inverter.is_battery_connected:
        return 0.0
    soc_percent = quarter_hours.soc_at(index, within) if battery is not None else None
    return None if soc_percent is None else battery.capacity_wh * soc_percent / 100.0


def _first_known(*values: float | None) -> float | None:
    return next((value for value in values if value is not None), None)
