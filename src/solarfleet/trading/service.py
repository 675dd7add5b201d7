"""Day-ahead trading: the organisation's fleet curves for a delivery day, offered as a trade, and the
partner's decision on it. Every query is scoped by the organisation.

Which devices: the organisation's live inverters with `is_trading_enabled` in the price zone that
solarfleet optimises (`is_smart_optimization_active`), grouped into sites as planning groups them
(a building's optimised inverters share its meter; an inverter without a building is a site of its
own). A site is in the curves when all of its optimised inverters trade in the zone (a meter cannot
be split between a trade and the rest), each has a stored plan slot for every quarter hour of the
day, and each battery the plan steers can be simulated for the baseline (`battery_model`: limits
configured, else on the nameplate the device last reported, else inferred). The others are listed
with the reason.

A decision acts from the current quarter hour (or the day's start, when it lies ahead) to the end
of the delivery day: slots already begun or past stay as the record of what was planned.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from solarfleet.api.errors import Conflict, FieldError, NotFound
from solarfleet.connectors.base import Capabilities
from solarfleet.database import Database, in_chunks
from solarfleet.inverters.models import Inverter
from solarfleet.monitoring.store import stored_capabilities
from solarfleet.optimization.models import PlanRun, PlanSlot
from solarfleet.optimization.problem import PlanSource
from solarfleet.optimization.self_consumption import self_consumption_plan
from solarfleet.optimization.service import battery_model
from solarfleet.organisations.models import Organisation
from solarfleet.prices.models import PartnerPrice
from solarfleet.prices.schemas import MAX_DAYS_AHEAD
from solarfleet.prices.zones import ZONE_LOCATIONS, PriceZone, local_day_bounds
from solarfleet.trading.curves import (
    STEP_S,
    MemberSlots,
    SiteSlots,
    baseline_input,
    baseline_slots,
    net_consumption_wh,
    planned_grid_w,
)
from solarfleet.trading.models import DayAheadTrade
from solarfleet.trading.schemas import (
    CurvePoint,
    ExcludedDevice,
    LoadCurveConfirmation,
    LoadCurves,
    LoadCurvesOut,
    TradeDecisionOut,
    TradeStatus,
    UnchangedDevice,
)

REJECTION_REASON = "trade_rejected"


def check_delivery_day(day: date, zone: PriceZone, now: datetime) -> None:
    """FieldError (422) unless `day` is today or later in the zone's local time, and at most
    MAX_DAYS_AHEAD days ahead (no plan reaches further; the upload of prices has the same bound)."""
    timezone = ZONE_LOCATIONS[zone].timezone
    today = now.astimezone(ZoneInfo(timezone)).date()
    if day < today:
        raise FieldError("date", f"{day} is past in {zone} ({timezone}), where today is {today}", "query")
    if day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise FieldError("date", f"at most {MAX_DAYS_AHEAD} days ahead: {today} is today in {timezone}", "query")


@dataclass(frozen=True)
class FleetOffer:
    """The fleet's curves for one day, as a trade stores them (`curves` JSON)."""

    optimized_wh: list[int]
    unoptimized_wh: list[int]
    sites: list[list[str]]  # the inverter ids of each site in the curves
    excluded: list[dict[str, str]]  # inverter_id, reason
    price_sources: list[str]

    @property
    def inverter_ids(self) -> list[str]:
        return [inverter_id for site in self.sites for inverter_id in site]

    def as_json(self) -> dict[str, Any]:
        return {
            "optimized_wh": self.optimized_wh,
            "unoptimized_wh": self.unoptimized_wh,
            "sites": self.sites,
            "excluded": self.excluded,
            "price_sources": self.price_sources,
        }

    @classmethod
    def of(cls, trade: DayAheadTrade) -> FleetOffer:
        return cls(**trade.curves)


# -- reading plans ---------------------------------------------------------------------------------


def _day_starts(zone: PriceZone, day: date) -> list[int]:
    """Epoch seconds of each quarter hour of the local delivery day: 92, 96 or 100 of them."""
    start, end = local_day_bounds(zone, day)
    return list(range(int(start.timestamp()), int(end.timestamp()), STEP_S))


def _in_chunks(column: InstrumentedAttribute[uuid.UUID], ids: Sequence[uuid.UUID]) -> Iterator[ColumnElement[bool]]:
    for chunk in in_chunks(ids):
        yield column.in_(chunk)


