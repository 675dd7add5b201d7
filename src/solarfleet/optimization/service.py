"""Planning: from the database's view of each site (limits, state of charge, history, prices) to a
stored plan per device. The LP itself is pure (`lp.py`); this module gathers its inputs and stores
its answers.

A site is a building with all its optimised inverters, or an inverter without a building. The
horizon runs from the current quarter hour to the end of today in the site's price zone, or to the
end of tomorrow once tomorrow's prices are all known.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from solarfleet.battery_physics import BatteryModel
from solarfleet.buildings.models import Building
from solarfleet.connectors.base import Capabilities, ControlMode
from solarfleet.forecasts.load import LoadForecast, forecast_load
from solarfleet.forecasts.pv import PvForecast, forecast_pv
from solarfleet.forecasts.validation import MeasuredSteps, StepGrid
from solarfleet.inverters.models import Inverter
from solarfleet.monitoring.models import ReadingRollup
from solarfleet.monitoring.store import stored_capabilities
from solarfleet.optimization.lp import SitePlanner
from solarfleet.optimization.models import PlanRun
from solarfleet.optimization.problem import BatteryPolicy, DeviceInput, SiteInput, SitePlan, energy_cost_eur
from solarfleet.optimization.store import StoredPlan, store_site_plan
from solarfleet.prices.zones import ZONE_LOCATIONS, PriceZone
from solarfleet.steering.commands import SlotIntent, planned_mode
from solarfleet.tariffs.book import TariffBook
from solarfleet.tariffs.service import load_tariff_book
from solarfleet.users.models import User

STEP_S = 900
HISTORY_DAYS = 28
# Nameplates rarely state it; lithium home batteries measure 0.88–0.95 AC to AC, so planning assumes
# the middle. Inference (battery capacity against energy moved) refines the capacity, not this.
ASSUMED_ROUND_TRIP_EFFICIENCY = 0.90
# On the demo fleet (8 battery homes, 7 simulated November days, synthetic prices) the self-consumption
# and grid-balancing homes lost 1.48 EUR against plain self-consumption undiscounted, and saved 0.09 EUR
# at 0.5 % an hour, 0.26 at 1 % and 0.27 at 3 % (see `discounted`).
DISCOUNT_PER_HOUR = 0.01


@dataclass(frozen=True)
class PlanningDevice:
    """What planning knows about one optimised inverter."""

    inverter_id: uuid.UUID
    organisation_id: uuid.UUID
    user_id: uuid.UUID
    building_id: uuid.UUID | None
    price_zone: PriceZone
    latitude: float
    longitude: float
    policy: BatteryPolicy
    forced_mode_allowed: bool
    pause_power_until: datetime | None
    is_trading_enabled: bool
    solar_power_rating_kw: float | None
    battery: BatteryModel | None
    battery_note: str | None  # why a connected battery is not planned
    soc_percent: float | None
    ac_limit_w: float | None
    can_curtail: bool

    @property
    def site_id(self) -> uuid.UUID:
        return self.building_id or self.inverter_id

    @property
    def timezone(self) -> str:
        return ZONE_LOCATIONS[self.price_zone].timezone


def battery_model(inverter: Inverter, capabilities: Capabilities | None) -> tuple[BatteryModel | None, str | None]:
    """The battery as planning sees it: capacity configured, else nameplate, else inferred; power limits
    from the nameplate, else inferred; the SoC window from the user's limits when enabled, else the
    device's reserve. None, with the reason, where a number the plan needs is unknown."""
    if not inverter.is_battery_connected:
        return None, None
    nameplate = capabilities.battery if capabilities is not None else None
    capacity_wh = _first(
        inverter.battery_capacity_kwh and inverter.battery_capacity_kwh * 1000.0,
        nameplate and nameplate.capacity_wh,
        inverter.inferred_battery_capacity_kwh and inverter.inferred_battery_capacity_kwh * 1000.0,
    )
    charge_w = _first(nameplate and nameplate.max_charge_w, inverter.inferred_max_charge_power_w)
    discharge_w = _first(nameplate and nameplate.max_discharge_w, inverter.inferred_max_discharge_power_w)
    missing = [
        name
        for name, value in (("capacity", capacity_wh), ("charge power", charge_w), ("discharge power", discharge_w))
        if not value
    ]
    if missing:
        return (
            None,
            f"the battery's {' and '.join(missing)} is not known yet (neither configured, nor on the "
            "nameplate, nor inferred), so the plan leaves it to the device",
        )
    if inverter.user_limits_enabled:
        floor = inverter.min_battery_charge or 0.0
        ceiling = inverter.max_battery_charge if inverter.max_battery_charge is not None else 100.0
    else:
        floor = _first(nameplate and nameplate.reserve_percent, inverter.inferred_min_battery_soc_percent) or 0.0
        ceiling = 100.0
    model = BatteryModel.of(capacity_wh, charge_w, discharge_w, ASSUMED_ROUND_TRIP_EFFICIENCY, floor, ceiling)
    return model, None


