"""The inference job: every active inverter's last 30 days of readings → its inferred battery parameters
and EV detection, stored on the inverter with the evidence behind them. Planning reads the inferred
values wherever the partner left a battery parameter unset (`optimization.service.battery_model`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select

from solarfleet.database import Database, in_chunks
from solarfleet.inference.battery import BatteryInference, Estimate, infer_battery
from solarfleet.inference.ev import FULL_CONFIDENCE_BOUTS, EvInference, detect_ev
from solarfleet.inference.history import reading_arrays
from solarfleet.inference.readings import ReadingArrays
from solarfleet.inverters.models import Inverter
from solarfleet.monitoring.statuses import LIFECYCLE_ACTIVE

log = structlog.get_logger(__name__)

HISTORY_S = 30 * 86_400
# Devices whose month of one-minute readings is held in memory at once (about 20 MB each as Python rows).
DEVICES_PER_QUERY = 20
_NO_READINGS = ReadingArrays(*([] for _ in range(7)))


@dataclass
class InferenceRun:
    inverters: int = 0
    battery_estimates: int = 0  # inferred battery parameters that are numbers (not null)
    ev_decided: int = 0  # inverters whose EV presence is known (not null)
    seconds: float = 0.0


def run_inference(
    database: Database,
    now: datetime,
    inverter_ids: Collection[uuid.UUID] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> InferenceRun:
    """Infer and store, for the active inverters among `inverter_ids` (all when None), as of `now`."""
    began = time.perf_counter()
    result = InferenceRun()
    now_s = int(now.timestamp())
    with database.session(write=False) as session:
        query = select(Inverter.id).where(Inverter.deleted_at.is_(None), Inverter.lifecycle_state == LIFECYCLE_ACTIVE)
        ids = [i for i in session.scalars(query.order_by(Inverter.id)) if inverter_ids is None or i in inverter_ids]
    for chunk in in_chunks(ids, DEVICES_PER_QUERY):
        with database.session() as session:
            history = reading_arrays(session, chunk, now_s - HISTORY_S, now_s)
            for inverter in session.scalars(select(Inverter).where(Inverter.id.in_(chunk))):
                readings = history.get(inverter.id, _NO_READINGS)
                battery = infer_battery(readings) if inverter.is_battery_connected else None
                ev = detect_ev(readings, now_s)
                _store(inverter, battery, ev, now)
                result.inverters += 1
                result.battery_estimates += sum(e is not None for e in _battery_estimates(battery).values())
                result.ev_decided += ev.has_ev_in_household is not None
        if progress is not None:
            progress(result.inverters, len(ids))
    result.seconds = time.perf_counter() - began
    log.info(
        "inference done",
        inverters=result.inverters,
        battery_estimates=result.battery_estimates,
        ev_decided=result.ev_decided,
        seconds=round(result.seconds, 3),
    )
    return result


def _battery_estimates(battery: BatteryInference | None) -> dict[str, Estimate | None]:
    if battery is None:
        return {}
    return {
        "inferred_max_charge_power_w": battery.max_charge_w,
        "inferred_max_discharge_power_w": battery.max_discharge_w,
        "inferred_min_battery_soc_percent": battery.min_battery_soc_percent,
        "inferred_battery_capacity_kwh": battery.battery_capacity_kwh,
    }


def _store(inverter: Inverter, battery: BatteryInference | None, ev: EvInference, now: datetime) -> None:
    estimates = _battery_estimates(battery)
    for field, estimate in estimates.items():
        setattr(inverter, field, estimate.value if estimate is not None else None)
    inverter.inferred_params_updated_at = now
    inverter.has_ev_in_household = ev.has_ev_in_household
    inverter.ev_inference_confidence = ev.ev_inference_confidence
    inverter.ev_inferred_at = now
    inverter.inference_evidence = {
        "battery": {field: _estimate(estimate) for field, estimate in estimates.items()}
        | (
            {"round_trip_efficiency": _estimate(battery.round_trip_efficiency), "readings": battery.readings}
            if battery is not None
            else {}
        ),
        "ev": {
            "bouts_last_30_days": len(ev.bouts),
            "bouts_for_full_confidence": FULL_CONFIDENCE_BOUTS,
            "history_covered_days": round(ev.history_covered_s / 86_400, 2),
            "bouts": [
                {"start": _iso(bout.start_s), "end": _iso(bout.end_s), "power_w": round(bout.power_w, 1)}
                for bout in ev.bouts
            ],
        },
    }


def _estimate(estimate: Estimate | None) -> dict[str, Any] | None:
    if estimate is None:
        return None
    return {"value": estimate.value, "segments": estimate.segments, "spread": estimate.spread}


def _iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")