@dataclass
class _Plans:
    """Stored slots per inverter (in time order) and the runs they come from."""

    slots: dict[uuid.UUID, list[PlanSlot]]
    runs: dict[uuid.UUID, PlanRun]


def _load_plans(session: Session, conditions: Sequence[ColumnElement[bool]], start_s: int, end_s: int) -> _Plans:
    """The slots starting in [start_s, end_s) of the inverters each condition selects, one query per condition."""
    plans = _Plans(defaultdict(list), {})
    for which in conditions:
        query = (
            select(PlanSlot, PlanRun)
            .join(PlanRun, PlanRun.id == PlanSlot.plan_run_id)
            .where(which, PlanSlot.start_s >= start_s, PlanSlot.start_s < end_s)
            .order_by(PlanSlot.inverter_id, PlanSlot.start_s)
        )
        for slot, run in session.execute(query):
            plans.slots[slot.inverter_id].append(slot)
            plans.runs[run.id] = run
    return plans


@dataclass(frozen=True)
class _Problem:
    """Why a site cannot be traded: which of its inverters stops it, and the reason, said of that one."""

    culprit: uuid.UUID
    reason: str

    def said_of(self, inverter_id: uuid.UUID) -> str:
        if inverter_id == self.culprit:
            return self.reason
        return f"its building's meter is shared with inverter {self.culprit}, which cannot be traded: {self.reason}"


def _site_slots(
    members: Sequence[Inverter | None],
    ids: Sequence[uuid.UUID],
    plans: _Plans,
    starts: Sequence[int],
    capabilities: Mapping[uuid.UUID, Capabilities],
) -> SiteSlots | _Problem:
    """The members' slots over `starts`, with the batteries and states of charge the baseline starts
    from; or the problem that keeps the site out. `members` are the inverters of `ids` (None where one
    no longer exists); `plans` also holds the slot before the first start."""
    previous_s = starts[0] - STEP_S
    site = []
    for inverter_id, inverter in zip(ids, members, strict=True):
        if inverter is None:
            return _Problem(inverter_id, "it no longer exists")
        stored = plans.slots.get(inverter.id, [])
        slots = [slot for slot in stored if slot.start_s >= starts[0]]
        if [slot.start_s for slot in slots] != list(starts):
            return _Problem(
                inverter.id,
                f"planned for {len(slots)} of the {len(starts)} quarter hours (a plan reaches a day once "
                "its prices are known and the device has PV and household forecasts)",
            )
        battery = None
        if any(slot.battery_power_w is not None for slot in slots):
            battery, _note = battery_model(inverter, capabilities.get(inverter.id))
            if battery is None:
                return _Problem(
                    inverter.id,
                    "its plan steers a battery whose capacity or power limits are neither configured, nor "
                    "reported by the device, nor inferred yet, so plain self-consumption cannot be simulated for "
                    "the unoptimised curve",
                )
        before = next((slot for slot in stored if slot.start_s == previous_s), None)
        soc = before.target_soc_percent if before is not None else None
        if soc is None:
            soc = inverter.battery_charge_level_percent
        site.append(MemberSlots(inverter.id, slots, battery, soc))
    return SiteSlots(tuple(site))


# -- the curves ------------------------------------------------------------------------------------


