"""Request budgets: quotas, concurrency, spacing and back-off, a simulated day of 1,000 SolarEdge sites,
and a day of real connectors against the stand-in vendor in fast time."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import math
import random
import selectors
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from solarfleet.connectors.base import DeviceUnreachable
from solarfleet.connectors.budget import DAY, BudgetLease, BudgetRegistry, Clock, Limits, OverBudget
from solarfleet.connectors.registry import ConnectorContext, open_connector
from solarfleet.connectors.solaredge import (
    ENERGY_REFRESH,
    ENERGY_REFRESH_POLLS,
    IDENTITY_REQUESTS_PER_DAY,
    KEY_LIMITS,
    REQUESTS_PER_POLL,
    SITE_LIMITS,
    SOURCE_LIMITS,
    VENDOR,
    SolarEdgeConnector,
)
from stand_ins.solaredge import SolarEdgeStandIn, StandInSite

START = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _VirtualSelector(selectors.DefaultSelector):
    """Polls real I/O without blocking and, where the loop would wait for a timer, jumps to it instead."""

    def __init__(self) -> None:
        super().__init__()
        self.time = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:  # no timer pending: only another thread can wake the loop
            return super().select(None)
        events = super().select(0)
        if not events:
            self.time += timeout
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock runs only while every task waits: a simulated day passes in moments."""

    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.time


def in_virtual_time(main: Callable[[Clock], Coroutine[Any, Any, Any]]) -> Any:
    """Run `main(clock)` on a virtual-time loop; the clock starts at START."""

    def now() -> datetime:
        return START + timedelta(seconds=asyncio.get_running_loop().time())

    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main(Clock(now=now, sleep=asyncio.sleep)))


def seconds_since_start(clock: Clock) -> float:
    return (clock.now() - START).total_seconds()


# The budget on its own


def test_the_daily_quota_is_never_exceeded_and_renews_as_requests_age_out() -> None:
    async def main(clock: Clock) -> None:
        registry = BudgetRegistry(clock)
        limits = Limits(per_day=5, margin=timedelta(minutes=5))
        lease = registry.lease(registry.site("v", 1, limits))
        for _ in range(5):
            async with lease.permit():
                await clock.sleep(60)
        with pytest.raises(OverBudget) as caught:
            async with lease.permit():
                pytest.fail("a sixth request was let through")
        assert caught.value.retry_at == START + DAY + timedelta(minutes=5)  # when the first one ages out
        assert "5 requests" in str(caught.value)

        await clock.sleep((caught.value.retry_at - clock.now()).total_seconds())
        async with lease.permit():
            pass
        assert lease.budgets[0].used() == 5

    in_virtual_time(main)


def test_concurrency_is_limited_and_waiters_take_turns() -> None:
    async def main(clock: Clock) -> None:
        registry = BudgetRegistry(clock)
        lease = registry.lease(registry.credential("v", "secret", Limits(concurrency=3)))
        running = peak = 0

        async def request() -> None:
            nonlocal running, peak
            async with lease.permit():
                running += 1
                peak = max(peak, running)
                await clock.sleep(1)
                running -= 1

        await asyncio.gather(*(request() for _ in range(10)))
        assert peak == 3
        assert lease.budgets[0].peak_in_flight == 3
        assert seconds_since_start(clock) == 4  # 10 requests of a second, 3 at a time

    in_virtual_time(main)


def test_a_cancelled_waiter_gives_its_turn_back() -> None:
    async def main(clock: Clock) -> None:
        registry = BudgetRegistry(clock)
        budget = registry.source("v", Limits(concurrency=1))
        lease = registry.lease(budget)

        async def request(seconds: float) -> None:
            async with lease.permit():
                await clock.sleep(seconds)

        holder = asyncio.create_task(request(10))
        waiter = asyncio.create_task(request(1))
        await clock.sleep(1)
        waiter.cancel()
        await holder
        await request(1)  # would hang if the cancelled waiter had kept the slot
        assert budget.in_flight == 0
        assert budget.sent_total == 2

    in_virtual_time(main)


def test_requests_are_spaced() -> None:
    async def main(clock: Clock) -> None:
        registry = BudgetRegistry(clock)
        lease = registry.lease(registry.site("v", 1, Limits(min_spacing=timedelta(seconds=10))))
        starts = []

        async def request() -> None:
            async with lease.permit():
                starts.append(seconds_since_start(clock))

        await asyncio.gather(*(request() for _ in range(4)))
        assert starts == [0, 10, 20, 30]

    in_virtual_time(main)


