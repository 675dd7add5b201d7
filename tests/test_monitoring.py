"""The monitoring pipeline end to end: simulated homes and loopback Fronius devices polled into the store.

Each test runs on SQLite and PostgreSQL. Time is a stepped simulation clock, so a day passes in a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from solarfleet.connectors.base import Quantity, Reading
from solarfleet.connectors.registry import ConnectorContext
from solarfleet.connectors.simulator.clock import SimulationClock
from solarfleet.credentials_cipher import CredentialsCipher
from solarfleet.demo import add_simulated_inverter, home_parameters
from solarfleet.inverters.models import Inverter, InverterAction
from solarfleet.monitoring import statuses
from solarfleet.monitoring.balance import complete_balance, computed_from_mask, computed_mask
from solarfleet.monitoring.models import PollState, ReadingRollup, StoredReading
from solarfleet.monitoring.pipeline import MonitoringSettings, MonitoringWorker
from solarfleet.monitoring.store import add_device_connection
from solarfleet.organisations.service import create_organisation
from solarfleet.prices.zones import ZONE_LOCATIONS, PriceZone
from solarfleet.users.models import User
from stand_ins.fronius import Fault, FroniusStandIn

ORIGIN = datetime(2026, 6, 20, tzinfo=UTC)
KEY = Fernet.generate_key()
CIPHER = CredentialsCipher([KEY])


def run(coroutine):
    return asyncio.run(coroutine)


def new_user(database) -> User:
    with database.session() as session:
        issued = create_organisation(session, f"Monitoring {uuid.uuid4().hex[:6]}")
        user = User(organisation_id=issued.org_id, email=f"{uuid.uuid4().hex[:8]}@example.com")
        session.add(user)
    return user


def add_home(database, user: User, seed: int, battery_kwh: float | None = 10.0, **kwargs) -> uuid.UUID:
    place = ZONE_LOCATIONS[PriceZone.AT]
    parameters = home_parameters(
        random.Random(seed), seed, PriceZone.AT, place.latitude, place.longitude, battery_kwh=battery_kwh, **kwargs
    )
    with database.session() as session:
        return add_simulated_inverter(session, CIPHER, user, parameters, PriceZone.AT).id


def add_fronius(database, user: User, host: str) -> uuid.UUID:
    with database.session() as session:
        inverter = Inverter(
            organisation_id=user.organisation_id,
            user_id=user.id,
            lifecycle_state="authenticated",
            is_authenticated=True,
            is_battery_connected=True,
            battery_capacity_kwh=10.0,
        )
        session.add(inverter)
        session.flush()
        add_device_connection(session, CIPHER, inverter.id, "fronius_solar_api", {"host": host})
        return inverter.id


def worker_for(database, origin: datetime = ORIGIN, **overrides) -> MonitoringWorker:
    context = ConnectorContext(clock=SimulationClock.stepped(origin), io_timeout_s=overrides.pop("io_timeout_s", 5.0))
    worker = MonitoringWorker(database, CIPHER, context, MonitoringSettings(**overrides))
    worker.load()
    return worker


@contextlib.asynccontextmanager
async def watched_fronius(database, user: User):
    """A Fronius stand-in on loopback, linked as an inverter, and a worker watching it."""
    async with FroniusStandIn() as device:
        inverter_id = add_fronius(database, user, device.host)
        worker = worker_for(database)
        try:
            yield device, inverter_id, worker
        finally:
            await worker.context.close()


def inverter_row(database, inverter_id: uuid.UUID) -> Inverter:
    with database.session(write=False) as session:
        return session.get(Inverter, inverter_id)


# -- pure rules ------------------------------------------------------------------------------------

powers = st.floats(min_value=0, max_value=30_000, allow_nan=False)
signed = st.floats(min_value=-20_000, max_value=20_000, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    solar=powers,
    battery=signed,
    household=powers,
    missing=st.sampled_from(
        ["solar_production_w", "power_to_grid_w", "household_consumption_w", "battery_charge_discharge_power_w"]
    ),
)
def test_the_one_missing_balance_quantity_is_computed_and_marked(solar, battery, household, missing) -> None:
    grid = solar + battery - household  # household = solar + battery − grid
    full = {
        "solar_production_w": solar,
        "power_to_grid_w": grid,
        "household_consumption_w": household,
        "battery_charge_discharge_power_w": battery,
    }
    reported = frozenset(
        Quantity(q) if q != "power_to_grid_w" else Quantity.POWER_TO_GRID_W for q in full if q != missing
    )
    partial = Reading(time=ORIGIN, **{**full, missing: None}, reported=reported)
    completed = complete_balance(partial, has_battery=True)
    assert completed.value(_quantity(missing)) == pytest.approx(full[missing], abs=1e-6)
    assert completed.computed == {_quantity(missing)}
    assert computed_from_mask(computed_mask(completed)) == {_quantity(missing)}


def _quantity(attribute: str) -> Quantity:
    return {
        "solar_production_w": Quantity.SOLAR_PRODUCTION_W,
        "power_to_grid_w": Quantity.POWER_TO_GRID_W,
        "household_consumption_w": Quantity.HOUSEHOLD_CONSUMPTION_W,
        "battery_charge_discharge_power_w": Quantity.BATTERY_POWER_W,
    }[attribute]


def test_two_missing_quantities_are_left_unknown() -> None:
    reading = Reading(time=ORIGIN, solar_production_w=1000.0, reported=frozenset({Quantity.SOLAR_PRODUCTION_W}))
    assert complete_balance(reading, has_battery=False) == reading


def test_status_thresholds() -> None:
    t = statuses.Thresholds(timedelta(seconds=30))
    now = ORIGIN
    assert statuses.connection_status(0, None, False, now, t) == "ok"
    assert statuses.connection_status(1, now, False, now, t) == "warning"
    assert statuses.connection_status(30, now - timedelta(minutes=11), False, now, t) == "error"
    assert statuses.connection_status(0, None, True, now, t) == "error"
    everything = frozenset({Quantity.SOLAR_PRODUCTION_W, Quantity.POWER_TO_GRID_W})
    assert statuses.monitoring_status(None, frozenset(), everything, False, now, t) == "unknown"
    assert statuses.monitoring_status(now, everything, everything, False, now, t) == "ok"
    assert statuses.monitoring_status(now - timedelta(seconds=61), everything, everything, False, now, t) == "warning"
    assert statuses.monitoring_status(now, {Quantity.SOLAR_PRODUCTION_W}, everything, False, now, t) == "warning"
    assert statuses.monitoring_status(now - timedelta(minutes=11), everything, everything, False, now, t) == "error"
    assert statuses.monitoring_status(now, everything, everything, True, now, t) == "error"


# -- the pipeline on simulated homes ---------------------------------------------------------------


def test_first_poll_makes_a_device_active_with_the_home_s_live_values(database) -> None:
    user = new_user(database)
    inverter_id = add_home(database, user, seed=11)
    worker = worker_for(database)
    worker.clock.advance(timedelta(hours=12))  # midday: the sun is up
    stats = run(worker.poll_due())
    assert (stats.polls, stats.readings_stored, stats.failures) == (1, 1, 0)

    row = inverter_row(database, inverter_id)
    home = worker.context.simulated_homes[11]
    truth = home.advance_to(worker.clock.now())
    assert row.lifecycle_state == "active"
    assert (row.connection_status, row.monitoring_status) == ("ok", "ok")
    assert row.current_state_last_updated_at == worker.clock.now()
    assert row.last_monitoring_executed_at == worker.clock.now()
    assert row.current_solar_production_w == pytest.approx(truth.solar_w, rel=0.06)
    assert row.current_solar_production_w > 0
    assert row.battery_charge_level_percent == pytest.approx(truth.soc_percent)
    balance = row.current_solar_production_w + row.battery_charge_discharge_power_w - row.current_power_to_grid_w
    assert balance == pytest.approx(row.household_consumption_w, rel=0.1, abs=30)


def test_a_home_without_consumption_meter_gets_household_computed_from_the_balance(database) -> None:
    user = new_user(database)
    inverter_id = add_home(database, user, seed=12, household_metered=False)
    worker = worker_for(database)
    worker.clock.advance(timedelta(hours=12))
    run(worker.poll_due())
    row = inverter_row(database, inverter_id)
    with database.session(write=False) as session:
        stored = session.scalar(select(StoredReading).where(StoredReading.inverter_id == inverter_id))
    assert computed_from_mask(stored.computed) == {Quantity.HOUSEHOLD_CONSUMPTION_W}
    expected = row.current_solar_production_w + row.battery_charge_discharge_power_w - row.current_power_to_grid_w
    assert row.household_consumption_w == pytest.approx(max(expected, 0.0))
    assert row.monitoring_status == "ok"  # the device never promised a consumption reading


def test_a_day_of_polls_gives_production_rollups_and_no_duplicates(database) -> None:
    user = new_user(database)
    with_battery = add_home(database, user, seed=21)
    pv_only = add_home(database, user, seed=22, battery_kwh=None)
    worker = worker_for(database)
    run(worker.replay(ORIGIN + timedelta(days=1, hours=8), timedelta(minutes=1)))

    homes = worker.context.simulated_homes
    for inverter_id, seed in ((with_battery, 21), (pv_only, 22)):
        row = inverter_row(database, inverter_id)
        true_total_kwh = homes[seed].advance_to(worker.clock.now()).solar_energy_wh / 1000
        # the trailing day starts on the 15-minute boundary at or before now − 24 h: the first 8 h are out
        assert 0 < row.production_last_day_kwh < true_total_kwh
        assert row.production_last_week_kwh == pytest.approx(true_total_kwh, rel=0.03)
        assert row.production_last_month_kwh == pytest.approx(row.production_last_week_kwh)
        assert row.production_last_updated_at == worker.clock.now()
    assert inverter_row(database, pv_only).battery_charge_level_percent is None

    with database.session(write=False) as session:
        readings = session.scalar(select(func.count()).select_from(StoredReading))
        days = (
            session.execute(
                select(ReadingRollup.solar_wh).where(
                    ReadingRollup.resolution == "1DAY", ReadingRollup.inverter_id == pv_only
                )
            )
            .scalars()
            .all()
        )
        quarter_hours = session.scalar(
            select(func.sum(ReadingRollup.solar_wh)).where(
                ReadingRollup.resolution == "15MIN", ReadingRollup.inverter_id == pv_only
            )
        )
    assert readings == 2 * (32 * 60)
    assert sum(days) == pytest.approx(quarter_hours)

    # Replaying the same instant stores nothing twice: the device's timestamp has not moved.
    before = readings
    worker.clock.advance(timedelta(0))
    for slot_id in (with_battery, pv_only):
        worker.slot(slot_id).next_poll_at = worker.clock.now()
        worker._schedule(worker.slot(slot_id))
    run(worker.poll_due())
    with database.session(write=False) as session:
        assert session.scalar(select(func.count()).select_from(StoredReading)) == before


def test_a_restarted_worker_resumes_where_the_last_one_stopped(database) -> None:
    user = new_user(database)
    inverter_id = add_home(database, user, seed=31)
    first = worker_for(database)
    run(first.replay(ORIGIN + timedelta(hours=14), timedelta(minutes=1)))
    counter = first.slot(inverter_id).solar_energy_wh
    next_poll = first.slot(inverter_id).next_poll_at

    second = worker_for(database, origin=first.clock.now())
    slot = second.slot(inverter_id)
    assert slot.solar_energy_wh == pytest.approx(counter)
    assert slot.next_poll_at == next_poll
    assert slot.last_reading_s == int(first.clock.now().timestamp())
    second.clock.advance(timedelta(minutes=1))
    run(second.poll_due())
    assert second.slot(inverter_id).solar_energy_wh >= counter
    with database.session(write=False) as session:
        state = session.get(PollState, inverter_id)
    assert state.last_reading_s == int(second.clock.now().timestamp())


def test_deleted_inverters_leave_the_fleet(database) -> None:
    user = new_user(database)
    kept, deleted = add_home(database, user, seed=41), add_home(database, user, seed=42)
    worker = worker_for(database)
    with database.session() as session:
        session.get(Inverter, deleted).deleted_at = ORIGIN
    assert worker.load() == 1
    worker.clock.advance(timedelta(minutes=1))
    assert run(worker.poll_due()).polls == 1
    assert inverter_row(database, kept).lifecycle_state == "active"
    assert inverter_row(database, deleted).lifecycle_state == "authenticated"


# -- faults ----------------------------------------------------------------------------------------


def test_a_slow_device_changes_only_its_own_statuses(database) -> None:
    user = new_user(database)

    async def scenario():
        async with FroniusStandIn() as healthy, FroniusStandIn() as slow:
            ok_id = add_fronius(database, user, healthy.host)
            slow_id = add_fronius(database, user, slow.host)
            home_id = add_home(database, user, seed=51)
            worker = worker_for(database, io_timeout_s=0.3)
            for device in (healthy, slow):
                device.state.timestamp = worker.clock.now()
            slow.state.fault = Fault.SLOW
            started = asyncio.get_running_loop().time()
            stats = await worker.poll_due()
            elapsed = asyncio.get_running_loop().time() - started
            await worker.context.close()
            return ok_id, slow_id, home_id, stats, elapsed

    ok_id, slow_id, home_id, stats, elapsed = run(scenario())
    assert (stats.polls, stats.readings_stored, stats.failures) == (3, 2, 1)
    assert elapsed < 3  # the slow one costs its own timeout, not everybody's
    assert inverter_row(database, ok_id).connection_status == "ok"
    assert inverter_row(database, home_id).connection_status == "ok"
    slow_row = inverter_row(database, slow_id)
    assert (slow_row.connection_status, slow_row.monitoring_status) == ("warning", "unknown")
    assert slow_row.lifecycle_state == "authenticated"
    assert slow_row.last_monitoring_executed_at is not None


def test_garbage_is_a_monitoring_error_and_persistent_garbage_a_lifecycle_error(database) -> None:
    user = new_user(database)

    async def scenario():
        async with watched_fronius(database, user) as (device, inverter_id, worker):
            device.state.timestamp = worker.clock.now()
            await worker.poll_due()
            device.state.fault = Fault.GARBAGE
            worker.clock.advance(timedelta(seconds=30))
            await worker.poll_due()
            first = inverter_row(database, inverter_id)
            for _ in range(25):  # past the error threshold (10 minutes)
                worker.clock.advance(timedelta(seconds=30))
                await worker.poll_due()
            last = inverter_row(database, inverter_id)
            device.state.fault = None
            worker.clock.advance(timedelta(seconds=30))
            device.state.timestamp = worker.clock.now()
            await worker.poll_due()
            recovered = inverter_row(database, inverter_id)
            return first, last, recovered

    first, last, recovered = run(scenario())
    assert (first.lifecycle_state, first.monitoring_status, first.connection_status) == ("active", "error", "warning")
    assert first.current_solar_production_w is not None  # the last good values stay, with their time
    assert (last.lifecycle_state, last.connection_status) == ("error", "error")
    assert "keeps failing" in last.lifecycle_error
    assert (recovered.lifecycle_state, recovered.lifecycle_error) == ("active", None)
    assert (recovered.connection_status, recovered.monitoring_status) == ("ok", "ok")


def test_rejected_credentials_deauthorise_the_device_and_ask_for_reauthentication(database, client, settings) -> None:
    user = new_user(database)

    async def scenario():
        async with watched_fronius(database, user) as (device, inverter_id, worker):
            device.state.fault = Fault.HTTP_ERROR
            device.state.error_status = 401
            stats = await worker.poll_due()
            polled_again = await worker.poll_due()
            return inverter_id, stats, polled_again, worker.device_count

    inverter_id, stats, polled_again, remaining = run(scenario())
    assert stats.failures == 1
    assert (polled_again.polls, remaining) == (0, 0)  # not polled again until re-authorised
    row = inverter_row(database, inverter_id)
    assert (row.is_authenticated, row.lifecycle_state, row.connection_status) == (False, "deauthorized", "error")
    with database.session(write=False) as session:
        actions = session.scalars(select(InverterAction).where(InverterAction.inverter_id == inverter_id)).all()
    assert [a.action for a in actions] == ["reauthenticate"]
    assert "authorise" in actions[0].message


def test_a_failed_write_keeps_the_batch_and_a_later_flush_stores_it(database, monkeypatch) -> None:
    if database.engine.dialect.name != "sqlite":
        pytest.skip("the lock under test is SQLite's")
    import solarfleet.monitoring.store as store

    monkeypatch.setattr(store, "LOCKED_RETRIES", 2)
    user = new_user(database)
    inverter_id = add_home(database, user, seed=61)
    worker = worker_for(database)
    worker.clock.advance(timedelta(hours=10))
    blocker = database.engine.raw_connection()
    blocker.execute("PRAGMA busy_timeout=0")
    blocker.execute("BEGIN EXCLUSIVE")
    database.engine.dispose()  # new connections, so the short busy timeout below applies

    def short_busy(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA busy_timeout=20")

    from sqlalchemy import event

    event.listen(database.engine, "connect", short_busy)
    with pytest.raises(Exception, match="locked"):
        run(worker.poll_due())
    assert worker.stats.readings_stored == 0
    blocker.rollback()
    blocker.close()
    run(worker.flush())
    assert worker.stats.readings_stored == 1
    with database.session(write=False) as session:
        assert session.scalar(select(func.count()).select_from(StoredReading)) == 1
    assert inverter_row(database, inverter_id).lifecycle_state == "active"


def test_a_lock_held_briefly_is_waited_out(database) -> None:
    if database.engine.dialect.name != "sqlite":
        pytest.skip("the lock under test is SQLite's")
    user = new_user(database)
    add_home(database, user, seed=71)
    worker = worker_for(database)
    worker.clock.advance(timedelta(hours=10))
    blocker = database.engine.raw_connection()
    blocker.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.3, lambda: (blocker.rollback(), blocker.close()))
    release.start()
    stats = run(worker.poll_due())
    release.join()
    assert stats.readings_stored == 1
    with database.session(write=False) as session:
        assert session.execute(text("SELECT count(*) FROM readings")).scalar() == 1


CRASHING_WORKER = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
from cryptography.fernet import Fernet
from solarfleet.connectors.registry import ConnectorContext
from solarfleet.connectors.simulator.clock import SimulationClock
from solarfleet.credentials_cipher import CredentialsCipher
from solarfleet.database import Database
from solarfleet.monitoring.pipeline import MonitoringWorker

async def main():
    clock = SimulationClock.stepped(datetime.fromisoformat(sys.argv[3]))
    worker = MonitoringWorker(Database(sys.argv[1]), CredentialsCipher([sys.argv[2].encode()]), ConnectorContext(clock))
    worker.load()
    while True:
        clock.advance(timedelta(minutes=1))
        await worker.poll_due()
        print("acknowledged", worker.stats.readings_stored, flush=True)

asyncio.run(main())
"""