def fleet_offer(session: Session, organisation_id: uuid.UUID, zone: PriceZone, day: date) -> FleetOffer:
    starts = _day_starts(zone, day)
    live = and_(Inverter.organisation_id == organisation_id, Inverter.deleted_at.is_(None))
    trading = and_(Inverter.is_trading_enabled.is_(True), Inverter.price_zone == zone.value)
    optimised = Inverter.is_smart_optimization_active.is_(True)
    peer = aliased(Inverter)
    trading_buildings = select(peer.building_id).where(
        peer.organisation_id == organisation_id,
        peer.deleted_at.is_(None),
        peer.is_trading_enabled.is_(True),
        peer.price_zone == zone.value,
        peer.building_id.is_not(None),
    )
    # The trading inverters, and every optimised inverter sharing a building with one.
    relevant = and_(live, or_(trading, and_(optimised, Inverter.building_id.in_(trading_buildings))))
    inverters = session.scalars(select(Inverter).where(relevant).order_by(Inverter.id)).all()

    def trades(inverter: Inverter) -> bool:
        return inverter.is_trading_enabled and inverter.price_zone == zone.value

    excluded: list[dict[str, str]] = []
    sites: dict[uuid.UUID, list[Inverter]] = defaultdict(list)  # in id order, as planning orders a site's devices
    for inverter in inverters:
        if inverter.is_smart_optimization_active:
            sites[inverter.building_id or inverter.id].append(inverter)
        elif trades(inverter):
            excluded.append(_excluded(inverter.id, "smart optimisation is off: solarfleet neither plans nor steers it"))
    sites = {site_id: members for site_id, members in sites.items() if any(trades(m) for m in members)}

    member_ids = select(Inverter.id).where(relevant, optimised)
    plans = _load_plans(session, [PlanSlot.inverter_id.in_(member_ids)], starts[0] - STEP_S, starts[-1] + STEP_S)
    optimized = np.zeros(len(starts))
    unoptimized = np.zeros(len(starts))
    included: list[list[str]] = []
    sources: set[str] = set()
    capabilities = stored_capabilities(session, [m.id for members in sites.values() for m in members])
    for members in sites.values():
        ids = [m.id for m in members]
        other = next((m for m in members if not trades(m)), None)
        site = (
            _Problem(other.id, f"solarfleet optimises it without trading in {zone}, and a meter cannot be split")
            if other is not None
            else _site_slots(members, ids, plans, starts, capabilities)
        )
        if isinstance(site, _Problem):
            excluded += [_excluded(m.id, site.said_of(m.id)) for m in members if trades(m)]
            continue
        optimized += net_consumption_wh(planned_grid_w(site))
        unoptimized += net_consumption_wh(self_consumption_plan(baseline_input(site)).grid_w)
        included.append([str(i) for i in ids])
        sources |= {plans.runs[slot.plan_run_id].price_source for m in site.members for slot in m.slots}
    return FleetOffer(
        optimized_wh=[round(value) for value in optimized.tolist()],
        unoptimized_wh=[round(value) for value in unoptimized.tolist()],
        sites=included,
        excluded=excluded,
        price_sources=sorted(sources),
    )


def _excluded(inverter_id: uuid.UUID, reason: str) -> dict[str, str]:
    return {"inverter_id": str(inverter_id), "reason": reason}


def _lock_trades(session: Session, organisation_id: uuid.UUID) -> None:
    """Serialise the organisation's trade writes (PostgreSQL: a row lock on the organisation; SQLite
    already runs one writer at a time), so a day is never decided twice by racing requests."""
    session.execute(select(Organisation.id).where(Organisation.id == organisation_id).with_for_update())


def _day_trades(organisation_id: uuid.UUID, zone: PriceZone, day: date) -> ColumnElement[bool]:
    return and_(
        DayAheadTrade.organisation_id == organisation_id,
        DayAheadTrade.zone == zone.value,
        DayAheadTrade.delivery_day == day,
    )


def decided_trade(session: Session, organisation_id: uuid.UUID, zone: PriceZone, day: date) -> DayAheadTrade | None:
    """The accepted or rejected trade of the day, if it was decided."""
    return session.scalar(
        select(DayAheadTrade).where(
            _day_trades(organisation_id, zone, day),
            DayAheadTrade.status.in_([TradeStatus.ACCEPTED.value, TradeStatus.REJECTED.value]),
        )
    )


def _supersede_proposals(session: Session, organisation_id: uuid.UUID, zone: PriceZone, day: date) -> None:
    session.execute(
        update(DayAheadTrade)
        .where(_day_trades(organisation_id, zone, day), DayAheadTrade.status == TradeStatus.PROPOSED.value)
        .values(status=TradeStatus.SUPERSEDED.value)
    )


def propose(
    session: Session, organisation_id: uuid.UUID, zone: PriceZone, day: date, offer: FleetOffer, now: datetime
) -> DayAheadTrade | None:
    """Store the offer as the day's proposed trade, superseding the earlier proposals; the decided
    trade instead when the day was decided meanwhile. None when the offer holds no device."""
    _lock_trades(session, organisation_id)
    decided = decided_trade(session, organisation_id, zone, day)
    if decided is not None:
        return decided
    # Earlier proposals describe an older plan of the fleet: only the latest may be decided.
    _supersede_proposals(session, organisation_id, zone, day)
    if not offer.sites:
        return None
    trade = DayAheadTrade(
        organisation_id=organisation_id,
        delivery_day=day,
        zone=zone.value,
        created_at=now,
        status=TradeStatus.PROPOSED.value,
        inverter_ids=offer.inverter_ids,
        curves=offer.as_json(),
    )
    session.add(trade)
    session.flush()
    return trade


