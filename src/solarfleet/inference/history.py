"""Reading a fleet's history for inference: the last days of raw readings, a few devices at a time."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from solarfleet.inference.readings import ReadingArrays
from solarfleet.monitoring.models import StoredReading

_COLUMNS = (
    StoredReading.time_s,
    StoredReading.interval_s,
    StoredReading.solar_w,
    StoredReading.grid_w,
    StoredReading.household_w,
    StoredReading.battery_w,
    StoredReading.soc_percent,
)


def reading_arrays(
    session: Session, inverter_ids: Sequence[uuid.UUID], start_s: int, end_s: int
) -> dict[uuid.UUID, ReadingArrays]:
    """Each device's readings in [start_s, end_s), in time order, in one query (devices without any are left out)."""
    rows = session.execute(
        select(StoredReading.inverter_id, *_COLUMNS)
        .where(
            StoredReading.inverter_id.in_(list(inverter_ids)),
            StoredReading.time_s >= start_s,
            StoredReading.time_s < end_s,
        )
        .order_by(StoredReading.inverter_id, StoredReading.time_s)
    ).all()
    found: dict[uuid.UUID, ReadingArrays] = {}
    start = 0
    for index in range(1, len(rows) + 1):
        if index == len(rows) or rows[index][0] != rows[start][0]:
            # numpy turns None (a quantity the device does not measure) into NaN in a float array
            table = np.array([row[1:] for row in rows[start:index]], dtype=float)
            found[rows[start][0]] = ReadingArrays(table[:, 0].astype(np.int64), *(table[:, i] for i in range(1, 7)))
            start = index
    return found
