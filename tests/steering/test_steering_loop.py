"""The steering loop end to end: a simulated home is planned against prices, the current slot becomes a
command, the battery's measured behaviour follows it and the read-back confirms it.

A stepped simulation clock drives monitoring and steering; each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from solarfleet.connectors.registry import ConnectorContext
from solarfleet.connectors.simulator.clock import SimulationClock
from solarfleet.connectors.simulator.home import BatterySpec, HomeParameters, SimulatedHome
from solarfleet.credentials_cipher import CredentialsCipher
from solarfleet.demo import add_simulated_inverter, home_parameters
from solarfleet.inverters.models import Inverter
from solarfleet.monitoring.pipeline import MonitoringSettings, MonitoringWorker
from solarfleet.monitoring.store import add_device_connection
from solarfleet.optimization.models import PlanRun, PlanSlot
from solarfleet.organisations.service import create_organisation
from solarfleet.prices.models import ZonePrice
from solarfleet.prices.zones import ZONE_LOCATIONS, PriceZone
from solarfleet.steering.loop import SteeringLoop
from solarfleet.steering.models import SteeringCommand
from solarfleet.users.models import User
from stand_ins.sunspec import SunSpecStandIn

CIPHER = CredentialsCipher([Fernet.generate_key()])
VIENNA = ZoneInfo("Europe/Vienna")
# Winter: little PV, so a battery can only be filled cheaply from the grid at night.
START = datetime(2026, 12, 1, tzinfo=VIENNA).astimezone(UTC)
CHEAPEST, NIGHT, EVENING = 20.0, 60.0, 300.0


def night_and_evening_prices(database, days: int = 4) -> None:
    """Cheap nights (00–06 local, cheapest 02–04), dear evenings (17–21), middling otherwise: EUR/MWh."""
    rows = []
    for step in range(days * 96):
        start = START + timedelta(minutes=15 * step)
        hour = start.astimezone(VIENNA).hour
        price = CHEAPEST if 2 <= hour < 4 else NIGHT if hour < 6 else EVENING if 17 <= hour < 21 else 100.0
        rows.append(
            ZonePrice(
                zone="AT", start_s=int(start.timestamp()), resolution_s=900, price_eur_mwh=price, source="synthetic"
            )
        )
    with database.session() as session:
        session.add_all(rows)


def steered_home(database, **flags) -> uuid.UUID:
    with database.session() as session:
        issued = create_organisation(session, f"Steering {uuid.uuid4().hex[:6]}")
        user = User(organisation_id=issued.org_id, email=f"{uuid.uuid4().hex[:8]}@example.com")
        session.add(user)
        session.flush()
        place = ZONE_LOCATIONS[PriceZone.AT]
        parameters = home_parameters(
            random.Random(3),
            3,
            PriceZone.AT,
            place.latitude,
            place.longitude,
            pv_kwp=flags.pop("pv_kwp", 4.0),
            battery_kwh=flags.pop("battery_kwh", 10.0),
        )
        inverter = add_simulated_inverter(session, CIPHER, user, parameters, PriceZone.AT)
        inverter.is_smart_optimization_active = True
        inverter.battery_policy = flags.pop("battery_policy", "Optimize grid balancing")
        inverter.is_inverter_forced_mode_enabled = flags.pop("forced", True)
        return inverter.id


def steering_worker(database) -> MonitoringWorker:
    clock = SimulationClock.stepped(START)
    worker = MonitoringWorker(
        database,
        CIPHER,
        ConnectorContext(clock=clock),
        MonitoringSettings(default_poll_interval=timedelta(minutes=1)),
        steering=SteeringLoop(database),
    )
    worker.load()
    return worker


def run_until(worker: MonitoringWorker, until: datetime) -> None:
    asyncio.run(worker.replay(until, timedelta(minutes=1)))


def at_local(day_offset: int, hour: int, minute: int = 0) -> datetime:
    local = datetime(2026, 12, 1 + day_offset, hour, minute, tzinfo=VIENNA)
    return local.astimezone(UTC)


def test_a_cheap_night_charges_the_battery_from_the_grid_and_the_read_back_confirms_it(database) -> None:
    night_and_evening_prices(database)
    inverter_id = steered_home(database)
    worker = steering_worker(database)
    # two days of history for the forecasts, then into the third night
    run_until(worker, at_local(3, 2, 20))

    with database.session(write=False) as session:
        inverter = session.get(Inverter, inverter_id)
        runs = session.scalars(select(PlanRun)).all()
        slot = session.scalars(
            select(PlanSlot).where(
                PlanSlot.inverter_id == inverter_id, PlanSlot.start_s == int(at_local(3, 2, 15).timestamp())
            )
        ).one()
        commands = session.scalars(
            select(SteeringCommand)
            .where(SteeringCommand.inverter_id == inverter_id)
            .order_by(SteeringCommand.issued_at)
        ).all()
    assert runs, "the site was planned"
    assert all(run.source == "linear_program" for run in runs)
    assert slot.mode == "charge"
    assert slot.battery_power_w < -1000
    assert inverter.current_mode == "charge"
    assert inverter.is_inverter_forced_mode_active
    assert inverter.inverter_forced_mode_since is not None
    assert inverter.actual_steering_state == "charging"
    assert inverter.steering_status == "ok"
    # the measured battery power follows the set-point
    assert inverter.battery_charge_discharge_power_w == pytest.approx(slot.battery_power_w, rel=0.1)
    charges = [c for c in commands if c.command_mode == "charge"]
    assert charges
    assert charges[-1].outcome == "confirmed"
    assert charges[-1].read_back_mode == "charge"


def test_turning_smart_optimisation_off_hands_the_device_back_to_its_own_logic(database) -> None:
    night_and_evening_prices(database)
    inverter_id = steered_home(database)
    worker = steering_worker(database)
    run_until(worker, at_local(3, 2, 20))
    with database.session() as session:
        session.execute(update(Inverter).where(Inverter.id == inverter_id).values(is_smart_optimization_active=False))
    run_until(worker, at_local(3, 2, 50))

    with database.session(write=False) as session:
        inverter = session.get(Inverter, inverter_id)
        last = session.scalars(
            select(SteeringCommand)
            .where(SteeringCommand.inverter_id == inverter_id)
            .order_by(SteeringCommand.issued_at.desc())
        ).first()
    assert last.command_mode == "self_consumption"
    assert inverter.current_mode is None
    assert not inverter.is_inverter_forced_mode_active
    assert inverter.actual_steering_state == "self_consumption"


def test_without_forced_mode_the_battery_is_never_charged_from_the_grid(database) -> None:
    night_and_evening_prices(database)
    inverter_id = steered_home(database, forced=False)
    worker = steering_worker(database)
    run_until(worker, at_local(3, 5))

    with database.session(write=False) as session:
        slots = session.scalars(select(PlanSlot).where(PlanSlot.inverter_id == inverter_id)).all()
        inverter = session.get(Inverter, inverter_id)
    assert slots
    for slot in slots:  # charging only from the PV the house does not use
        assert -min(slot.battery_power_w, 0.0) <= max(slot.expected_solar_w - slot.expected_load_w, 0.0) + 1.0
    assert not inverter.is_inverter_forced_mode_active


def test_steering_through_sunspec_modbus_charges_the_battery_and_reads_the_command_back(database) -> None:
    """The same loop against a SunSpec inverter on a local Modbus TCP server: the plan's charge is
    written to the device's storage model, the simulated battery behind it charges, and the read-back
    of the registers confirms it."""
    night_and_evening_prices(database)
    home = SimulatedHome(
        HomeParameters(
            seed=11,
            latitude=48.21,
            longitude=16.37,
            pv_kwp=4.0,
            battery=BatterySpec(capacity_kwh=10, max_charge_w=5000, max_discharge_w=5000, reserve_percent=10),
        )
    )
    clock = SimulationClock.stepped(START)

    async def scenario() -> uuid.UUID:
        async with SunSpecStandIn(home, clock) as device:
            with database.session() as session:
                issued = create_organisation(session, f"SunSpec {uuid.uuid4().hex[:6]}")
                user = User(organisation_id=issued.org_id, email=f"{uuid.uuid4().hex[:8]}@example.com")
                session.add(user)
                session.flush()
                inverter = Inverter(
                    organisation_id=user.organisation_id,
                    user_id=user.id,
                    lifecycle_state="authenticated",
                    is_authenticated=True,
                    is_battery_connected=True,
                    battery_capacity_kwh=10.0,
                    is_smart_optimization_active=True,
                    battery_policy="Optimize grid balancing",
                    is_inverter_forced_mode_enabled=True,
                )
                session.add(inverter)
                session.flush()
                add_device_connection(
                    session, CIPHER, inverter.id, "sunspec_modbus_tcp", {"host": "127.0.0.1", "port": device.port}
                )
                inverter_id = inverter.id
            worker = MonitoringWorker(
                database,
                CIPHER,
                ConnectorContext(clock=clock),
                MonitoringSettings(default_poll_interval=timedelta(minutes=5)),
                steering=SteeringLoop(database),
            )
            worker.load()
            try:
                await worker.replay(at_local(2, 2, 20), timedelta(minutes=5))
            finally:
                await worker.close()
            return inverter_id

    inverter_id = asyncio.run(scenario())
    with database.session(write=False) as session:
        inverter = session.get(Inverter, inverter_id)
        charge = session.scalars(
            select(SteeringCommand)
            .where(SteeringCommand.inverter_id == inverter_id, SteeringCommand.command_mode == "charge")
            .order_by(SteeringCommand.issued_at.desc())
        ).first()
    assert charge is not None
    assert charge.outcome == "confirmed"
    assert charge.read_back_mode == "charge"
    assert charge.measured_battery_w == pytest.approx(-charge.power_w, rel=0.05)
    assert inverter.current_mode == "charge"
    assert inverter.actual_steering_state == "charging"
    assert inverter.steering_status == "ok"


SUMMER = datetime(2026, 7, 1, tzinfo=VIENNA).astimezone(UTC)


def negative_midday_prices(database, days: int = 4) -> None:
    """A sunny market: prices below zero from 11:00 to 15:00 local, 80 EUR/MWh otherwise."""
    rows = []
    for step in range(days * 96):
        start = SUMMER + timedelta(minutes=15 * step)
        price = -40.0 if 11 <= start.astimezone(VIENNA).hour < 15 else 80.0
        rows.append(
            ZonePrice(
                zone="AT", start_s=int(start.timestamp()), resolution_s=900, price_eur_mwh=price, source="synthetic"
            )
        )
    with database.session() as session:
        session.add_all(rows)


def summer_worker(database) -> MonitoringWorker:
    worker = MonitoringWorker(
        database,
        CIPHER,
        ConnectorContext(clock=SimulationClock.stepped(SUMMER)),
        MonitoringSettings(default_poll_interval=timedelta(minutes=1)),
        steering=SteeringLoop(database),
    )
    worker.load()
    return worker


def summer_local(day_offset: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 7, 1 + day_offset, hour, minute, tzinfo=VIENNA).astimezone(UTC)


def test_negative_prices_curtail_the_pv_the_battery_cannot_take(database) -> None:
    negative_midday_prices(database)
    inverter_id = steered_home(
        database, battery_policy="Optimize self consumption", forced=False, pv_kwp=9.0, battery_kwh=3.0
    )
    worker = summer_worker(database)
    asyncio.run(worker.replay(summer_local(2, 13, 5), timedelta(minutes=1)))

    with database.session(write=False) as session:
        inverter = session.get(Inverter, inverter_id)
        slot = session.scalars(
            select(PlanSlot).where(
                PlanSlot.inverter_id == inverter_id, PlanSlot.start_s == int(summer_local(2, 13).timestamp())
            )
        ).one()
    assert slot.mode == "curtail"
    assert slot.curtail_w > 0
    assert slot.expected_grid_w <= 1.0  # nothing is paid to be exported
    assert inverter.current_mode == "curtail"
    assert inverter.is_curtailment_active
    assert inverter.actual_steering_state == "curtailed"
    assert inverter.current_power_to_grid_w <= 100.0


def test_a_pause_stops_export_and_the_device_confirms_it(client, database) -> None:
    negative_midday_prices(database)
    inverter_id = steered_home(database, battery_policy="Optimize self consumption", forced=False)
    with database.session() as session:
        session.execute(update(Inverter).where(Inverter.id == inverter_id).values(pause_power_until=summer_local(3, 0)))
    worker = summer_worker(database)
    asyncio.run(worker.replay(summer_local(2, 10, 5), timedelta(minutes=1)))

    with database.session(write=False) as session:
        inverter = session.get(Inverter, inverter_id)
    assert inverter.current_mode == "paused"
    assert inverter.pause_power_confirmed
    assert inverter.actual_steering_state == "paused"
    assert inverter.current_power_to_grid_w <= 100.0  # measured: nothing leaves the house


def test_a_failed_write_keeps_the_steering_state_for_the_next_one(database, monkeypatch) -> None:
    inverter_id = steered_home(database)
    loop = SteeringLoop(database)
    loop._update(inverter_id, {"current_mode": "charge", "steering_status": "warning"})
    stored = SteeringLoop._write

    def locked(self, updates, commands):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(SteeringLoop, "_write", locked)
    with pytest.raises(RuntimeError):
        asyncio.run(loop._write_updates())
    loop._update(inverter_id, {"steering_status": "ok"})  # found meanwhile: the newer value wins
    monkeypatch.setattr(SteeringLoop, "_write", stored)
    asyncio.run(loop._write_updates())

    with database.session(write=False) as session:
        inverter = session.get(Inverter, inverter_id)
    assert inverter.current_mode == "charge"
    assert inverter.steering_status == "ok"