def test_a_killed_worker_loses_no_acknowledged_reading_and_the_next_resumes(database, tmp_path) -> None:
    if database.engine.dialect.name != "sqlite":
        pytest.skip("one database is enough to show what a commit guarantees")
    user = new_user(database)
    for seed in range(81, 86):
        add_home(database, user, seed=seed)
    process = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WORKER, database.url, KEY.decode(), ORIGIN.isoformat()],
        stdout=subprocess.PIPE,
        text=True,
    )
    acknowledged = 0
    for line in process.stdout:
        acknowledged = int(line.split()[1])
        if acknowledged >= 5 * 40:
            break
    os.kill(process.pid, signal.SIGKILL)  # no chance to flush or clean up
    process.wait()

    with database.session(write=False) as session:
        stored = session.scalar(select(func.count()).select_from(StoredReading))
        assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    assert stored >= acknowledged

    resumed = worker_for(database, origin=ORIGIN + timedelta(hours=3))
    assert resumed.device_count == 5
    stats = run(resumed.poll_due())
    assert (stats.polls, stats.failures) == (5, 0)
    with database.session(write=False) as session:
        assert session.scalar(select(func.count()).select_from(StoredReading)) == stored + 5


def test_raw_readings_are_kept_for_the_retention_and_rollups_for_good(database) -> None:
    user = new_user(database)
    inverter_id = add_home(database, user, seed=91)
    worker = worker_for(database, raw_retention=timedelta(hours=6))
    run(worker.replay(ORIGIN + timedelta(days=1), timedelta(minutes=1)))
    cutoff = int((worker.clock.now() - timedelta(hours=7)).timestamp())  # pruning runs hourly
    with database.session(write=False) as session:
        oldest = session.scalar(select(func.min(StoredReading.time_s)))
        days = session.scalar(
            select(func.sum(ReadingRollup.covered_s)).where(
                ReadingRollup.inverter_id == inverter_id, ReadingRollup.resolution == "1DAY"
            )
        )
    assert oldest >= cutoff
    assert days == pytest.approx(86400 - 60, abs=120)  # the rollups still cover the whole day