def _first(*values: float | None) -> float | None:
    return next((value for value in values if value), None)


def planning_devices(
    session: Session, inverter_ids: Iterable[uuid.UUID], capabilities: Mapping[uuid.UUID, Capabilities | None]
) -> list[PlanningDevice]:
    """The live inverters among `inverter_ids` whose partner turned smart optimisation on."""
    ids = list(inverter_ids)
    if not ids:
        return []
    query = (
        select(Inverter, Building.latitude, Building.longitude, User.latitude, User.longitude)
        .join(User, User.id == Inverter.user_id)
        .outerjoin(Building, Building.id == Inverter.building_id)
        .where(
            Inverter.id.in_(ids),
            Inverter.deleted_at.is_(None),
            Inverter.is_smart_optimization_active.is_(True),
        )
        .order_by(Inverter.id)
    )
    rows = session.execute(query).all()
    # A device the caller has no live description of is planned with the one its worker last stored.
    stored = stored_capabilities(session, [row[0].id for row in rows if capabilities.get(row[0].id) is None])
    devices = []
    for inverter, building_lat, building_lon, user_lat, user_lon in rows:
        zone = PriceZone(inverter.price_zone)
        if building_lat is not None and building_lon is not None:
            latitude, longitude = building_lat, building_lon
        elif user_lat is not None and user_lon is not None:
            latitude, longitude = user_lat, user_lon
        else:
            latitude, longitude = ZONE_LOCATIONS[zone].latitude, ZONE_LOCATIONS[zone].longitude
        device_capabilities = capabilities.get(inverter.id) or stored.get(inverter.id)
        battery, note = battery_model(inverter, device_capabilities)
        controls = device_capabilities.controls if device_capabilities else frozenset()
        devices.append(
            PlanningDevice(
                inverter_id=inverter.id,
                organisation_id=inverter.organisation_id,
                user_id=inverter.user_id,
                building_id=inverter.building_id,
                price_zone=zone,
                latitude=latitude,
                longitude=longitude,
                policy=BatteryPolicy(inverter.battery_policy),
                forced_mode_allowed=inverter.is_inverter_forced_mode_enabled,
                pause_power_until=inverter.pause_power_until,
                is_trading_enabled=inverter.is_trading_enabled,
                solar_power_rating_kw=inverter.solar_power_rating_kw,
                battery=battery,
                battery_note=note,
                soc_percent=inverter.battery_charge_level_percent,
                ac_limit_w=device_capabilities.ac_limit_w if device_capabilities else None,
                can_curtail=bool(controls & {ControlMode.CURTAIL, ControlMode.PAUSE}),
            )
        )
    return devices


