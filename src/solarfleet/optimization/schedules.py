"""The schedules endpoint's logic: the stored plan of one inverter over a time range."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from solarfleet.api.errors import FieldError
from solarfleet.inverters.service import owned_inverter
from solarfleet.optimization.schemas import SCHEDULE_UNITS, PlanRunOut, ScheduleMetadata, ScheduleOut, ScheduleSlot
from solarfleet.optimization.store import runs_by_id, slots_between

DEFAULT_AHEAD = timedelta(days=2)  # covers the rest of today and all of tomorrow
MAX_RANGE = timedelta(days=31)
_SLOT_S = 900


def schedule_range(from_datetime: datetime | None, to_datetime: datetime | None, now: datetime) -> tuple[int, int]:
    """[start, end) in epoch seconds: from the slot holding `from_datetime` (default: now) to
    `to_datetime` (default: two days later). FieldError (422) for an empty or too long range."""
    start = from_datetime or now
    start_s = int(start.timestamp()) // _SLOT_S * _SLOT_S
    end = to_datetime or datetime.fromtimestamp(start_s, UTC) + DEFAULT_AHEAD
    if end <= start:
        raise FieldError("to_datetime", "must be after from_datetime (now, when not given)", "query")
    if end - start > MAX_RANGE:
        raise FieldError("to_datetime", f"the range may span at most {MAX_RANGE.days} days", "query")
    return start_s, int(end.timestamp())


def inverter_schedule(
    session: Session,
    organisation_id: uuid.UUID,
    user_id: uuid.UUID,
    inverter_id: uuid.UUID,
    start_s: int,
    end_s: int,
    include_deleted: bool,
) -> ScheduleOut:
    inverter = owned_inverter(session, organisation_id, user_id, inverter_id, include_deleted)
    slots = slots_between(session, inverter_id, start_s, end_s)
    runs = runs_by_id(session, (slot.plan_run_id for slot in slots))
    return ScheduleOut(
        metadata=ScheduleMetadata(
            inverter_id=inverter_id,
            from_datetime=datetime.fromtimestamp(start_s, UTC),
            to_datetime=datetime.fromtimestamp(end_s, UTC),
            is_smart_optimization_active=inverter.is_smart_optimization_active,
            units=SCHEDULE_UNITS,
            plans=[
                PlanRunOut(
                    id=run.id,
                    created_at=run.created_at,
                    reason=run.reason,
                    source=run.source,
                    message=run.message,
                    price_source=run.price_source,
                    violations=run.violations,
                )
                for run in sorted(runs.values(), key=lambda run: run.created_at)
            ],
        ),
        data=[
            ScheduleSlot(
                start=datetime.fromtimestamp(slot.start_s, UTC),
                end=datetime.fromtimestamp(slot.start_s + slot.duration_s, UTC),
                mode=slot.mode,
                battery_power_w=slot.battery_power_w,
                target_soc_percent=slot.target_soc_percent,
                expected_grid_power_w=slot.expected_grid_w,
                expected_solar_production_w=slot.expected_solar_w,
                expected_consumption_w=slot.expected_load_w,
                curtailment_w=slot.curtail_w,
                price=slot.import_price_eur_mwh,
                export_price=slot.export_price_eur_mwh,
                expected_cost_eur=slot.expected_cost_eur,
                committed=slot.committed,
                plan_id=slot.plan_run_id,
            )
            for slot in slots
        ],
    )