def test_a_refusal_counts_and_backs_off_longer_each_time_in_a_row() -> None:
    async def main(clock: Clock) -> None:
        registry = BudgetRegistry(clock)
        budget = registry.credential("v", "secret", Limits(per_day=100))
        site = registry.site("v", 7, Limits(per_day=100))
        lease = registry.lease(budget, site)
        pauses = []
        for _ in range(8):
            async with lease.permit() as permit:
                until = permit.refused()
            pauses.append((until - clock.now()).total_seconds())
            with pytest.raises(OverBudget):
                async with lease.permit():
                    pytest.fail("sent while backing off")
            await clock.sleep(pauses[-1])
        assert pauses == [60, 120, 240, 480, 960, 1920, 3600, 3600]
        assert budget.used() == site.used() == 8  # refused requests still count against the day
        assert budget.refused_total == 8

        async with lease.permit():
            pass  # a success ends the streak
        async with lease.permit() as permit:
            assert (permit.refused() - clock.now()).total_seconds() == 60

    in_virtual_time(main)


def test_every_device_behind_one_key_shares_one_budget_named_by_a_keyed_hash() -> None:
    secret = "WYDVMYR8I89N26U9QY6P32SVMXYYGSFE"
    registry = BudgetRegistry()
    first = registry.credential(VENDOR, secret, KEY_LIMITS)
    assert registry.credential(VENDOR, secret, KEY_LIMITS) is first
    assert registry.credential(VENDOR, secret[::-1], KEY_LIMITS) is not first
    assert registry.site(VENDOR, 12, SITE_LIMITS) is registry.site(VENDOR, "12", SITE_LIMITS)
    assert registry.source(VENDOR, SOURCE_LIMITS) is registry.source(VENDOR, SOURCE_LIMITS)
    assert secret not in first.label + repr(first) + repr(registry)
    assert BudgetRegistry().fingerprint(secret) != registry.fingerprint(secret)  # no stable hash to guess against


def test_poll_intervals_split_the_planned_quota_between_the_sharers() -> None:
    registry = BudgetRegistry()
    budget = registry.credential(VENDOR, "k", Limits(per_day=300, planned_share=0.9, margin=timedelta(0)))
    leases = [registry.lease(budget) for _ in range(10)]
    assert leases[0].poll_interval() == DAY / 270  # one device (the others have not opened yet)
    for lease in leases:
        lease.open()
    assert leases[0].poll_interval() == DAY / 27
    assert leases[0].poll_interval(2.0, other_requests_per_day=7) == DAY / 10
    assert leases[0].poll_interval(1.0, other_requests_per_day=30) == DAY  # nothing left: once a day at most
    spaced = registry.lease(registry.site(VENDOR, 1, Limits(min_spacing=timedelta(seconds=30))))
    assert spaced.poll_interval(2.0) == timedelta(seconds=60)


# A simulated day of 1,000 SolarEdge sites


@dataclass
class VendorLedger:
    """What SolarEdge would count: requests per key and site, per calendar day and over time, and concurrency."""

    now: Callable[[], float]  # seconds since START
    times_by_key: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    times_by_site: defaultdict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    in_flight: Counter[str] = field(default_factory=Counter)
    peak_per_key: Counter[str] = field(default_factory=Counter)
    in_flight_source: int = 0
    peak_source: int = 0

    def start(self, key: str, site: int) -> None:
        moment = START.timestamp() + self.now()
        self.times_by_key[key].append(moment)
        self.times_by_site[site].append(moment)
        self.in_flight[key] += 1
        if self.in_flight[key] > self.peak_per_key[key]:
            self.peak_per_key[key] = self.in_flight[key]
        self.in_flight_source += 1
        if self.in_flight_source > self.peak_source:
            self.peak_source = self.in_flight_source

    def end(self, key: str) -> None:
        self.in_flight[key] -= 1
        self.in_flight_source -= 1


def most_in_any_day(times: list[float]) -> int:
    """The most requests in any window of 24 hours (so also in any calendar day, in any time zone)."""
    return max(bisect.bisect_left(times, t + DAY.total_seconds()) - i for i, t in enumerate(times))


def per_calendar_day(times: list[float]) -> Counter:
    return Counter(datetime.fromtimestamp(t, UTC).date() for t in times)


