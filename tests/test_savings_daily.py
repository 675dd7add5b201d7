"""The daily savings job, on both databases.

The key test runs the real pipeline: two simulated homes are monitored, planned and steered for a week
of winter on a stepped clock, one against day-ahead prices that swing between cheap nights and dear
evenings, the other against flat ones; the daily job then prices every closed day. Steering has to
pay off in the first home and must come out even in the second. Their panels are small, so what the
battery can gain depends on the prices and not on how well a few days of history forecast the sun.

The other tests feed the job quarter-hour rollups written directly from a few arrays (a house, its
panels, a battery obeying the same physics as everywhere), which is quicker and sets each case up exactly.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import event, func, select

from solarfleet.battery_physics import BatteryModel
from solarfleet.connectors.registry import ConnectorContext
from solarfleet.connectors.simulator.clock import SimulationClock
from solarfleet.credentials_cipher import CredentialsCipher
from solarfleet.demo import add_simulated_inverter, home_parameters
from solarfleet.forecasts.models import ForecastError
from solarfleet.inverters.models import Inverter
from solarfleet.monitoring.models import ReadingRollup
from solarfleet.monitoring.pipeline import MonitoringSettings, MonitoringWorker
from solarfleet.optimization.models import PlanRun, PlanSlot
from solarfleet.organisations.service import create_organisation
from solarfleet.prices.models import ZonePrice
from solarfleet.prices.zones import ZONE_LOCATIONS, PriceZone
from solarfleet.savings.accounting import local_midnight
from solarfleet.savings.daily import fill_history, run_daily
from solarfleet.savings.models import SavingsDay
from solarfleet.steering.loop import SteeringLoop
from solarfleet.tariffs.models import OrganisationTariff
from solarfleet.users.models import User

CIPHER = CredentialsCipher([Fernet.generate_key()])
VIENNA = ZoneInfo("Europe/Vienna")
TZ = "Europe/Vienna"
START = datetime(2026, 11, 30, tzinfo=VIENNA).astimezone(UTC)  # a Monday, local midnight
DAYS = 8
# Grid fees and levies on every imported MWh, and a fixed feed-in tariff: self-consumption pays.
IMPORT_COMPONENTS, FEED_IN = 150.0, 70.0


def zone_prices(zone: PriceZone, price_of_hour, days: int) -> list[ZonePrice]:
    rows = []
    for step in range(days * 96):
        start = START + timedelta(minutes=15 * step)
        price = price_of_hour(start.astimezone(VIENNA).hour)
        rows.append(
            ZonePrice(
                zone=zone.value,
                start_s=int(start.timestamp()),
                resolution_s=900,
                price_eur_mwh=price,
                source="synthetic",
            )
        )
    return rows


def swinging(hour: int) -> float:
    """Cheap nights (cheapest 02–04), dear evenings (17–21), middling days: EUR/MWh."""
    if 2 <= hour < 4:
        return 10.0
    if hour < 6:
        return 40.0
    if 17 <= hour < 21:
        return 320.0
    return 110.0


def flat(_hour: int) -> float:
    return 110.0


def organisation(session, name: str) -> uuid.UUID:
    issued = create_organisation(session, f"{name} {uuid.uuid4().hex[:6]}")
    session.add(
        OrganisationTariff(
            organisation_id=issued.org_id, import_components_eur_mwh=IMPORT_COMPONENTS, feed_in_tariff_eur_mwh=FEED_IN
        )
    )
    return issued.org_id


def owner(session, organisation_id: uuid.UUID) -> User:
    user = User(organisation_id=organisation_id, email=f"{uuid.uuid4().hex[:8]}@example.com")
    session.add(user)
    session.flush()
    return user


def steered_home(session, user: User, zone: PriceZone, seed: int) -> uuid.UUID:
    """A home with 2 kWp of PV and a 10 kWh battery, steered with grid charging allowed. A seed names one simulated home
    (its weather and household), so the two homes of a test need two seeds."""
    place = ZONE_LOCATIONS[zone]
    parameters = home_parameters(
        random.Random(seed), seed, zone, place.latitude, place.longitude, pv_kwp=2.0, battery_kwh=10.0
    )
    inverter = add_simulated_inverter(session, CIPHER, user, parameters, zone)
    inverter.is_smart_optimization_active = True
    inverter.battery_policy = "Optimize grid balancing"
    inverter.is_inverter_forced_mode_enabled = True
    return inverter.id


def test_a_steered_week_saves_against_swinging_prices_and_nothing_against_flat_ones(database) -> None:
    with database.session() as session:
        session.add_all(zone_prices(PriceZone.AT, swinging, DAYS + 2) + zone_prices(PriceZone.DE_LU, flat, DAYS + 2))
        user = owner(session, organisation(session, "Savings"))
        swung, even = steered_home(session, user, PriceZone.AT, 5), steered_home(session, user, PriceZone.DE_LU, 6)
    worker = MonitoringWorker(
        database,
        CIPHER,
        ConnectorContext(clock=SimulationClock.stepped(START)),
        MonitoringSettings(default_poll_interval=timedelta(minutes=1)),
        steering=SteeringLoop(database),
    )
    worker.load()
    end = START + timedelta(days=DAYS, minutes=20)  # the last day closed and rolled up
    asyncio.run(worker.replay(end, timedelta(minutes=1)))

    run = run_daily(database, end, days_back=DAYS)
    assert run.savings_days == 2 * DAYS
    with database.session(write=False) as session:
        days = {
            inverter_id: session.scalars(
                select(SavingsDay).where(SavingsDay.inverter_id == inverter_id).order_by(SavingsDay.day)
            ).all()
            for inverter_id in (swung, even)
        }
        scores = {i: session.get(Inverter, i).optimization_score for i in (swung, even)}
        errors = session.scalar(select(func.count()).select_from(ForecastError))

    for rows in days.values():
        assert [row.day for row in rows] == [date(2026, 11, 30) + timedelta(days=d) for d in range(DAYS)]
        assert all(row.steps == 96 for row in rows)  # every quarter hour measured and priced
    saved = {i: sum(r.baseline_cost_eur - r.actual_cost_eur for r in rows) for i, rows in days.items()}
    baseline = {i: sum(r.baseline_cost_eur for r in rows) for i, rows in days.items()}

    # Against swinging prices the plan charges at night and covers the evening: it saves real money.
    assert saved[swung] > 0.1 * baseline[swung]
    # Against flat prices there is nothing to gain over self-consumption, and nothing may be claimed.
    assert abs(saved[even]) < 0.02 * baseline[even]

    perfect = sum(r.baseline_cost_eur - r.perfect_cost_eur for r in days[swung])
    assert perfect > saved[swung]  # the LP knowing each day in advance beats what was realised
    assert scores[swung] is not None
    assert 0 < scores[swung] <= 100
    assert scores[even] is None  # flat prices: even knowing everything there was nothing to gain
    assert errors > 0  # the plans' forecasts were checked against what happened


# -- the job on rollups written directly ------------------------------------------------------------------

JUNE = date(2026, 6, 1)  # a Monday; no clock change near
QUARTERS = 96


def at_local(day: date, hour: float = 0.0) -> datetime:
    return local_midnight(day, TZ) + timedelta(hours=hour)


def write_rollups(session, inverter_id: uuid.UUID, start: datetime, **columns) -> None:
    """Quarter-hour rollups from `start`, fully covered: energies in Wh (solar_wh, household_wh, import_wh,
    export_wh, charge_wh, discharge_wh) and `soc_percent`, one value per quarter hour, None = not measured."""
    count = len(next(iter(columns.values())))
    soc = columns.pop("soc_percent", [None] * count)
    for index in range(count):
        values = {name: None if np.isnan(v[index]) else float(v[index]) for name, v in columns.items()}
        session.add(
            ReadingRollup(
                inverter_id=inverter_id,
                resolution="15MIN",
                bucket_s=int(start.timestamp()) + 900 * index,
                samples=15,
                covered_s=900.0,
                soc_weighted=None if soc[index] is None else soc[index] * 900.0,
                soc_covered_s=None if soc[index] is None else 900.0,
                **values,
            )
        )


def store_prices(session, first: date, days: int, price_of_hour) -> None:
    start = at_local(first)
    for step in range(days * QUARTERS + 8):
        moment = start + timedelta(minutes=15 * step)
        session.add(
            ZonePrice(
                zone="AT",
                start_s=int(moment.timestamp()),
                resolution_s=900,
                price_eur_mwh=price_of_hour(moment.astimezone(VIENNA).hour),
                source="synthetic",
            )
        )


def inverter(session, user: User, **fields) -> Inverter:
    device = Inverter(organisation_id=user.organisation_id, user_id=user.id, price_zone="AT", **fields)
    session.add(device)
    session.flush()
    return device


def sunny_day(peak_w: float = 4000.0) -> np.ndarray:
    """PV per quarter hour of a local day (W): a bell from 06:00 to 20:00."""
    hours = np.arange(QUARTERS) / 4 + 0.125
    return np.clip(np.sin((hours - 6) / 14 * np.pi), 0, None) * peak_w


def no_battery_flows(solar_w: np.ndarray, household_w: np.ndarray) -> dict[str, np.ndarray]:
    net_wh = (household_w - solar_w) / 4
    return {
        "solar_wh": solar_w / 4,
        "household_wh": household_w / 4,
        "import_wh": np.clip(net_wh, 0, None),
        "export_wh": np.clip(-net_wh, 0, None),
    }


def test_closed_days_are_stored_and_a_second_run_stores_the_same(database) -> None:
    house = np.full(QUARTERS, 500.0)
    with database.session() as session:
        store_prices(session, JUNE, 4, swinging)
        user = owner(session, organisation(session, "Daily"))
        plain = inverter(session, user, solar_power_rating_kw=5.0).id
        gone = inverter(session, user, deleted_at=datetime(2026, 6, 2, tzinfo=UTC)).id
        for device in (plain, gone):
            # Monday and Wednesday, and the first hours of Thursday; nothing on Tuesday
            for day in (JUNE, JUNE + timedelta(days=2)):
                write_rollups(session, device, at_local(day), **no_battery_flows(sunny_day(), house))
            write_rollups(
                session, device, at_local(JUNE + timedelta(days=3)), **no_battery_flows(np.zeros(8), house[:8])
            )

    now = at_local(JUNE + timedelta(days=3), 2.0)
    first = run_daily(database, now, days_back=3)
    with database.session(write=False) as session:
        rows = session.scalars(select(SavingsDay).order_by(SavingsDay.day)).all()
        stored = [(r.inverter_id, r.day, r.steps, r.actual_cost_eur, r.baseline_cost_eur, r.solar_wh) for r in rows]
    # the deleted inverter is left alone; Tuesday had no data; Thursday has not ended
    assert [(r.inverter_id, r.day) for r in rows] == [(plain, JUNE), (plain, JUNE + timedelta(days=2))]
    assert (first.inverters, first.savings_days) == (1, 2)
    monday = rows[0]
    assert monday.steps == QUARTERS
    spot = np.array([swinging(h // 4) for h in range(QUARTERS)])
    flows = no_battery_flows(sunny_day(), house)
    expected = float((flows["import_wh"] * (spot + IMPORT_COMPONENTS) - flows["export_wh"] * FEED_IN).sum() / 1e6)
    assert monday.actual_cost_eur == pytest.approx(expected)
    assert monday.baseline_cost_eur == pytest.approx(expected)  # without a battery, self-consumption is what happened
    assert monday.solar_wh == pytest.approx(sunny_day().sum() / 4)
    assert monday.household_wh == pytest.approx(500.0 * 24)
    assert monday.baseline_import_wh == pytest.approx(flows["import_wh"].sum())
    assert monday.perfect_cost_eur == pytest.approx(expected, abs=1e-6)  # nothing to steer either

    again = run_daily(database, now, days_back=3)
    with database.session(write=False) as session:
        rows = session.scalars(select(SavingsDay).order_by(SavingsDay.day)).all()
    assert again.savings_days == first.savings_days
    assert [(r.inverter_id, r.day, r.steps, r.actual_cost_eur, r.baseline_cost_eur, r.solar_wh) for r in rows] == stored

    # the demo's hook: every day its history touched
    assert fill_history(database, now, history_days=3.1).savings_days == 2


def test_a_battery_of_unknown_size_keeps_its_energies_but_counts_no_money(database) -> None:
    with database.session() as session:
        store_prices(session, JUNE, 1, swinging)
        user = owner(session, organisation(session, "Unknown battery"))
        device = inverter(session, user, is_battery_connected=True).id  # no capacity configured or inferred
        flows = no_battery_flows(sunny_day(), np.full(QUARTERS, 400.0))
        write_rollups(session, device, at_local(JUNE), **flows, soc_percent=[50.0] * QUARTERS)
    run_daily(database, at_local(JUNE + timedelta(days=1), 1.0), days_back=1)
    with database.session(write=False) as session:
        [row] = session.scalars(select(SavingsDay)).all()
        score = session.get(Inverter, device).optimization_score
    assert (row.steps, row.actual_cost_eur, row.baseline_cost_eur, row.perfect_cost_eur) == (0, 0.0, 0.0, None)
    assert row.solar_wh == pytest.approx(flows["solar_wh"].sum())
    assert score is None


def operate(
    solar_w: np.ndarray, household_w: np.ndarray, wanted_w: np.ndarray, soc_wh: float
) -> tuple[dict[str, np.ndarray], float]:
    """What the meter and the battery (CELLS) record when the battery is asked for `wanted_w` (+ discharging)
    per quarter hour, and its charge at the end; the SoC of a quarter hour is the mean of its ends."""
    battery_w, socs = np.zeros(len(wanted_w)), []
    for index, wanted in enumerate(wanted_w):
        battery_w[index], after = CELLS.step(float(wanted), soc_wh, 0.25)
        socs.append((soc_wh + after) / 2 / CELLS.capacity_wh * 100)
        soc_wh = after
    net_wh = (household_w - solar_w - battery_w) / 4
    flows = {
        "solar_wh": solar_w / 4,
        "household_wh": household_w / 4,
        "import_wh": np.clip(net_wh, 0, None),
        "export_wh": np.clip(-net_wh, 0, None),
        "charge_wh": np.clip(-battery_w, 0, None) / 4,
        "discharge_wh": np.clip(battery_w, 0, None) / 4,
        "soc_percent": socs,
    }
    return flows, soc_wh


CELLS = BatteryModel.of(10_000.0, 4000.0, 4000.0, 0.9, floor_percent=10.0)
BATTERY = {
    "is_battery_connected": True,
    "battery_capacity_kwh": 10.0,
    "inferred_max_charge_power_w": 4000.0,
    "inferred_max_discharge_power_w": 4000.0,
    "inferred_min_battery_soc_percent": 10.0,
}


def test_a_battery_held_half_full_on_a_sunny_day_pays_for_it_on_the_cloudy_one(database) -> None:
    """Why the baseline runs through the week: on Monday the battery only serves the house and the whole
    PV surplus is exported; on Tuesday, cloudy, the house imports what a full battery would have covered."""
    house = np.full(QUARTERS, 400.0)
    sun, clouds = sunny_day(5000.0), sunny_day(300.0)
    monday, charge = operate(sun, house, np.clip(house - sun, 0, None), 6000.0)  # serves the house, never charges
    tuesday, _ = operate(clouds, house, house - clouds, charge)  # plain self-consumption
    with database.session() as session:
        store_prices(session, JUNE, 2, flat)
        device = inverter(session, owner(session, organisation(session, "Held")), **BATTERY).id
        for day, flows in ((JUNE, monday), (JUNE + timedelta(days=1), tuesday)):
            write_rollups(session, device, at_local(day), **flows)
    run_daily(database, at_local(JUNE + timedelta(days=2), 0.5), days_back=2)
    with database.session(write=False) as session:
        rows = session.scalars(select(SavingsDay).order_by(SavingsDay.day)).all()
    assert [r.day for r in rows] == [JUNE, JUNE + timedelta(days=1)]
    first, second = (r.baseline_cost_eur - r.actual_cost_eur for r in rows)
    assert first > 0  # the export earned on Monday
    assert rows[1].baseline_import_wh < rows[1].import_wh  # a full battery would have carried Tuesday
    assert first + second < 0  # and the week shows the loss: exported at 70, bought back at 260


def arbitrage_day() -> dict[str, np.ndarray]:
    """A winter day without sun: the battery charges from the grid 02–04 and covers the house 17–24."""
    hours = np.arange(QUARTERS) / 4
    house = np.full(QUARTERS, 500.0)
    wanted = np.where((hours >= 2) & (hours < 4), -1500.0, np.where(hours >= 17, house, 0.0))
    flows, _ = operate(np.zeros(QUARTERS), house, wanted, 1000.0)
    return flows


def test_the_optimisation_score_needs_a_day_of_data_and_lies_between_0_and_100(database) -> None:
    flows = arbitrage_day()
    half = {name: np.asarray(values)[:48] for name, values in flows.items()}
    rest = {name: np.asarray(values)[48:] for name, values in flows.items()}
    with database.session() as session:
        store_prices(session, JUNE, 1, swinging)
        user = owner(session, organisation(session, "Score"))
        device = inverter(
            session,
            user,
            **BATTERY,
            battery_policy="Optimize grid balancing",
            is_inverter_forced_mode_enabled=True,
        ).id
        write_rollups(session, device, at_local(JUNE), **half)
    now = at_local(JUNE + timedelta(days=1), 0.5)
    assert run_daily(database, now, days_back=1).scored == 0
    with database.session() as session:
        assert session.get(Inverter, device).optimization_score is None  # half a day: too little to judge
        write_rollups(session, device, at_local(JUNE, 12.0), **rest)
    assert run_daily(database, now, days_back=1).scored == 1
    with database.session(write=False) as session:
        [row] = session.scalars(select(SavingsDay)).all()
        score = session.get(Inverter, device).optimization_score
    realised = row.baseline_cost_eur - row.actual_cost_eur
    possible = row.baseline_cost_eur - row.perfect_cost_eur
    assert 0 < realised < possible  # the shift paid; knowing the day, the LP shifts more, and better
    assert score == pytest.approx(realised / possible * 100)
    assert 0 < score < 100


def test_the_plans_forecasts_are_checked_against_what_happened(database) -> None:
    sun, house = sunny_day(), np.full(QUARTERS, 500.0)
    with database.session() as session:
        store_prices(session, JUNE, 1, flat)
        user = owner(session, organisation(session, "Forecasts"))
        device = inverter(session, user, solar_power_rating_kw=5.0, is_smart_optimization_active=True)
        write_rollups(session, device.id, at_local(JUNE), **no_battery_flows(sun, house))
        run = PlanRun(
            organisation_id=user.organisation_id,
            site_id=device.id,
            reason="slot",
            horizon_start_s=int(at_local(JUNE).timestamp()),
            horizon_end_s=int(at_local(JUNE, 12).timestamp()),
            source="linear_program",
            expected_cost_eur=0.0,
            price_source="synthetic",
        )
        session.add(run)
        session.flush()
        for index in range(48):  # the morning was planned: PV expected 200 W too high, load 50 W too low
            session.add(
                PlanSlot(
                    inverter_id=device.id,
                    start_s=run.horizon_start_s + 900 * index,
                    duration_s=900,
                    plan_run_id=run.id,
                    mode="self_consumption",
                    curtail_w=100.0,
                    expected_solar_w=sun[index] + 100.0,  # after curtailing 100 W
                    expected_load_w=450.0,
                    expected_grid_w=0.0,
                    import_price_eur_mwh=110.0,
                    export_price_eur_mwh=110.0,
                    expected_cost_eur=0.0,
                )
            )
    assert run_daily(database, at_local(JUNE + timedelta(days=1), 0.5), days_back=1).forecast_errors == 2
    with database.session(write=False) as session:
        errors = {e.quantity: e for e in session.scalars(select(ForecastError))}
    pv, load = errors["pv"], errors["load"]
    assert (pv.day, pv.steps, load.steps) == (JUNE, 48, 48)
    assert (pv.bias_w, pv.mae_w) == (pytest.approx(200.0), pytest.approx(200.0))
    assert pv.nmae == pytest.approx(200.0 / sun[:48].mean())
    assert (load.bias_w, load.mae_w, load.nmae) == (pytest.approx(-50.0), pytest.approx(50.0), pytest.approx(0.1))


def test_a_run_reads_per_chunk_not_per_day_or_inverter(database) -> None:
    """The number of statements a run sends does not grow with the days or the inverters it computes."""
    house = np.full(QUARTERS, 500.0)
    with database.session() as session:
        store_prices(session, JUNE, 6, swinging)
        user = owner(session, organisation(session, "Fleet"))
        devices = [inverter(session, user).id for _ in range(4)]
        for device in devices:
            for offset in range(6):
                write_rollups(
                    session, device, at_local(JUNE + timedelta(days=offset)), **no_battery_flows(sunny_day(), house)
                )
    now = at_local(JUNE + timedelta(days=6), 0.5)
    statements = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731 - the statement of each cursor execute
    event.listen(database.engine, "before_cursor_execute", listen)
    try:
        counts = []
        for ids, days_back in ((devices[:1], 1), (devices[:1], 6), (devices, 6)):
            statements.clear()
            run_daily(database, now, inverter_ids=ids, days_back=days_back)
            counts.append(len(statements))
    finally:
        event.remove(database.engine, "before_cursor_execute", listen)
    assert counts[0] == counts[1] == counts[2], counts