def load_curves(
    session: Session, database: Database, organisation_id: uuid.UUID, zone: PriceZone, day: date, now: datetime
) -> LoadCurvesOut:
    """The day's decided trade, or the fleet's curves as a new proposal.

    The curves are read in the request's session; the proposal is written in a write unit of its own,
    because a GET's session reads only (SQLite then takes no write lock up front).
    """
    check_delivery_day(day, zone, now)
    decided = decided_trade(session, organisation_id, zone, day)
    if decided is not None:
        return curves_out(day, zone, FleetOffer.of(decided), decided)
    offer = fleet_offer(session, organisation_id, zone, day)
    with database.session() as unit:
        trade = propose(unit, organisation_id, zone, day, offer, now)
    if trade is not None and trade.status != TradeStatus.PROPOSED:
        offer = FleetOffer.of(trade)
    return curves_out(day, zone, offer, trade)


def curves_out(day: date, zone: PriceZone, offer: FleetOffer, trade: DayAheadTrade | None) -> LoadCurvesOut:
    starts = [datetime.fromtimestamp(start_s, UTC) for start_s in _day_starts(zone, day)]
    note = None
    if trade is None:
        note = (
            f"no live, smart-optimised inverter with is_trading_enabled in {zone} can be traded on {day} "
            "(excluded_devices says why, where there are any): the curves are zero and no trade was stored"
        )
    elif trade.status != TradeStatus.PROPOSED:
        note = (
            f"{day} was {trade.status} at {_iso(trade.decided_at)}: these are that trade's curves; "
            "a decided day is not proposed again"
        )
    return LoadCurvesOut(
        trade_id=trade.id if trade is not None else None,
        date=day,
        price_zone=zone,
        status=TradeStatus(trade.status) if trade is not None else None,
        created_at=trade.created_at if trade is not None else None,
        decided_at=trade.decided_at if trade is not None else None,
        curves=LoadCurves(
            optimized=[CurvePoint(timestamp=t, energy_wh=wh) for t, wh in zip(starts, offer.optimized_wh, strict=True)],
            unoptimized=[
                CurvePoint(timestamp=t, energy_wh=wh) for t, wh in zip(starts, offer.unoptimized_wh, strict=True)
            ],
        ),
        device_count=len(offer.inverter_ids),
        site_count=len(offer.sites),
        excluded_devices=[ExcludedDevice(**row) for row in offer.excluded],
        price_sources=offer.price_sources,
        note=note,
    )


# -- the decision ----------------------------------------------------------------------------------


def decide(
    session: Session, organisation_id: uuid.UUID, body: LoadCurveConfirmation, now: datetime
) -> TradeDecisionOut:
    _lock_trades(session, organisation_id)
    trade = session.scalar(
        select(DayAheadTrade).where(DayAheadTrade.id == body.trade_id, DayAheadTrade.organisation_id == organisation_id)
    )
    if trade is None:
        raise NotFound("trade")
    if trade.status == TradeStatus.SUPERSEDED:
        raise Conflict("this trade was superseded by a later fetch of the load curves: decide the latest trade_id")
    if trade.status != TradeStatus.PROPOSED:
        raise Conflict(f"this trade was already {trade.status} at {_iso(trade.decided_at)}: it is decided once")
    zone, day = PriceZone(trade.zone), trade.delivery_day
    decided = decided_trade(session, organisation_id, zone, day)
    if decided is not None:
        raise Conflict(f"{day} in {zone} was already {decided.status} with trade {decided.id}")
    starts = _day_starts(zone, day)
    uploaded_at = session.scalar(
        select(func.max(PartnerPrice.uploaded_at)).where(
            PartnerPrice.organisation_id == organisation_id,
            PartnerPrice.zone == zone.value,
            PartnerPrice.start_s >= starts[0],
            PartnerPrice.start_s <= starts[-1],
        )
    )
    if uploaded_at is not None and uploaded_at > trade.created_at:
        # The plans now follow other prices than the curves this trade offered.
        raise Conflict(f"prices for {day} were uploaded after these curves were fetched: fetch them again")
    current_s = int(now.timestamp()) // STEP_S * STEP_S
    remaining = [start_s for start_s in starts if start_s >= current_s]
    if not remaining:
        raise Conflict(f"{day} is over in {zone}: there is nothing left to decide")
    sites = [[uuid.UUID(inverter_id) for inverter_id in site] for site in FleetOffer.of(trade).sites]
    if body.accepted:
        slot_count, unchanged = _commit(session, sites, remaining)
        trade.status = TradeStatus.ACCEPTED.value
    else:
        slot_count, unchanged = _release(session, organisation_id, trade.id, sites, remaining, now)
        trade.status = TradeStatus.REJECTED.value
    trade.decided_at = now
    session.flush()  # the trade is decided before the day's other proposals are superseded, not with them
    _supersede_proposals(session, organisation_id, zone, day)
    return TradeDecisionOut(
        trade_id=trade.id,
        date=day,
        price_zone=zone,
        status=TradeStatus(trade.status),
        decided_at=now,
        device_count=len(trade.inverter_ids),
        slot_count=slot_count,
        unchanged_devices=unchanged,
    )