def test_a_dropped_connection_is_a_connection_warning_only(database) -> None:
    user = new_user(database)

    async def scenario():
        async with watched_fronius(database, user) as (device, inverter_id, worker):
            device.state.timestamp = worker.clock.now()
            await worker.poll_due()
            device.state.fault = Fault.DROP
            worker.clock.advance(timedelta(seconds=30))
            stats = await worker.poll_due()
            return inverter_id, stats

    inverter_id, stats = run(scenario())
    assert stats.failures == 1
    row = inverter_row(database, inverter_id)
    assert (row.lifecycle_state, row.connection_status, row.monitoring_status) == ("active", "warning", "ok")


def test_devices_that_set_no_pace_are_polled_at_the_configured_interval(database) -> None:
    user = new_user(database)
    inverter_id = add_home(database, user, seed=95)
    worker = worker_for(database, default_poll_interval=timedelta(minutes=2))
    run(worker.poll_due())
    assert worker.slot(inverter_id).next_poll_at == worker.clock.now() + timedelta(minutes=2)
    worker.clock.advance(timedelta(minutes=1))
    assert run(worker.poll_due()).polls == 0
    worker.clock.advance(timedelta(minutes=1))
    assert run(worker.poll_due()).polls == 1


def test_a_running_worker_takes_in_new_devices_and_lets_deleted_ones_go(database) -> None:
    user = new_user(database)
    leaving = add_home(database, user, seed=97)
    worker = worker_for(database)
    run(worker.poll_due())
    connector = worker.slot(leaving).connector
    joining = add_home(database, user, seed=98)
    with database.session() as session:
        session.get(Inverter, leaving).deleted_at = ORIGIN

    async def later():
        count = await worker.refresh()
        worker.clock.advance(timedelta(minutes=1))
        return count, await worker.poll_due()

    count, stats = run(later())
    assert count == 1
    assert stats.polls == 1
    assert inverter_row(database, joining).lifecycle_state == "active"
    assert connector is not None
    with pytest.raises(KeyError):
        worker.slot(leaving)


def test_a_reading_stored_after_its_bucket_was_rolled_up_is_rolled_up_again(database) -> None:
    user = new_user(database)

    async def scenario():
        async with watched_fronius(database, user) as (device, inverter_id, worker):
            worker.clock.advance(timedelta(minutes=20))  # the 00:00 bucket closes with this flush
            device.state.timestamp = ORIGIN + timedelta(minutes=4)
            await worker.poll_due()
            worker.clock.advance(timedelta(minutes=1))
            device.state.timestamp = ORIGIN + timedelta(minutes=5)  # the device's clock lags: a closed bucket
            await worker.poll_due()
            return inverter_id

    inverter_id = run(scenario())
    with database.session(write=False) as session:
        bucket = session.get(ReadingRollup, (inverter_id, "15MIN", int(ORIGIN.timestamp())))
    assert bucket.samples == 2
