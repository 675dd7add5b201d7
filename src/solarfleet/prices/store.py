"""Stored prices: each zone's day-ahead prices, shared by all its devices, and the prices partners upload.

Zone prices keep the resolution they were published at: days before the 15-minute day-ahead market
are hourly, later days quarter-hourly, and a window across the switch holds both. Readers get
`PriceCurve`s on the quarter-hour grid, where every stored price covers whole steps.

Writes are upserts keyed like the tables (zone or organisation, zone, interval start), one statement
per curve or upload, so storing the same prices again changes nothing and a re-upload replaces what it covers.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Table, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from solarfleet.database import utcnow
from solarfleet.prices.curve import PriceCurve, PriceSource
from solarfleet.prices.models import PartnerPrice, ZonePrice
from solarfleet.prices.zones import HOUR, QUARTER_HOUR, PriceZone

STEP_S = int(QUARTER_HOUR.total_seconds())
# The longest interval one stored price covers: a window must look back this far for a price that
# began before it and still applies at its start.
LONGEST_S = int(HOUR.total_seconds())
# The sources a zone's own prices come from; a partner's prices and contracts are stored elsewhere.
ZONE_SOURCES = frozenset({PriceSource.ENTSOE, PriceSource.SYNTHETIC})
# Which source labels prices of mixed origin: the least trusted one present, so that prices that
# are partly invented are never passed off as market prices, nor a partner's as the exchange's.
TRUST_ORDER = (PriceSource.ENTSOE, PriceSource.PARTNER, PriceSource.SYNTHETIC)

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def least_trusted(sources: Iterable[PriceSource], default: PriceSource = PriceSource.ENTSOE) -> PriceSource:
    """The label of prices from these sources; `default` when there are none."""
    present = set(sources)
    return max(present, key=TRUST_ORDER.index) if present else default


def upsert(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str], update: Sequence[str]
) -> None:
    """Insert the rows; where one with the same key exists, overwrite its `update` columns instead."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect not in _INSERTS:
        raise NotImplementedError(f"solarfleet stores prices in SQLite or PostgreSQL, not {dialect}")
    statement = _INSERTS[dialect](table)
    statement = statement.on_conflict_do_update(
        index_elements=list(key), set_={name: statement.excluded[name] for name in update}
    )
    session.execute(statement, list(rows))


def _epoch_s(instant: datetime) -> int:
    return int(instant.timestamp())


def _instant(epoch_s: int) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def _grid_s(instant: datetime) -> int:
    """The instant in epoch seconds, which must be a quarter-hour boundary."""
    epoch_s = _epoch_s(instant)
    if epoch_s % STEP_S or instant.microsecond:
        raise ValueError(f"{instant.isoformat()} is not on the quarter-hour grid")
    return epoch_s