def _commit(
    session: Session, sites: Sequence[Sequence[uuid.UUID]], starts: Sequence[int]
) -> tuple[int, list[UnchangedDevice]]:
    """Mark the devices' slots over `starts` committed, so re-plans keep them (`store_site_plan`)."""
    ids = [inverter_id for site in sites for inverter_id in site]
    in_range = and_(PlanSlot.start_s >= starts[0], PlanSlot.start_s <= starts[-1])
    counts: dict[uuid.UUID, int] = {}
    for which in _in_chunks(PlanSlot.inverter_id, ids):
        counted = select(PlanSlot.inverter_id, func.count()).where(which, in_range).group_by(PlanSlot.inverter_id)
        counts |= dict(session.execute(counted).all())
        session.execute(
            update(PlanSlot).where(which, in_range).values(committed=True).execution_options(synchronize_session=False)
        )
    unchanged = [
        UnchangedDevice(inverter_id=inverter_id, reason="it has no plan left for the rest of the day")
        for inverter_id in ids
        if not counts.get(inverter_id)
    ]
    return sum(counts.values()), unchanged


def _release(
    session: Session,
    organisation_id: uuid.UUID,
    trade_id: uuid.UUID,
    sites: Sequence[Sequence[uuid.UUID]],
    starts: Sequence[int],
    now: datetime,
) -> tuple[int, list[UnchangedDevice]]:
    """Replace the devices' slots over `starts` by plain self-consumption on the same forecasts,
    committed, each site with a planning run of its own that says why."""
    ids = [inverter_id for site in sites for inverter_id in site]
    inverters: dict[uuid.UUID, Inverter] = {}
    for which in _in_chunks(Inverter.id, ids):
        owned = session.scalars(select(Inverter).where(which, Inverter.organisation_id == organisation_id))
        inverters |= {inverter.id: inverter for inverter in owned}
    plans = _load_plans(session, list(_in_chunks(PlanSlot.inverter_id, ids)), starts[0] - STEP_S, starts[-1] + STEP_S)
    unchanged: list[UnchangedDevice] = []
    runs: list[PlanRun] = []
    rows: list[dict[str, Any]] = []
    released: list[uuid.UUID] = []
    capabilities = stored_capabilities(session, ids)
    for site_ids in sites:
        site = _site_slots([inverters.get(i) for i in site_ids], site_ids, plans, starts, capabilities)
        if isinstance(site, _Problem):
            unchanged += [UnchangedDevice(inverter_id=i, reason=site.said_of(i)) for i in site_ids]
            continue
        baseline = baseline_input(site)
        plan = self_consumption_plan(baseline)
        planned_run = plans.runs[site.lead[0].plan_run_id]
        run = PlanRun(
            id=uuid.uuid4(),
            organisation_id=organisation_id,
            site_id=planned_run.site_id,
            created_at=now,
            reason=REJECTION_REASON,
            horizon_start_s=starts[0],
            horizon_end_s=starts[-1] + STEP_S,
            source=PlanSource.RULE_BASED.value,
            message=f"day-ahead trade {trade_id} rejected: plain self-consumption for the rest of the day, committed",
            violations=[],
            objective_eur=None,
            expected_cost_eur=plan.total_cost_eur,
            solve_ms=None,
            price_source=planned_run.price_source,
        )
        runs.append(run)
        rows += [row | {"plan_run_id": run.id} for row in baseline_slots(site, baseline, plan)]
        released += site_ids
    session.add_all(runs)
    session.flush()
    in_range = and_(PlanSlot.start_s >= starts[0], PlanSlot.start_s <= starts[-1])
    for which in _in_chunks(PlanSlot.inverter_id, released):
        session.execute(delete(PlanSlot).where(which, in_range).execution_options(synchronize_session=False))
    if rows:
        session.execute(insert(PlanSlot), rows)
    return len(rows), unchanged


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
