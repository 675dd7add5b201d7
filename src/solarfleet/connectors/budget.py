"""Request budgets: how many requests one vendor credential, one site or one source address may make.

Cloud APIs meter their clients. SolarEdge, for instance, allows 300 requests a day per API key and
300 per site, and 3 concurrent requests per source address. Every device behind one credential must
share one budget, so a connector asks the worker's `BudgetRegistry` for the budgets it draws on and
holds a `BudgetLease` on them:

* `lease.poll_interval(requests_per_poll, other_requests_per_day)` says how often the device may be
  polled so that the quota of every budget, split between the devices sharing it, lasts the whole day;
* `async with lease.permit() as permit:` wraps each single request. It waits for a concurrency slot
  and the minimum spacing, and raises `OverBudget` (with `retry_at`) instead of ever exceeding a
  daily quota or while the vendor has asked us to back off. A request the vendor refused with HTTP 429
  still counts; `permit.refused(retry_after)` records the refusal and pauses every budget of the lease.

The daily quota is counted over a rolling window of a day plus a margin, not per calendar day. A rolling
window that never holds more than the quota cannot exceed it on any calendar day, in whatever time zone
the vendor counts its day, and the quota never renews all at once at midnight to be spent in a burst. The
margin covers the latency between our count (at sending) and the vendor's (at arrival), and clock skew.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType

from solarfleet.connectors.base import DeviceUnreachable

DAY = timedelta(days=1)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Clock:
    """Where budgets read the time and how they wait; tests pass a virtual clock to simulate a day in seconds."""

    now: Callable[[], datetime] = _utc_now
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep


@dataclass(frozen=True, slots=True)
class Limits:
    """A vendor's limits for one budget; `None` means the vendor does not limit that dimension."""

    per_day: int | None = None  # requests in any rolling day
    concurrency: int | None = None  # requests in flight at once
    min_spacing: timedelta = timedelta(0)  # between the starts of two requests
    # Poll intervals plan for this share of the quota; the rest absorbs start-up requests and retries.
    planned_share: float = 0.9
    margin: timedelta = timedelta(minutes=5)  # added to the day of the rolling window
    backoff: timedelta = timedelta(minutes=1)  # first pause after a refusal, doubled for each one in a row
    max_backoff: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.per_day is not None and self.per_day < 1:
            raise ValueError("per_day must be at least 1")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not 0 < self.planned_share <= 1:
            raise ValueError("planned_share must be in (0, 1]")


