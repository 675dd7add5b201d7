"""The monitoring pipeline: poll every device at its interval, derive its statuses, store in batches.

A worker holds its devices in a heap ordered by their next poll. A fixed number of poller
coroutines take the next due device each, so a slow device occupies one poller and never stalls
the others. Results queue up and are written in batches from a thread, so polling goes on while
the database works. A batch counts as stored only once its transaction has committed; until then
it stays queued and is retried, which is also what happens when SQLite reports a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import socket
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import structlog

from solarfleet.connectors.base import (
    Capabilities,
    ConnectorError,
    CredentialsRejected,
    MalformedData,
    Quantity,
    Reading,
    attribute_of,
)
from solarfleet.connectors.registry import ConnectorContext, open_connector
from solarfleet.connectors.simulator.clock import SimulationClock
from solarfleet.credentials_cipher import CredentialsCipher
from solarfleet.database import Database
from solarfleet.monitoring import statuses
from solarfleet.monitoring.balance import complete_balance, computed_mask
from solarfleet.monitoring.energy import (
    PRODUCTION_WINDOWS,
    RESOLUTION_SECONDS,
    energy_increment_wh,
    production_kwh,
    reading_interval_s,
)
from solarfleet.monitoring.store import (
    BatchRows,
    FleetDevice,
    counters_at,
    load_fleet,
    prune_readings,
    roll_up,
    shard_of,
    write_batch,
)

if TYPE_CHECKING:
    from solarfleet.steering.loop import SteeringLoop

log = structlog.get_logger(__name__)

_ROLLUP_WIDTH = RESOLUTION_SECONDS["15MIN"]


@dataclass(frozen=True)
class MonitoringSettings:
    shard_count: int = 64
    concurrency: int = 256
    batch_size: int = 2000
    flush_interval: timedelta = timedelta(seconds=1)
    poll_timeout_s: float = 20.0
    default_poll_interval: timedelta = timedelta(seconds=30)
    fleet_refresh_interval: timedelta = timedelta(seconds=30)
    raw_retention: timedelta = timedelta(days=35)


@dataclass(eq=False)
class DeviceSlot:
    """What the worker knows about one device between polls (restored from `poll_states` on start)."""

    inverter_id: uuid.UUID
    connector_name: str
    settings: dict[str, Any]
    has_battery: bool
    lifecycle: str
    shard: int
    next_poll_at: datetime
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    last_error: str | None = None
    last_error_kind: str | None = None
    last_reading_s: int | None = None
    solar_energy_wh: float = 0.0
    device_energy_wh: float | None = None
    stored: bool = False  # a poll_states row exists
    removed: bool = False
    capabilities: Capabilities | None = None
    poll_interval: timedelta = timedelta(seconds=30)
    latest: Reading | None = None
    window_starts: dict[str, tuple[int, float]] = field(default_factory=dict)
    connector: Any = None
    capabilities_new: bool = False  # fetched since the last batch: to be stored
    _thresholds: statuses.Thresholds | None = field(default=None, init=False, repr=False)

    @classmethod
    def of(cls, device: FleetDevice, shard: int, now: datetime) -> DeviceSlot:
        slot = cls(
            device.inverter_id,
            device.connector,
            device.settings,
            device.is_battery_connected,
            device.lifecycle_state,
            shard,
            now,
        )
        if (state := device.poll_state) is not None:
            slot.stored = True
            slot.next_poll_at = state.next_poll_at
            slot.consecutive_failures = state.consecutive_failures
            slot.failing_since = state.failing_since
            slot.last_error = state.last_error
            slot.last_error_kind = state.last_error_kind
            slot.last_reading_s = state.last_reading_s
            slot.solar_energy_wh = state.solar_energy_wh
            slot.device_energy_wh = state.device_energy_wh
        return slot

    @property
    def thresholds(self) -> statuses.Thresholds:
        # Every poll asks; the interval changes only when the device's capabilities do.
        if self._thresholds is None or self._thresholds.poll_interval != self.poll_interval:
            self._thresholds = statuses.Thresholds(self.poll_interval)
        return self._thresholds


@dataclass(slots=True)
class PollResult:
    slot: DeviceSlot
    polled_at: datetime
    reading: Reading | None
    interval_s: float
    error: ConnectorError | None


@dataclass
class CycleStats:
    polls: int = 0
    readings_stored: int = 0
    failures: int = 0
    rollup_rows: int = 0


class MonitoringWorker:
    """Polls the devices of its shards (all shards by default) and stores what they say."""

    def __init__(
        self,
        database: Database,
        cipher: CredentialsCipher,
        context: ConnectorContext | None = None,
        settings: MonitoringSettings | None = None,
        shards: frozenset[int] | None = None,
        steering: SteeringLoop | None = None,
    ) -> None:
        self.database = database
        self.steering = steering
        self.cipher = cipher
        self.context = context or ConnectorContext()
        self.clock: SimulationClock = self.context.simulation_clock()
        self.settings = settings or MonitoringSettings()
        self.shards = shards
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._slots: dict[uuid.UUID, DeviceSlot] = {}
        self._heap: list[tuple[datetime, int, DeviceSlot]] = []
        self._sequence = itertools.count()
        self._pending: list[PollResult] = []
        self._write_lock = asyncio.Lock()
        self._rolled_until_s: int | None = None
        self._pruned_at: datetime | None = None
        self._late: dict[uuid.UUID, int] = {}  # device → earliest reading stored after its bucket's rollup
        self.stats = CycleStats()

    # -- the fleet ---------------------------------------------------------------------------------

    def load(self) -> int:
        """Read the fleet from the database before polling starts (a running worker uses `refresh`):
        new devices join, deleted or unlinked ones leave."""
        return self._take_fleet(self._read_fleet())

    async def refresh(self) -> int:
        """`load` for a running worker: the database is read in a thread, the fleet changed on the loop,
        and the connections of devices that left are closed."""
        closing: list = []
        count = self._take_fleet(await asyncio.to_thread(self._read_fleet), closing)
        for connector in closing:
            await connector.close()
        return count

    def _read_fleet(self) -> list[FleetDevice]:
        return load_fleet(self.database, self.cipher, self.shards, self.settings.shard_count)

    def _take_fleet(self, devices: list[FleetDevice], closing: list | None = None) -> int:
        now = self.clock.now()
        present = {device.inverter_id for device in devices}
        for inverter_id, slot in list(self._slots.items()):
            if inverter_id not in present:
                self._retire(slot, closing)
                del self._slots[inverter_id]
        for device in devices:
            known = self._slots.get(device.inverter_id)
            if known is not None and known.settings == device.settings:
                known.has_battery = device.is_battery_connected
                continue
            if known is not None:
                self._retire(known, closing)  # settings changed (re-authentication): a fresh connector
            slot = DeviceSlot.of(device, shard_of(device.inverter_id, self.settings.shard_count), now)
            if known is not None:
                slot.stored, slot.latest, slot.window_starts = known.stored, known.latest, known.window_starts
            self._slots[device.inverter_id] = slot
            self._schedule(slot)
        if self._rolled_until_s is None:
            known_times = [s.last_reading_s for s in self._slots.values() if s.last_reading_s is not None]
            start = min(known_times) if known_times else int(now.timestamp())
            self._rolled_until_s = start - start % _ROLLUP_WIDTH
        return len(self._slots)

    @staticmethod
    def _retire(slot: DeviceSlot, closing: list | None) -> None:
        slot.removed = True
        if slot.connector is not None and closing is not None:
            closing.append(slot.connector)

    def _schedule(self, slot: DeviceSlot) -> None:
        heapq.heappush(self._heap, (slot.next_poll_at, next(self._sequence), slot))

    @property
    def device_count(self) -> int:
        return len(self._slots)

    def slot(self, inverter_id: uuid.UUID) -> DeviceSlot:
        return self._slots[inverter_id]

    def steerable_slots(self) -> dict[uuid.UUID, DeviceSlot]:
        """The devices steering can reach: connected, described, and read at least once."""
        return {
            inverter_id: slot
            for inverter_id, slot in self._slots.items()
            if slot.connector is not None and slot.capabilities is not None and slot.latest is not None
        }

    # -- polling -----------------------------------------------------------------------------------

    async def replay(self, until: datetime, step: timedelta, flush_every: int = 60, progress=None) -> None:
        """Step the (stepped) clock up to `until`, polling whatever is due at each step: fills the
        past of a simulated fleet quickly. `progress(done_seconds)` is called after each flush."""
        steps = 0
        while self.clock.now() + step <= until:
            self.clock.advance(step)
            await self.poll_due(flush=False)
            steps += 1
            if steps % flush_every == 0:
                await self.flush()
                if progress is not None:
                    progress(steps * step.total_seconds())
        await self.flush()

    async def poll_due(self, flush: bool = True) -> CycleStats:
        """Poll every device that is due now, then store everything (for stepped clocks and tests)."""
        before = replace(self.stats)
        now = self.clock.now()
        due = []
        while self._heap and self._heap[0][0] <= now:
            _, _, slot = heapq.heappop(self._heap)
            if not slot.removed:
                due.append(slot)
        shared = iter(due)
        pollers = [self._poll_from(shared, now) for _ in range(min(self.settings.concurrency, len(due)))]
        await asyncio.gather(*pollers)
        if flush:
            await self.flush()
        if self.steering is not None:
            await self.steering.run_step(self, now)
        return CycleStats(
            self.stats.polls - before.polls,
            self.stats.readings_stored - before.readings_stored,
            self.stats.failures - before.failures,
            self.stats.rollup_rows - before.rollup_rows,
        )

    async def _poll_from(self, slots, now: datetime) -> None:
        for slot in slots:  # one iterator shared by all pollers: each slot is taken once
            self._pending.append(await self._poll(slot, now))
            self._schedule(slot)
            if len(self._pending) >= self.settings.batch_size:
                await self.flush()

    async def _poll(self, slot: DeviceSlot, now: datetime) -> PollResult:
        self.stats.polls += 1
        try:
            async with asyncio.timeout(self.settings.poll_timeout_s):
                if slot.connector is None:
                    slot.connector = open_connector(slot.connector_name, slot.settings, self.context)
                if slot.capabilities is None:
                    slot.capabilities = await slot.connector.capabilities()
                    slot.capabilities_new = True
                    slot.poll_interval = slot.capabilities.poll_interval or self.settings.default_poll_interval
                reading = await slot.connector.read_state()
                slot.poll_interval = slot.connector.poll_interval() or slot.poll_interval
                if self.steering is not None:
                    await self.steering.read_back(slot, reading, now)
        except TimeoutError:
            return self._failed(slot, now, ConnectorError(f"no answer within {self.settings.poll_timeout_s:g} s"))
        except ConnectorError as error:
            return self._failed(slot, now, error)
        except Exception as error:  # a connector bug must cost one device one poll, not the worker
            log.exception("connector failed unexpectedly", inverter_id=str(slot.inverter_id))
            return self._failed(slot, now, MalformedData(f"unexpected {type(error).__name__} while reading"))
        return self._succeeded(slot, now, reading)

    def _failed(self, slot: DeviceSlot, now: datetime, error: ConnectorError) -> PollResult:
        self.stats.failures += 1
        if slot.consecutive_failures == 0:
            slot.failing_since = now
        slot.consecutive_failures += 1
        slot.last_error = str(error) or type(error).__name__
        slot.last_error_kind = type(error).__name__
        slot.next_poll_at = now + slot.poll_interval
        retry_at = getattr(error, "retry_at", None)  # a vendor budget said when asking again makes sense
        if retry_at is not None and retry_at > slot.next_poll_at:
            slot.next_poll_at = retry_at
        if not error.transient and slot.connector is not None:
            slot.capabilities = None  # ask again after a permanent failure: the device may have changed
        return PollResult(slot, now, None, 0.0, error)

    def _succeeded(self, slot: DeviceSlot, now: datetime, reading: Reading) -> PollResult:
        reading = complete_balance(reading, slot.has_battery)
        time_s = int(reading.time.timestamp())
        interval = reading_interval_s(slot.last_reading_s, time_s, slot.poll_interval.total_seconds())
        is_new = slot.last_reading_s is None or time_s > slot.last_reading_s
        if is_new:
            slot.solar_energy_wh += energy_increment_wh(
                slot.device_energy_wh, reading.solar_energy_wh, reading.solar_production_w, interval
            )
            if reading.solar_energy_wh is not None:
                slot.device_energy_wh = reading.solar_energy_wh
            slot.last_reading_s = time_s
            slot.latest = reading
        slot.consecutive_failures = 0
        slot.failing_since = None
        slot.last_error = slot.last_error_kind = None
        slot.next_poll_at = now + slot.poll_interval
        return PollResult(slot, now, reading if is_new else None, interval, None)

    # -- storing -----------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write what has been polled; on failure the results stay queued for the next flush."""
        async with self._write_lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._store, batch)
            except Exception:
                self._pending[:0] = batch
                raise
            self.stats.readings_stored += sum(1 for result in batch if result.reading is not None)
            self._note_late_readings(batch)
            await self._maintain()

    def _note_late_readings(self, batch: list[PollResult]) -> None:
        """Remember readings stored after their bucket was rolled up (polled before a rollup but
        written after it, or stamped late by the device), so their buckets are rolled up again."""
        if self._rolled_until_s is None:
            return
        for result in batch:
            if result.reading is not None:
                time_s = int(result.reading.time.timestamp())
                if time_s < self._rolled_until_s:
                    inverter_id = result.slot.inverter_id
                    self._late[inverter_id] = min(time_s, self._late.get(inverter_id, time_s))

    def _store(self, batch: list[PollResult]) -> None:
        now = max(result.polled_at for result in batch)
        self._refresh_windows([r.slot for r in batch if r.reading is not None], now)
        write_batch(self.database, self._rows(batch, now))

    def _refresh_windows(self, slots: list[DeviceSlot], now: datetime) -> None:
        now_s = int(now.timestamp())
        for window in PRODUCTION_WINDOWS:
            bucket = window.start_bucket(now_s)
            stale = [s for s in slots if s.window_starts.get(window.field, (None,))[0] != bucket]
            if stale:
                counters = counters_at(self.database, window.resolution, bucket, [s.inverter_id for s in stale])
                for slot in stale:
                    slot.window_starts[window.field] = (bucket, counters[slot.inverter_id])

    def _rows(self, batch: list[PollResult], now: datetime) -> BatchRows:
        rows = BatchRows([], [], [], [], [])
        for result in batch:
            slot = result.slot
            if slot.removed:
                continue
            reading = result.reading
            if reading is not None:
                rows.readings.append(
                    {
                        "inverter_id": slot.inverter_id,
                        "time_s": int(reading.time.timestamp()),
                        "interval_s": result.interval_s,
                        "solar_w": reading.solar_production_w,
                        "grid_w": reading.power_to_grid_w,
                        "household_w": reading.household_consumption_w,
                        "battery_w": reading.battery_charge_discharge_power_w,
                        "soc_percent": reading.battery_charge_level_percent,
                        "solar_energy_wh": slot.solar_energy_wh,
                        "computed": computed_mask(reading),
                    }
                )
            poll_state = {
                "next_poll_at": slot.next_poll_at,
                "consecutive_failures": slot.consecutive_failures,
                "failing_since": slot.failing_since,
                "last_error": slot.last_error,
                "last_error_kind": slot.last_error_kind,
                "last_reading_s": slot.last_reading_s,
                "solar_energy_wh": slot.solar_energy_wh,
                "device_energy_wh": slot.device_energy_wh,
            }
            if slot.stored:
                rows.poll_states.append({"inverter_id": slot.inverter_id, **poll_state})
            else:
                rows.new_poll_states.append({"inverter_id": slot.inverter_id, "shard": slot.shard, **poll_state})
                slot.stored = True
            rows.inverters.append(self._inverter_row(slot, result))
            if slot.capabilities_new and slot.capabilities is not None:
                rows.capabilities.append({"inverter_id": slot.inverter_id, "capabilities": slot.capabilities.as_json()})
                slot.capabilities_new = False
            if isinstance(result.error, CredentialsRejected):
                rows.credential_failures.append(
                    (
                        slot.inverter_id,
                        f"The device's credentials were rejected: {result.error}. "
                        "The customer must authorise solarfleet again.",
                    )
                )
                slot.removed = True  # not polled again until re-authorised
                self._slots.pop(slot.inverter_id, None)
        return rows

    def _inverter_row(self, slot: DeviceSlot, result: PollResult) -> dict[str, Any]:
        t = slot.thresholds
        error = result.error
        failing_for = result.polled_at - slot.failing_since if slot.failing_since else timedelta(0)
        slot.lifecycle = statuses.lifecycle_after_poll(
            slot.lifecycle,
            error is None and slot.latest is not None,
            type(error).__name__ if error else None,
            failing_for,
            t,
        )
        latest = slot.latest
        latest_at = latest.time if latest is not None else None
        present = _carried(latest) if latest is not None else frozenset()
        expected = _expected(slot.capabilities.reads) if slot.capabilities else frozenset()
        row = {
            "id": slot.inverter_id,
            "current_solar_production_w": latest.solar_production_w if latest else None,
            "current_power_to_grid_w": latest.power_to_grid_w if latest else None,
            "household_consumption_w": latest.household_consumption_w if latest else None,
            "battery_charge_discharge_power_w": latest.battery_charge_discharge_power_w if latest else None,
            "battery_charge_level_percent": latest.battery_charge_level_percent if latest else None,
            "current_state_last_updated_at": latest_at,
            "last_monitoring_executed_at": result.polled_at,
            "connection_status": statuses.connection_status(
                slot.consecutive_failures,
                slot.failing_since,
                isinstance(error, CredentialsRejected),
                result.polled_at,
                t,
            ),
            "monitoring_status": statuses.monitoring_status(
                latest_at, present, expected, isinstance(error, MalformedData), result.polled_at, t
            ),
            "lifecycle_state": slot.lifecycle,
            "lifecycle_error": _lifecycle_error(slot),
            "is_authenticated": not isinstance(error, CredentialsRejected),
        }
        now_s = int(result.polled_at.timestamp())
        have_windows = latest is not None and len(slot.window_starts) == len(PRODUCTION_WINDOWS)
        for window in PRODUCTION_WINDOWS:
            start = slot.window_starts.get(window.field)
            current = have_windows and start is not None and start[0] == window.start_bucket(now_s)
            row[window.field] = production_kwh(slot.solar_energy_wh, start[1]) if current else None
        row["production_last_updated_at"] = result.polled_at if have_windows else None
        return row

    async def _maintain(self) -> None:
        """Roll up closed 15-minute buckets and prune old raw readings, as time passes."""
        now = self.clock.now()
        closed_until = int(now.timestamp()) // _ROLLUP_WIDTH * _ROLLUP_WIDTH
        if self._late:
            late, self._late = self._late, {}
            start = min(late.values())
            # the buckets are recomputed from the stored readings, so taking them from the earliest is harmless
            self.stats.rollup_rows += await asyncio.to_thread(
                roll_up, self.database, list(late), start, self._rolled_until_s
            )
        roll = self._rolled_until_s is not None and closed_until > self._rolled_until_s
        prune = self._pruned_at is None or now - self._pruned_at >= timedelta(hours=1)
        if not (roll or prune):
            return  # after most flushes: no list of the whole fleet to build
        ids = [slot.inverter_id for slot in self._slots.values()]
        if roll and ids:
            self.stats.rollup_rows += await asyncio.to_thread(
                roll_up, self.database, ids, self._rolled_until_s, closed_until
            )
            self._rolled_until_s = closed_until
        if prune:
            self._pruned_at = now
            cutoff = int((now - self.settings.raw_retention).timestamp())
            await asyncio.to_thread(prune_readings, self.database, ids, cutoff)

    # -- running -----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set. Each poller takes the next due device, so a device that hangs
        until its timeout holds one poller while the rest keep polling; a flusher stores results."""
        await self.refresh()
        log.info("monitoring started", devices=self.device_count, holder=self.holder)
        tasks = [asyncio.create_task(self._poller(stop)) for _ in range(self.settings.concurrency)]
        tasks.append(asyncio.create_task(self._flusher(stop)))
        if self.steering is not None:
            tasks.append(asyncio.create_task(self._steerer(stop)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await self.flush()
            await self.close()

    async def _poller(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = self.clock.now()
            if self._heap and self._heap[0][0] <= now:
                _, _, slot = heapq.heappop(self._heap)
                if not slot.removed:
                    self._pending.append(await self._poll(slot, now))
                    self._schedule(slot)
                continue
            wait = self._heap[0][0] - now if self._heap else self.settings.flush_interval
            await _sleep_unless(stop, self.clock.wall_seconds(min(wait, self.settings.flush_interval)))

    async def _flusher(self, stop: asyncio.Event) -> None:
        refreshed = self.clock.now()
        while not stop.is_set():
            await _sleep_unless(stop, self.settings.flush_interval.total_seconds())
            try:
                await self.flush()
            except Exception:
                log.exception("storing a batch failed; it stays queued and is retried")
            if self.clock.now() - refreshed >= self.settings.fleet_refresh_interval:
                refreshed = self.clock.now()
                await self.refresh()

    async def _steerer(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.steering.run_step(self, self.clock.now())
            except Exception:
                log.exception("a steering round failed; the next one tries again")
            await _sleep_unless(stop, self.clock.wall_seconds(self.settings.flush_interval))

    async def close(self) -> None:
        for slot in self._slots.values():
            if slot.connector is not None:
                await slot.connector.close()
        await self.context.close()


# Each quantity with the Reading attribute that holds it, looked up once rather than on every poll.
_READING_ATTRIBUTES = tuple((quantity, attribute_of(quantity)) for quantity in Quantity)


def _carried(reading: Reading) -> frozenset[Quantity]:
    """The quantities a reading carries (reported or computed)."""
    return frozenset([quantity for quantity, name in _READING_ATTRIBUTES if getattr(reading, name) is not None])


@lru_cache(maxsize=64)
def _expected(reads: frozenset[Quantity]) -> frozenset[Quantity]:
    """What the monitoring status expects each reading of a device to carry: all it reads but its
    energy counter. Cached, as a fleet has only a handful of different `reads`."""
    return reads - {Quantity.SOLAR_ENERGY_WH}


def _lifecycle_error(slot: DeviceSlot) -> str | None:
    if slot.lifecycle == statuses.LIFECYCLE_ERROR:
        return f"The device keeps failing: {slot.last_error}"
    if slot.lifecycle == statuses.LIFECYCLE_DEAUTHORIZED:
        return f"The manufacturer no longer accepts solarfleet's access: {slot.last_error}"
    return None


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.01))
