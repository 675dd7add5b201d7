"""Plans in the database: each run of a site, and the slots of its devices."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from solarfleet.optimization.models import PlanRun, PlanSlot


@dataclass(frozen=True, slots=True)
class StoredPlan:
    """One device's share of a site's run, ready to store: the run's id and the device's slot rows."""

    inverter_id: uuid.UUID
    slots: list[dict]


def store_site_plan(session: Session, run: PlanRun, plans: Sequence[StoredPlan], keep_committed: bool = True) -> None:
    """Store a run and replace its devices' slots from the run's start on.

    Slots committed in an accepted day-ahead trade are kept: the fleet promised them to the market.
    """
    session.add(run)
    session.flush()
    for plan in plans:
        replaced = delete(PlanSlot).where(
            PlanSlot.inverter_id == plan.inverter_id, PlanSlot.start_s >= run.horizon_start_s
        )
        committed: set[int] = set()
        if keep_committed:
            replaced = replaced.where(PlanSlot.committed.is_(False))
            committed = set(
                session.scalars(
                    select(PlanSlot.start_s).where(
                        PlanSlot.inverter_id == plan.inverter_id,
                        PlanSlot.start_s >= run.horizon_start_s,
                        PlanSlot.committed.is_(True),
                    )
                )
            )
        session.execute(replaced)
        rows = [
            {"inverter_id": plan.inverter_id, "plan_run_id": run.id, **slot}
            for slot in plan.slots
            if slot["start_s"] not in committed
        ]
        if rows:
            session.execute(insert(PlanSlot), rows)


def slots_between(session: Session, inverter_id: uuid.UUID, start_s: int, end_s: int) -> list[PlanSlot]:
    return list(
        session.scalars(
            select(PlanSlot)
            .where(PlanSlot.inverter_id == inverter_id, PlanSlot.start_s >= start_s, PlanSlot.start_s < end_s)
            .order_by(PlanSlot.start_s)
        )
    )


def slots_at(session: Session, inverter_ids: Iterable[uuid.UUID], time_s: int) -> dict[uuid.UUID, PlanSlot]:
    """The slot each device is in at `time_s`, for the devices that have one."""
    ids = list(inverter_ids)
    if not ids:
        return {}
    query = select(PlanSlot).where(
        PlanSlot.inverter_id.in_(ids), PlanSlot.start_s <= time_s, PlanSlot.start_s + PlanSlot.duration_s > time_s
    )
    return {slot.inverter_id: slot for slot in session.scalars(query)}


def runs_by_id(session: Session, run_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, PlanRun]:
    ids = list(set(run_ids))
    if not ids:
        return {}
    return {run.id: run for run in session.scalars(select(PlanRun).where(PlanRun.id.in_(ids)))}