class OverBudget(DeviceUnreachable):
    """No request may be sent now without breaking a vendor limit, or the vendor asked us to back off.

    `retry_at` (UTC) is the earliest time a request may be tried again; schedulers should not poll before.
    """

    def __init__(self, message: str, retry_at: datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class RequestBudget:
    """The requests one credential, site or source address may make; shared by every device that uses it."""

    def __init__(self, label: str, limits: Limits, clock: Clock) -> None:
        self.label = label  # never holds a secret: credentials are named by a keyed hash
        self.limits = limits
        self._clock = clock
        self._window = (DAY + limits.margin).total_seconds()
        self._spacing = limits.min_spacing.total_seconds()
        self._sent: deque[float] = deque()  # start times (POSIX seconds) of the requests in the window
        self._waiters: deque[asyncio.Future[None]] = deque()  # for a concurrency slot, first come first served
        self._next_start = -math.inf
        self._backoff_until = -math.inf
        self._refusals_in_a_row = 0
        self.sharers = 0  # devices holding a lease on this budget
        self.in_flight = 0
        self.peak_in_flight = 0
        self.sent_total = 0
        self.refused_total = 0

    def __repr__(self) -> str:
        return (
            f"RequestBudget({self.label!r}, sent={self.sent_total}, sharers={self.sharers}, in_flight={self.in_flight})"
        )

    def used(self) -> int:
        """Requests counted in the current rolling window."""
        self._forget_before(self._clock.now().timestamp())
        return len(self._sent)

    def poll_interval(self, requests_per_poll: float = 1.0, other_requests_per_day: float = 0.0) -> timedelta:
        """How often each of the devices sharing this budget may be polled.

        A poll costs `requests_per_poll` requests on average; `other_requests_per_day` are what each device
        spends besides polls (identity, start-up). The planned share of the quota is split evenly between
        the sharers and each device's polls are spread evenly over the day. Where even that leaves less
        than one poll a day, the answer is a day and the permits refuse what does not fit.
        """
        if requests_per_poll <= 0:
            raise ValueError("requests_per_poll must be positive")
        sharers = self.sharers if self.sharers > 1 else 1
        seconds = sharers * requests_per_poll * self._spacing
        if self.limits.per_day is not None:
            planned = self.limits.per_day * self.limits.planned_share
            polls = (planned / sharers - other_requests_per_day) / requests_per_poll
            spread = self._window / polls if polls >= 1 else DAY.total_seconds()
            if spread > seconds:
                seconds = spread
        return timedelta(seconds=seconds)

    # The lease drives the rest; one request holds a slot on every budget of its lease.

    def _forget_before(self, now: float) -> None:
        sent, horizon = self._sent, now - self._window
        while sent and sent[0] <= horizon:
            sent.popleft()

    def _blocked_until(self, now: float) -> tuple[float, str] | None:
        """When a request may be sent again, and why, if one may not be sent at `now`."""
        if now < self._backoff_until:
            return self._backoff_until, "the vendor refused a request; backing off"
        if self.limits.per_day is not None:
            self._forget_before(now)
            if len(self._sent) >= self.limits.per_day:
                return self._sent[0] + self._window, f"all {self.limits.per_day} requests of the day are used"
        return None

    def _slot_free(self) -> bool:
        limit = self.limits.concurrency
        return limit is None or (self.in_flight < limit and not self._waiters)

    def _occupy(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.peak_in_flight:
            self.peak_in_flight = self.in_flight

    async def _take_slot(self) -> None:
        if self._slot_free():
            self._occupy()
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # resolved by a release that hands its slot over
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # handed a slot, then cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def _release_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight on, so nobody can jump the queue
                return
        self.in_flight -= 1

    def _record(self, now: float) -> None:
        self._sent.append(now)
        self.sent_total += 1
        self._next_start = now + self._spacing

    def _refused(self, now: float, retry_after: float | None) -> float:
        self.refused_total += 1
        self._refusals_in_a_row += 1
        pause = self.limits.backoff.total_seconds() * 2 ** (self._refusals_in_a_row - 1)
        pause = min(pause, self.limits.max_backoff.total_seconds())
        if retry_after is not None:
            pause = max(pause, retry_after)  # the vendor's own word wins when it asks for longer
        self._backoff_until = max(self._backoff_until, now + pause)
        return self._backoff_until

    def _succeeded(self) -> None:
        self._refusals_in_a_row = 0


class Permit:
    """One request's hold on every budget of a lease; use as `async with lease.permit() as permit:`."""

    def __init__(self, lease: BudgetLease) -> None:
        self._lease = lease
        self._held: list[RequestBudget] = []
        self._refused = False

    async def __aenter__(self) -> Permit:
        budgets = self._lease.budgets
        clock = self._lease.clock
        now = clock.now().timestamp()
        # Fail fast: a request that cannot be sent today should not queue for a slot first.
        self._lease.check(now)
        for budget in budgets:
            if not budget._slot_free() or budget._next_start > now:
                now = await self._wait_for_turn()
                break
        else:
            # The common case, without suspending: nothing else can run between the check and the record.
            for budget in budgets:
                budget._occupy()
            self._held.extend(budgets)
        # Counted at sending, so a request that fails or is refused still counts against the day.
        for budget in budgets:
            budget._record(now)
        return self

    async def _wait_for_turn(self) -> float:
        """Take a slot on every budget and wait out the spacing; the time at which the request may go."""
        budgets = self._lease.budgets
        clock = self._lease.clock
        try:
            for budget in budgets:  # always in lease order (credential, site, source): no lock cycles
                await budget._take_slot()
                self._held.append(budget)
            while True:
                now = clock.now().timestamp()
                self._lease.check(now)
                wait = max(budget._next_start for budget in budgets) - now
                if wait <= 0:
                    break
                await clock.sleep(wait)
        except BaseException:
            self._release()
            raise
        return now

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._release()
        if exc_type is None and not self._refused:  # answered, if not necessarily well: the streak of refusals ends
            for budget in self._lease.budgets:
                budget._succeeded()

    def refused(self, retry_after: float | None = None) -> datetime:
        """The vendor refused this request (HTTP 429): pause every budget of the lease; returns until when.

        The vendor does not say which of its limits was hit, so the credential, the site and the source
        all pause. Pauses double with each refusal in a row, up to the limits' `max_backoff`.
        """
        self._refused = True
        now = self._lease.clock.now().timestamp()
        until = max(budget._refused(now, retry_after) for budget in self._lease.budgets)
        return datetime.fromtimestamp(until, UTC)

    def _release(self) -> None:
        while self._held:
            self._held.pop()._release_slot()


class BudgetLease:
    """One device's share of the budgets it draws on (for SolarEdge: its API key, its site, the source address)."""

    def __init__(self, budgets: Sequence[RequestBudget], clock: Clock) -> None:
        if not budgets:
            raise ValueError("a lease needs at least one budget")
        self.budgets = tuple(budgets)
        self.clock = clock
        self._open = False

    def __repr__(self) -> str:
        return f"BudgetLease({', '.join(budget.label for budget in self.budgets)})"

    def open(self) -> None:
        """Count this device as a sharer of its budgets (idempotent)."""
        if not self._open:
            self._open = True
            for budget in self.budgets:
                budget.sharers += 1

    def close(self) -> None:
        """Stop counting this device, so the others sharing the budgets may poll more often (idempotent)."""
        if self._open:
            self._open = False
            for budget in self.budgets:
                budget.sharers -= 1

    def poll_interval(self, requests_per_poll: float = 1.0, other_requests_per_day: float = 0.0) -> timedelta:
        """The longest of the budgets' poll intervals: the one that keeps every budget inside its limits."""
        self.open()
        return max(budget.poll_interval(requests_per_poll, other_requests_per_day) for budget in self.budgets)

    def permit(self) -> Permit:
        """A permit for one request; the lease counts as open from the first request on."""
        self.open()
        return Permit(self)

    def check(self, now: float) -> None:
        """Raise `OverBudget` if no request may be sent at `now` (POSIX seconds)."""
        worst: tuple[float, str, RequestBudget] | None = None
        for budget in self.budgets:
            blocked = budget._blocked_until(now)
            # Report the budget that blocks longest, so a caller that waits for `retry_at` waits once.
            if blocked is not None and (worst is None or blocked[0] > worst[0]):
                worst = (*blocked, budget)
        if worst is not None:
            until, why, budget = worst
            raise OverBudget(f"{budget.label}: {why}", datetime.fromtimestamp(until, UTC))


class BudgetRegistry:
    """One budget per vendor credential, per site and per source address, handed out to every device that shares it.

    Credentials are keyed by a hash keyed with a per-registry random secret: the registry never holds the
    raw secret, and its labels (which appear in messages and logs) cannot be used to guess a weak one.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self._hash_key = secrets.token_bytes(16)
        self._budgets: dict[tuple[str, str, str], RequestBudget] = {}

    def __repr__(self) -> str:
        return f"BudgetRegistry({len(self._budgets)} budgets)"

    def fingerprint(self, secret: str) -> str:
        """A short name for a credential that is stable within this registry and reveals nothing of it."""
        return hashlib.blake2b(secret.encode(), key=self._hash_key, digest_size=8).hexdigest()

    def credential(self, vendor: str, secret: str, limits: Limits) -> RequestBudget:
        """The budget of one API key, shared by every device (and site) reached through it."""
        return self._budget(vendor, "key", self.fingerprint(secret), limits)

    def site(self, vendor: str, site_id: str | int, limits: Limits) -> RequestBudget:
        """The budget of one vendor site, whichever credential reads it."""
        return self._budget(vendor, "site", str(site_id), limits)

    def source(self, vendor: str, limits: Limits) -> RequestBudget:
        """The budget of everything this worker sends to the vendor: limits per source address land here."""
        return self._budget(vendor, "source", "", limits)

    def lease(self, *budgets: RequestBudget) -> BudgetLease:
        """A device's lease on its budgets, in the order their slots are taken (most specific first)."""
        return BudgetLease(budgets, self.clock)

    def budgets(self) -> list[RequestBudget]:
        return list(self._budgets.values())

    def _budget(self, vendor: str, scope: str, name: str, limits: Limits) -> RequestBudget:
        # Budgets outlive their leases: a device removed and added again must not find a fresh quota.
        # The limits are the vendor's, so the first caller's stand for everyone.
        key = (vendor, scope, name)
        budget = self._budgets.get(key)
        if budget is None:
            label = " ".join(part for part in (vendor, scope, name) if part)
            budget = self._budgets[key] = RequestBudget(label, limits, self.clock)
        return budget
