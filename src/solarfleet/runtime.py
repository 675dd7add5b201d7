"""What runs beside the API: the monitoring worker (which also steers), the day-ahead price fetcher,
and the daily jobs. One process runs them in the embedded default; in a scale-out, each `monitor`
process runs its worker, and the one holding shard 0 also fetches prices and runs the daily jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from solarfleet.config import Settings
from solarfleet.database import Database
from solarfleet.monitoring.pipeline import MonitoringWorker
from solarfleet.prices.curve import PriceCurve
from solarfleet.prices.entsoe import DayAheadFetcher, EntsoeClient
from solarfleet.prices.store import store_curves
from solarfleet.prices.zones import PriceZone


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
    """Monitor and steer, and keep prices current, until `stop` is set."""
    tasks = [worker.run(stop)]
    if fetcher is not None:
        tasks.append(fetcher.run(stop))
    try:
        await asyncio.gather(*tasks)
    finally:
        if fetcher is not None:
            await fetcher.close()