def installer_layout(sites: int) -> list[list[int]]:
    """Sites grouped by API key: most sites have their own; installers' keys cover 5, 10 or 25 sites."""
    sizes = [25, 25] + [10] * 5 + [5] * 10
    groups, site = [], 0
    for size in sizes:
        groups.append(list(range(site, site + size)))
        site += size
    groups += [[n] for n in range(site, sites)]
    return groups


TICK_S = 0.5
ANSWER_TICKS = (1, 1, 1, 2)  # SolarEdge answers in half a second, sometimes a second


class Timeline:
    """The simulated scheduler's waits, on ticks of half a second, kept in one heap with one loop timer.

    A loop timer per wait would cost more than the budgets being tested; waits ending on the same tick
    also share one turn of the loop.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._due: list[tuple[float, int, asyncio.Future[None]]] = []
        self._count = itertools.count()
        self._alarm: asyncio.TimerHandle | None = None

    def now(self) -> float:
        return self._loop.time()

    def sleep(self, seconds: float) -> asyncio.Future[None]:
        tick = math.ceil((self._loop.time() + (seconds if seconds > 0 else 0)) / TICK_S) * TICK_S
        future = self._loop.create_future()
        heapq.heappush(self._due, (tick, next(self._count), future))
        if self._alarm is None or tick < self._alarm.when():
            self._set_alarm(tick)
        return future

    def _set_alarm(self, when: float) -> None:
        if self._alarm is not None:
            self._alarm.cancel()
        self._alarm = self._loop.call_at(when, self._ring)

    def _ring(self) -> None:
        self._alarm = None
        now = self._loop.time()
        while self._due and self._due[0][0] <= now:
            future = heapq.heappop(self._due)[2]
            if not future.done():
                future.set_result(None)
        if self._due:
            self._set_alarm(self._due[0][0])


def test_a_simulated_day_of_1000_sites_stays_within_every_limit_and_spreads_the_polls() -> None:
    hours = 24  # from 21:00, so SolarEdge's (calendar) day turns three hours in
    groups = installer_layout(1000)
    rng = random.Random(20260301)
    refusals = 0

    async def main(clock: Clock) -> VendorLedger:
        registry = BudgetRegistry(clock)
        timeline = Timeline()
        ledger = VendorLedger(timeline.now)
        end = hours * 3600

        async def request(lease: BudgetLease, key: str, site: int) -> None:
            async with lease.permit():
                ledger.start(key, site)
                try:
                    await timeline.sleep(rng.choice(ANSWER_TICKS) * TICK_S)
                finally:
                    ledger.end(key)

        async def device(key: str, site: int) -> None:
            """What the scheduler does with each SolarEdge connector: ask the interval, poll, respect retry_at."""
            nonlocal refusals
            lease = registry.lease(
                registry.credential(VENDOR, key, KEY_LIMITS),
                registry.site(VENDOR, site, SITE_LIMITS),
                registry.source(VENDOR, SOURCE_LIMITS),
            )
            lease.open()
            await asyncio.sleep(0)  # let every device open its lease before anyone plans
            interval = lease.poll_interval(REQUESTS_PER_POLL, IDENTITY_REQUESTS_PER_DAY).total_seconds()
            await timeline.sleep(rng.uniform(0, interval))  # first polls spread over one interval
            pending = ["details", "inventory"]
            energy_at = -math.inf
            energy_every = max(ENERGY_REFRESH.total_seconds(), ENERGY_REFRESH_POLLS * interval)
            while timeline.now() < end:
                try:
                    while pending:
                        await request(lease, key, site)
                        pending.pop()
                    await request(lease, key, site)  # currentPowerFlow
                    if timeline.now() - energy_at >= energy_every:
                        energy_at = timeline.now()
                        await request(lease, key, site)  # overview
                except OverBudget as over:
                    refusals += 1
                    await timeline.sleep((over.retry_at - clock.now()).total_seconds())
                    continue
                interval = lease.poll_interval(REQUESTS_PER_POLL, IDENTITY_REQUESTS_PER_DAY).total_seconds()
                await timeline.sleep(interval)

        await asyncio.gather(*(device(f"key-{group[0]}", site) for group in groups for site in group))
        return ledger

    ledger = in_virtual_time(main)

    per_key = {key: per_calendar_day(times) for key, times in ledger.times_by_key.items()}
    per_site = {site: per_calendar_day(times) for site, times in ledger.times_by_site.items()}
    # Zero requests over any limit: per key and per site per calendar day, and even per rolling day.
    assert max(count for days in per_key.values() for count in days.values()) <= 300
    assert max(count for days in per_site.values() for count in days.values()) <= 300
    assert max(most_in_any_day(times) for times in ledger.times_by_key.values()) <= 300
    assert max(most_in_any_day(times) for times in ledger.times_by_site.values()) <= 300
    assert max(ledger.peak_per_key.values()) <= 3
    assert ledger.peak_source <= 3  # SolarEdge's concurrency limit is per source address
    # The quota is used, not left idle: every key spends most of its 300 over the day.
    assert min(map(len, ledger.times_by_key.values())) >= 200
    assert refusals < 0.001 * sum(map(len, ledger.times_by_key.values()))
    # Spread over the day: no hour much above the average, midnight included.
    hourly = Counter(int((t - START.timestamp()) // 3600) for times in ledger.times_by_key.values() for t in times)
    average = sum(hourly.values()) / hours
    assert max(hourly.values()) <= 1.5 * average
    assert min(hourly.values()) >= 0.5 * average


# A day of real connectors against the stand-in vendor


INSTALLER_KEY = "WYDVMYR8I89N26U9QY6P32SVMXYYGSFE"
OWNER_KEYS = ["P1MGY4VDLYQFRNY55UVFNOAEK9DNAUQS", "66N8GMUTHYPRJPGV2IAXO3G7IQH5RWQF"]


class FastClock:
    """Real time, sped up: a day in a few seconds, for code that does real I/O and so cannot run in virtual time."""

    def __init__(self, start: datetime, speed: float) -> None:
        self._start = start
        self._speed = speed
        self._origin = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._origin) * self._speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self._speed)


@pytest.fixture
async def fast_vendor() -> AsyncIterator[tuple[FastClock, SolarEdgeStandIn]]:
    # a day in five seconds: slow enough that loopback latency under a loaded CI machine stays minutes
    clock = FastClock(START + timedelta(hours=2), speed=86400 / 5)
    async with SolarEdgeStandIn(now=clock.now) as vendor:
        yield clock, vendor


@pytest.mark.anyio
async def test_real_connectors_polled_for_a_day_never_exceed_the_vendors_limits(fast_vendor) -> None:
    clock, vendor = fast_vendor
    installer, owners = INSTALLER_KEY, OWNER_KEYS
    vendor.add(installer, *(StandInSite(100 + n) for n in range(10)))
    for n, key in enumerate(owners):
        vendor.add(key, StandInSite(200 + n, batteries=[("BAT-10K1P", f"T{n}", 9700.0)], battery_w=-500))
    context = ConnectorContext(budgets=BudgetRegistry(Clock(clock.now, clock.sleep)), io_timeout_s=5)
    settings = [(installer, 100 + n) for n in range(10)] + [(key, 200 + n) for n, key in enumerate(owners)]
    connectors = [
        open_connector("solaredge_monitoring", {"api_key": key, "site_id": site, "base_url": vendor.base_url}, context)
        for key, site in settings
    ]
    end = clock.now() + timedelta(hours=25)  # 23:00 to midnight a day later: one whole calendar day
    polls: Counter[int] = Counter()
    failures: list[DeviceUnreachable] = []

    async def scheduler(connector: SolarEdgeConnector, index: int) -> None:
        await connector.capabilities()
        await clock.sleep(random.Random(index).uniform(0, connector.poll_interval().total_seconds()))
        while clock.now() < end:
            try:
                await connector.read_state()
                polls[index] += 1
            except OverBudget as over:
                await clock.sleep(max((over.retry_at - clock.now()).total_seconds(), 0))
                continue
            except DeviceUnreachable as error:
                failures.append(error)
            await clock.sleep(connector.poll_interval().total_seconds())

    try:
        await asyncio.gather(*(scheduler(connector, index) for index, connector in enumerate(connectors)))
    finally:
        await context.close()

    assert vendor.over_limit == []
    assert {seen.status for seen in vendor.seen} == {200}
    assert max(vendor.per_key_day.values()) <= 300
    assert max(vendor.per_site_day.values()) <= 300
    assert vendor.peak_per_source <= 3
    full_day = (START + timedelta(hours=3)).date()
    for key in [installer, *owners]:
        assert vendor.per_key_day[key, full_day] >= 200  # the quota is used
    assert failures == []
    assert min(polls[index] for index in range(10)) >= 15  # ten sites share one key: about one poll an hour
    assert min(polls[index] for index in range(10, 12)) >= 180