def _window_s(start: datetime, end: datetime) -> tuple[int, int, int]:
    """Start and end of the window [start, end) in epoch seconds, and its quarter hours."""
    start_s, end_s = _grid_s(start), _grid_s(end)
    if end_s < start_s:
        raise ValueError(f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    return start_s, end_s, (end_s - start_s) // STEP_S


def _on_quarter_hours(start_s: int, count: int, rows: Iterable[tuple[int, int, float]]) -> np.ndarray:
    """The price of each quarter hour from start_s, from (interval start, seconds covered, price)
    rows; NaN where none covers it, and the later row's price where two cover it."""
    values = np.full(count, np.nan)
    for row_start_s, resolution_s, price in rows:
        first = (row_start_s - start_s) // STEP_S
        values[max(first, 0) : max(first + resolution_s // STEP_S, 0)] = price
    return values


# -- zone prices -----------------------------------------------------------------------------------


def store_curves(session: Session, curves: Iterable[PriceCurve]) -> int:
    """Store zones' day-ahead prices, curve after curve (a later one wins where two overlap); returns
    how many prices were written.

    A curve replaces what is stored over its span: its known prices overwrite those at the same
    interval start, and stored prices at other starts within the span (a finer resolution stored
    before) are removed. Its unknown (NaN) prices leave what is stored in place. An hourly price
    stored before a quarter-hour curve that starts inside its hour stays; readers then take the
    quarter hour's own price (`zone_curves`).
    """
    written = 0
    stored_at = utcnow()
    for curve in curves:
        if curve.source not in ZONE_SOURCES:
            raise ValueError(f"a zone's prices come from {sorted(ZONE_SOURCES)}, not {curve.source}")
        start_s, resolution_s = _epoch_s(curve.start), int(curve.resolution.total_seconds())
        session.execute(
            delete(ZonePrice).where(
                ZonePrice.zone == curve.zone,
                ZonePrice.start_s >= start_s,
                ZonePrice.start_s < _epoch_s(curve.end),
                (ZonePrice.start_s - start_s) % resolution_s != 0,
            )
        )
        rows = [
            {
                "zone": curve.zone.value,
                "start_s": start_s + int(index) * resolution_s,  # a numpy integer would reach SQLite as a blob
                "resolution_s": resolution_s,
                "price_eur_mwh": float(curve.values[index]),
                "source": curve.source.value,
                "stored_at": stored_at,
            }
            for index in np.flatnonzero(~np.isnan(curve.values))
        ]
        upsert(
            session,
            ZonePrice.__table__,
            rows,
            key=("zone", "start_s"),
            update=("resolution_s", "price_eur_mwh", "source", "stored_at"),
        )
        written += len(rows)
    return written


def zone_curves(
    session: Session, zones: Collection[PriceZone], start: datetime, end: datetime
) -> dict[PriceZone, PriceCurve]:
    """Each zone's stored prices over [start, end) (quarter-hour boundaries), as quarter-hour curves
    with NaN where no price is stored; one query for all zones. Where a stored hour and a stored
    quarter hour overlap, the quarter hour's own price wins. A curve is labelled with the least
    trusted source among its prices (ENTSO-E when it has none)."""
    start_s, end_s, count = _window_s(start, end)
    rows: dict[PriceZone, list[tuple[int, int, float]]] = {PriceZone(zone): [] for zone in zones}
    sources: dict[PriceZone, set[PriceSource]] = {zone: set() for zone in rows}
    if rows:
        query = select(
            ZonePrice.zone, ZonePrice.start_s, ZonePrice.resolution_s, ZonePrice.price_eur_mwh, ZonePrice.source
        ).where(
            ZonePrice.zone.in_([zone.value for zone in rows]),
            ZonePrice.start_s > start_s - LONGEST_S,
            ZonePrice.start_s < end_s,
        )
        # Coarse first, so that `_on_quarter_hours` writes the finer prices over them.
        query = query.order_by(ZonePrice.resolution_s.desc(), ZonePrice.start_s)
        for zone, row_start_s, resolution_s, price, source in session.execute(query):
            if row_start_s + resolution_s > start_s:
                rows[PriceZone(zone)].append((row_start_s, resolution_s, price))
                sources[PriceZone(zone)].add(PriceSource(source))
    return {
        zone: PriceCurve(
            zone, start, QUARTER_HOUR, _on_quarter_hours(start_s, count, zone_rows), least_trusted(sources[zone])
        )
        for zone, zone_rows in rows.items()
    }


def zone_curve(session: Session, zone: PriceZone, start: datetime, end: datetime) -> PriceCurve:
    """One zone's stored prices over [start, end), as `zone_curves` gives them."""
    return zone_curves(session, [zone], start, end)[PriceZone(zone)]


def latest_price_time(session: Session, zone: PriceZone) -> datetime | None:
    """Start of the latest interval the zone has a stored price for (UTC); None when it has none."""
    latest = session.scalar(select(func.max(ZonePrice.start_s)).where(ZonePrice.zone == PriceZone(zone).value))
    return None if latest is None else _instant(latest)


# -- partner uploads -------------------------------------------------------------------------------


def store_partner_prices(
    session: Session, organisation_id: uuid.UUID, zone: PriceZone, start: datetime, prices: Sequence[float]
) -> None:
    """Store a partner's quarter-hour prices from `start` on, replacing any it uploaded for those
    quarter hours before."""
    start_s = _grid_s(start)
    if not np.isfinite(np.asarray(prices, dtype=float)).all():
        raise ValueError("a partner's prices must be finite")
    uploaded_at = utcnow()
    rows = [
        {
            "organisation_id": organisation_id,
            "zone": PriceZone(zone).value,
            "start_s": start_s + index * STEP_S,
            "price_eur_mwh": float(price),
            "uploaded_at": uploaded_at,
        }
        for index, price in enumerate(prices)
    ]
    upsert(
        session,
        PartnerPrice.__table__,
        rows,
        key=("organisation_id", "zone", "start_s"),
        update=("price_eur_mwh", "uploaded_at"),
    )


def partner_curves(
    session: Session, portfolios: Collection[tuple[uuid.UUID, PriceZone]], start: datetime, end: datetime
) -> dict[tuple[uuid.UUID, PriceZone], PriceCurve]:
    """The prices each (organisation, zone) uploaded for [start, end), as quarter-hour curves with NaN
    where it uploaded none; one query for all of them."""
    start_s, end_s, count = _window_s(start, end)
    rows: dict[tuple[uuid.UUID, PriceZone], list[tuple[int, int, float]]] = {
        (organisation_id, PriceZone(zone)): [] for organisation_id, zone in portfolios
    }
    if rows:
        query = select(
            PartnerPrice.organisation_id, PartnerPrice.zone, PartnerPrice.start_s, PartnerPrice.price_eur_mwh
        ).where(
            tuple_(PartnerPrice.organisation_id, PartnerPrice.zone).in_(
                [(organisation_id, zone.value) for organisation_id, zone in rows]
            ),
            PartnerPrice.start_s >= start_s,
            PartnerPrice.start_s < end_s,
        )
        for organisation_id, zone, row_start_s, price in session.execute(query):
            rows[(organisation_id, PriceZone(zone))].append((row_start_s, STEP_S, price))
    return {
        (organisation_id, zone): PriceCurve(
            zone, start, QUARTER_HOUR, _on_quarter_hours(start_s, count, portfolio_rows), PriceSource.PARTNER
        )
        for (organisation_id, zone), portfolio_rows in rows.items()
    }


def partner_curve(
    session: Session, organisation_id: uuid.UUID, zone: PriceZone, start: datetime, end: datetime
) -> PriceCurve:
    """The prices one organisation uploaded for one zone over [start, end), as `partner_curves` gives them."""
    return partner_curves(session, [(organisation_id, zone)], start, end)[(organisation_id, PriceZone(zone))]