def horizon(zone: PriceZone, now: datetime, through_tomorrow: bool) -> StepGrid:
    """From the current quarter hour to the end of today in the zone, or to the end of tomorrow."""
    start_s = int(now.timestamp()) // STEP_S * STEP_S
    local_today = now.astimezone(ZoneInfo(ZONE_LOCATIONS[zone].timezone)).date()
    end = _local_midnight(zone, local_today + timedelta(days=2 if through_tomorrow else 1))
    return StepGrid.from_epoch(start_s, max(int(end.timestamp()) - start_s, STEP_S) // STEP_S)


def _local_midnight(zone: PriceZone, day: date) -> datetime:
    tz = ZoneInfo(ZONE_LOCATIONS[zone].timezone)
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


@dataclass
class _History:
    solar: MeasuredSteps
    household: MeasuredSteps


@dataclass
class _Forecasts:
    """One device's forecasts for one local day's planning: made once, sliced for every re-plan that day."""

    made_for: date
    grid: StepGrid
    pv: PvForecast
    load: LoadForecast


@dataclass
class SiteOutcome:
    site_id: uuid.UUID
    inverter_ids: list[uuid.UUID]
    plan: SitePlan | None
    skipped: str | None = None  # why no plan was made


@dataclass
class PlanningRound:
    planned: list[SiteOutcome] = field(default_factory=list)
    skipped: list[SiteOutcome] = field(default_factory=list)
    solve_seconds: float = 0.0


class PlanningService:
    """Plans sites and stores the plans. Holds the LP models (one per shape, re-solved) and each
    device's forecasts of the day, so a worker re-planning every quarter hour does the heavy work once."""

    def __init__(self) -> None:
        self.planner = SitePlanner()
        self._forecasts: dict[uuid.UUID, _Forecasts] = {}

    def plan(
        self,
        session: Session,
        devices: Sequence[PlanningDevice],
        now: datetime,
        reason: str,
    ) -> PlanningRound:
        result = PlanningRound()
        if not devices:
            return result
        sites: dict[uuid.UUID, list[PlanningDevice]] = defaultdict(list)
        for device in devices:
            sites[device.site_id].append(device)
        latest_start = max(_local_midnight(d.price_zone, now.date() + timedelta(days=3)) for d in devices)
        first_step = datetime.fromtimestamp(int(now.timestamp()) // STEP_S * STEP_S, UTC)
        book = load_tariff_book(session, devices, first_step, latest_start)
        for site_id, members in sites.items():
            outcome = self._plan_site(session, site_id, members, book, now, reason)
            (result.planned if outcome.plan is not None else result.skipped).append(outcome)
            if outcome.plan is not None and outcome.plan.solve_seconds:
                result.solve_seconds += outcome.plan.solve_seconds
        return result

    def _plan_site(
        self,
        session: Session,
        site_id: uuid.UUID,
        members: list[PlanningDevice],
        book: TariffBook,
        now: datetime,
        reason: str,
    ) -> SiteOutcome:
        ids = [d.inverter_id for d in members]
        lead = members[0]  # the devices of one building share its contract, zone and house
        grid = horizon(lead.price_zone, now, through_tomorrow=True)
        prices = book.prices(lead, grid.start, grid.count)
        if prices.missing.any():  # tomorrow's prices are not published yet: plan the rest of today
            grid = horizon(lead.price_zone, now, through_tomorrow=False)
            prices = book.prices(lead, grid.start, grid.count)
        missing = int(np.count_nonzero(prices.missing))
        if missing:
            return SiteOutcome(site_id, ids, None, f"no prices for {missing} of the {grid.count} quarter hours ahead")
        forecasts = [self._forecasts_for(session, device, grid) for device in members]
        pv_missing = [f.pv.reason for f in forecasts if not f.pv.available]
        if pv_missing:
            return SiteOutcome(site_id, ids, None, f"no PV forecast: {pv_missing[0]}")
        load = forecasts[0].load
        if not load.available:
            return SiteOutcome(site_id, ids, None, f"no load forecast: {load.reason}")
        site = SiteInput(
            start=grid.start,
            import_price=prices.import_price,
            export_price=prices.export_price,
            load_w=_slice(load.values_w, load.grid, grid),
            devices=tuple(
                self._device_input(device, _slice(f.pv.values_w, f.pv.grid, grid), grid)
                for device, f in zip(members, forecasts, strict=True)
            ),
        )
        plan = self.planner.solve(discounted(site))
        plan = replace(plan, cost_eur=energy_cost_eur(plan.import_w, plan.export_w, site))
        run = PlanRun(
            id=uuid.uuid4(),
            organisation_id=lead.organisation_id,
            site_id=site_id,
            created_at=now,
            reason=reason,
            horizon_start_s=grid.start_s,
            horizon_end_s=grid.start_s + grid.count * STEP_S,
            source=plan.source.value,
            message=_message(plan, members),
            violations=[{"limit": v.limit, "step": v.step, "amount": round(v.amount, 3)} for v in plan.violations],
            objective_eur=plan.objective,
            expected_cost_eur=plan.total_cost_eur,
            solve_ms=plan.solve_seconds * 1000.0 if plan.solve_seconds is not None else None,
            price_source=prices.source.value,
        )
        store_site_plan(session, run, _stored_plans(site, plan, members, grid))
        return SiteOutcome(site_id, ids, plan)

    def _device_input(self, device: PlanningDevice, pv_w: np.ndarray, grid: StepGrid) -> DeviceInput:
        starts = grid.bucket_s()
        paused = None
        if device.pause_power_until is not None:
            paused = starts < int(device.pause_power_until.timestamp())
        soc_wh = 0.0
        if device.battery is not None:
            soc = device.soc_percent if device.soc_percent is not None else 0.0
            soc_wh = device.battery.capacity_wh * soc / 100.0
        if device.ac_limit_w is not None:
            pv_w = np.minimum(pv_w, device.ac_limit_w)
        return DeviceInput(
            pv_w=pv_w,
            battery=device.battery,
            soc_start_wh=soc_wh,
            ac_limit_w=device.ac_limit_w,
            can_curtail=device.can_curtail,
            policy=device.policy,
            forced_mode_allowed=device.forced_mode_allowed,
            paused=paused,
        )

    def _forecasts_for(self, session: Session, device: PlanningDevice, grid: StepGrid) -> _Forecasts:
        local_day = grid.start.astimezone(ZoneInfo(device.timezone)).date()
        cached = self._forecasts.get(device.inverter_id)
        if cached is not None and cached.made_for == local_day and cached.grid.end >= grid.end:
            return cached
        # Made for the whole of today and tomorrow, so the re-plans of the day only slice it.
        day_start = int(_local_midnight(device.price_zone, local_day).timestamp()) // STEP_S * STEP_S
        start_s = min(day_start, grid.start_s)
        end_s = int(_local_midnight(device.price_zone, local_day + timedelta(days=2)).timestamp())
        full = StepGrid.from_epoch(start_s, (max(end_s, grid.start_s + grid.count * STEP_S) - start_s) // STEP_S)
        history = _history(session, device.inverter_id, start_s)
        made = _Forecasts(
            local_day,
            full,
            forecast_pv(full, device.latitude, device.longitude, history.solar, device.solar_power_rating_kw),
            forecast_load(full, history.household, device.timezone),
        )
        self._forecasts[device.inverter_id] = made
        return made


def discounted(site: SiteInput) -> SiteInput:
    """The site with its prices discounted by DISCOUNT_PER_HOUR into the future, as the plan sees them.

    A kWh used now saves for certain; one held back for later saves only if the forecasts were right.
    Undiscounted, the plan holds a full battery back for an hour a few EUR/MWh dearer, and an unforeseen
    load (an electric car arriving) or an early sun that refills the battery turns that into a loss.
    """
    hours = np.arange(site.steps) * site.step_hours
    factor = (1.0 - DISCOUNT_PER_HOUR) ** hours
    return replace(site, import_price=site.import_price * factor, export_price=site.export_price * factor)


def _history(session: Session, inverter_id: uuid.UUID, until_s: int) -> _History:
    rows = session.execute(
        select(ReadingRollup.bucket_s, ReadingRollup.solar_wh, ReadingRollup.household_wh, ReadingRollup.covered_s)
        .where(
            ReadingRollup.inverter_id == inverter_id,
            ReadingRollup.resolution == "15MIN",
            ReadingRollup.bucket_s >= until_s - HISTORY_DAYS * 86_400,
            ReadingRollup.bucket_s < until_s,
        )
        .order_by(ReadingRollup.bucket_s)
    ).all()
    bucket_s = np.array([r[0] for r in rows], dtype=np.int64)
    covered = np.array([r[3] for r in rows], dtype=float)
    solar = np.array([np.nan if r[1] is None else r[1] for r in rows], dtype=float)
    household = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=float)
    return _History(MeasuredSteps(bucket_s, solar, covered), MeasuredSteps(bucket_s, household, covered))


def _slice(values: np.ndarray, made_on: StepGrid, wanted: StepGrid) -> np.ndarray:
    offset = (wanted.start_s - made_on.start_s) // STEP_S
    return np.asarray(values[offset : offset + wanted.count], dtype=float)


def _message(plan: SitePlan, members: list[PlanningDevice]) -> str | None:
    notes = [plan.message] if plan.message else []
    notes += [f"inverter {d.inverter_id}: {d.battery_note}" for d in members if d.battery_note]
    return "; ".join(notes) or None


def _stored_plans(site: SiteInput, plan: SitePlan, members: list[PlanningDevice], grid: StepGrid) -> list[StoredPlan]:
    starts = grid.bucket_s()
    total_pv = sum(device.pv_w for device in site.devices)
    battery_total = sum(d.battery_w for d in plan.devices)
    grid_w = plan.grid_w
    stored = []
    for device, device_input, device_plan in zip(members, site.devices, plan.devices, strict=True):
        battery = device_input.battery
        others = battery_total - device_plan.battery_w
        rows = []
        for index, start_s in enumerate(starts.tolist()):
            battery_w = float(device_plan.battery_w[index]) if battery is not None else None
            intent = SlotIntent(
                battery_power_w=battery_w,
                # what self-consumption would ask of this battery: the house's deficit after the PV and
                # the other batteries of the building
                expected_solar_w=float(total_pv[index] + others[index]),
                expected_load_w=float(site.load_w[index]),
                curtail_w=float(device_plan.curtail_w[index]),
                paused=bool(device_input.paused[index]) if device_input.paused is not None else False,
                policy=device.policy,
                max_power_w=max(battery.max_charge_w, battery.max_discharge_w) if battery else None,
            )
            rows.append(
                {
                    "start_s": start_s,
                    "duration_s": STEP_S,
                    "mode": planned_mode(intent).value,
                    "battery_power_w": battery_w,
                    "target_soc_percent": (
                        float(100.0 * device_plan.soc_wh[index] / battery.capacity_wh) if battery else None
                    ),
                    "curtail_w": float(device_plan.curtail_w[index]),
                    "expected_solar_w": float(device_input.pv_w[index] - device_plan.curtail_w[index]),
                    "expected_load_w": float(site.load_w[index]),
                    "expected_grid_w": float(grid_w[index]),
                    "import_price_eur_mwh": float(site.import_price[index]),
                    "export_price_eur_mwh": float(site.export_price[index]),
                    "expected_cost_eur": float(plan.cost_eur[index]),
                    "committed": False,
                }
            )
        stored.append(StoredPlan(device.inverter_id, rows))
    return stored
