"""What runs beside the API: the monitoring worker (which also steers), the day-ahead price fetcher,
and the daily jobs. One process runs them in the embedded default; in a scale-out, each `monitor`
process runs its worker, and the one holding shard 0 also fetches prices and runs the daily jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from solarfleet.config import Settings
from solarfleet.connectors.simulator.clock import SimulationClock
from solarfleet.database import Database
from solarfleet.inference.service import run_inference
from solarfleet.monitoring.pipeline import MonitoringWorker
from solarfleet.onboarding.flow import forget_expired_details
from solarfleet.prices.curve import PriceCurve
from solarfleet.prices.entsoe import DayAheadFetcher, EntsoeClient
from solarfleet.prices.store import store_curves
from solarfleet.prices.zones import PriceZone
from solarfleet.savings.daily import next_daily_run, run_daily

log = structlog.get_logger(__name__)

DAILY_CHECK = timedelta(minutes=5)  # how often the wait looks at the clock (a simulated one may jump)


def price_fetcher(
    database: Database, settings: Settings, clock: Callable[[], datetime], market=None
) -> DayAheadFetcher:
    """The fetcher of every zone's day-ahead prices: from ENTSO-E when a token is configured, from
    `market` where one is given (the demo's synthetic market), else none (it says so once)."""
    if market is None and settings.entsoe_token is not None:
        market = EntsoeClient(settings.entsoe_token.get_secret_value(), base_url=settings.entsoe_base_url)

    async def store(curves: list[PriceCurve]) -> None:
        await asyncio.to_thread(_store, database, curves)

    return DayAheadFetcher(market, list(PriceZone), store, clock=clock)


def _store(database: Database, curves: list[PriceCurve]) -> None:
    with database.session() as session:
        store_curves(session, curves)


async def run_fleet(worker: MonitoringWorker, stop: asyncio.Event, fetcher: DayAheadFetcher | None) -> None:
    """Monitor and steer until `stop` is set; with a fetcher (the process that holds shard 0), also keep
    prices current and run the daily savings job for the whole fleet."""
    tasks = [worker.run(stop)]
    if fetcher is not None:
        tasks += [fetcher.run(stop), _daily_jobs(worker.database, worker.clock, stop)]
    try:
        await asyncio.gather(*tasks)
    finally:
        if fetcher is not None:
            await fetcher.close()


async def _daily_jobs(database: Database, clock: SimulationClock, stop: asyncio.Event) -> None:
    """Yesterday's savings, forecast errors and optimisation scores, then the inference from the last 30
    days' readings and forgetting what customers typed into expired Connect UI sessions, once a day
    (`next_daily_run`)."""
    while not stop.is_set():
        due = next_daily_run(clock.now())
        while not stop.is_set() and clock.now() < due:
            wait = min((due - clock.now()).total_seconds(), DAILY_CHECK.total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(clock.wall_seconds(timedelta(seconds=wait)), 0.05))
        if stop.is_set():
            return
        for job, advice in (
            (run_daily, "or now with `solarfleet savings compute`"),
            (run_inference, "or now with `solarfleet inference run`"),
            (forget_expired_details, "nothing is lost meanwhile"),
        ):
            try:
                await asyncio.to_thread(job, database, clock.now())
            except Exception:
                log.exception(f"a daily job failed; it runs again tomorrow, {advice}")
