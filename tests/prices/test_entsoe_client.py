"""The ENTSO-E client, the publication schedule and the daily fetcher, against a stand-in platform on loopback."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from structlog.testing import capture_logs

from solarfleet.prices.curve import PriceCurve
from solarfleet.prices.entsoe import (
    MAX_DOCUMENT_BYTES,
    DayAheadFetcher,
    EntsoeAuthError,
    EntsoeClient,
    EntsoeDocumentError,
    EntsoeError,
    EntsoeRejected,
    EntsoeUnavailable,
    latest_published_day,
    market_day_bounds,
    next_fetch_at,
    publication_at,
)
from solarfleet.prices.zones import HOUR, QUARTER_HOUR, ZONES, PriceZone, local_day_bounds
from stand_ins.entsoe import EntsoeStandIn, made_up_price

TOKEN = "0f7c1e5a-token-that-must-never-show"
DE_LU = ZONES[PriceZone.DE_LU].eic


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def platform() -> AsyncIterator[EntsoeStandIn]:
    async with EntsoeStandIn(token=TOKEN) as stand_in:
        yield stand_in


class Sleeps:
    """Records back-off delays instead of waiting them out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(platform: EntsoeStandIn, sleeps: Sleeps) -> AsyncIterator[EntsoeClient]:
    async with EntsoeClient(
        TOKEN, base_url=platform.url, timeout_s=0.5, attempts=4, backoff_s=0.01, max_delay_s=1.0, sleep=sleeps
    ) as entsoe:
        yield entsoe


# -- client ------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_local_day_is_asked_for_with_the_platforms_parameters(platform, client):
    curve = await client.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 15))

    assert platform.requests == [
        {
            "securityToken": TOKEN,
            "documentType": "A44",
            "in_Domain": DE_LU,
            "out_Domain": DE_LU,
            "periodStart": "202601142300",
            "periodEnd": "202601152300",
        }
    ]
    assert curve is not None
    assert (curve.zone, curve.resolution, len(curve)) == (PriceZone.DE_LU, QUARTER_HOUR, 96)
    expected = [made_up_price(DE_LU, curve.start + index * QUARTER_HOUR) for index in range(96)]
    assert curve.values.tolist() == expected


@pytest.mark.anyio
async def test_a_local_day_across_two_market_days_is_cut_from_both(platform, client):
    # Tallinn's day runs 23:00-23:00 CET: its first hour was priced by the previous day's auction.
    curve = await client.fetch_day_ahead(PriceZone.EE, date(2026, 1, 15))

    start, end = local_day_bounds(PriceZone.EE, date(2026, 1, 15))
    assert curve is not None
    assert (curve.start, curve.end) == (start, end)
    assert curve.is_complete()
    assert platform.requests[0]["periodStart"] == "202601142200"


@pytest.mark.anyio
@pytest.mark.parametrize(("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25)])
async def test_the_days_clocks_change_come_whole_in_both_austrian_products(client, day, hours):
    quarters = await client.fetch_day_ahead(PriceZone.AT, day)
    hourly = await client.fetch_day_ahead(PriceZone.AT_HOURLY, day)

    assert quarters is not None
    assert hourly is not None
    assert len(quarters) == 4 * hours
    assert len(hourly) == hours
    assert quarters.is_complete()
    assert hourly.is_complete()
    np.testing.assert_allclose(hourly.values, quarters.values.reshape(-1, 4).mean(axis=1))


@pytest.mark.anyio
async def test_a_day_not_yet_published_is_none(platform, client):
    platform.published_until = market_day_bounds(date(2026, 1, 15))[1]

    assert await client.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 16)) is None


@pytest.mark.anyio
async def test_passing_failures_are_retried_with_exponential_back_off(platform, client, sleeps):
    platform.fail(2, status=503)
    platform.fail(1, status=500)

    curve = await client.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 15))

    assert curve is not None
    assert len(platform.requests) == 4
    assert sleeps.delays == [0.01, 0.02, 0.04]


@pytest.mark.anyio
async def test_dropped_connections_are_retried(platform, client, sleeps):
    platform.drop(3)
    assert await client.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 15)) is not None
    assert sleeps.delays  # our own retries, beyond the one aiohttp makes on a dropped keep-alive connection

    platform.drop(100)
    with pytest.raises(EntsoeUnavailable, match="after 4 attempts"):
        await client.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 15))


@pytest.mark.anyio
async def test_too_many_requests_waits_as_long_as_the_platform_asks(platform, client, sleeps):
    platform.fail(1, status=429, retry_after="0.3")
    platform.fail(
        1, status=429, retry_after="Thu, 01 Jan 1970 00:00:00 GMT"
    )  # a date long past: no wait beyond back-off

    assert await client.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 15)) is not None
    assert sleeps.delays == [0.3, 0.02]


@pytest.mark.anyio
async def test_a_wait_longer_than_the_client_allows_is_reported_not_slept(platform, client, sleeps):
    platform.fail(1, status=429, retry_after="3600")

    with pytest.raises(EntsoeUnavailable) as raised:
        await client.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 15))

    assert raised.value.retry_after == 3600
    assert sleeps.delays == []
    assert len(platform.requests) == 1


@pytest.mark.anyio
async def test_retries_end_after_the_last_attempt(platform, client, sleeps):
    platform.fail(10, status=502)

    with pytest.raises(EntsoeUnavailable, match="HTTP 502 after 4 attempts"):
        await client.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 15))

    assert len(platform.requests) == 4
    assert len(sleeps.delays) == 3


@pytest.mark.anyio
async def test_each_request_has_its_own_timeout(platform, sleeps):
    platform.stall(1)
    async with EntsoeClient(TOKEN, base_url=platform.url, timeout_s=0.05, attempts=2, sleep=sleeps) as entsoe:
        # The first request times out, the second is answered.
        assert await entsoe.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 15)) is not None

        platform.stall(2)
        with pytest.raises(EntsoeUnavailable, match="TimeoutError after 2 attempts"):
            await entsoe.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 15))


@pytest.mark.anyio
async def test_a_refused_token_is_not_retried(platform, sleeps):
    async with EntsoeClient("not-the-token", base_url=platform.url, sleep=sleeps) as wrong:
        with pytest.raises(EntsoeAuthError, match="HTTP 401"):
            await wrong.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 15))

    assert len(platform.requests) == 1
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_a_refused_query_is_not_retried_and_says_why(platform, client):
    start, end = market_day_bounds(date(2026, 1, 15))

    with pytest.raises(EntsoeRejected, match="need in_Domain and out_Domain"):
        await client.fetch_area("", start, end)
    platform.fail(1, status=400)
    with pytest.raises(EntsoeRejected, match="HTTP 400"):
        await client.fetch_area(DE_LU, start, end)
    platform.fail(1, status=404)
    with pytest.raises(EntsoeRejected, match="unexpected HTTP 404"):
        await client.fetch_area(DE_LU, start, end)

    assert len(platform.requests) == 3


@pytest.mark.anyio
async def test_an_answer_too_large_to_be_a_price_document_is_refused(platform, client):
    platform.document = b" " * (MAX_DOCUMENT_BYTES + 1)

    with pytest.raises(EntsoeDocumentError, match="larger than"):
        await client.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 15))


@pytest.mark.anyio
async def test_the_token_never_shows_in_logs_errors_or_reprs(platform, sleeps):
    errors: list[EntsoeError] = []
    with capture_logs() as logs:
        async with EntsoeClient(
            TOKEN, base_url=platform.url, timeout_s=0.2, attempts=2, backoff_s=0.01, sleep=sleeps
        ) as entsoe:
            # aiohttp itself retries a dropped keep-alive connection once: drop more than the attempts.
            for fault in (lambda: platform.fail(2), lambda: platform.drop(10), lambda: platform.stall(2)):
                fault()
                with pytest.raises(EntsoeUnavailable) as raised:
                    await entsoe.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 15))
                errors.append(raised.value)
                platform.heal()
            with pytest.raises(EntsoeRejected) as refused:
                await entsoe.fetch_area("", *market_day_bounds(date(2026, 1, 15)))
            errors.append(refused.value)
            shown = repr(entsoe)
        # And to a closed port: a connection error names the address, never the query.
        async with EntsoeClient(TOKEN, base_url="http://127.0.0.1:9/api", attempts=2, sleep=sleeps) as nowhere:
            with pytest.raises(EntsoeUnavailable) as unreachable:
                await nowhere.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 15))
            errors.append(unreachable.value)
        async with EntsoeClient("wrong", base_url=platform.url) as wrong:
            with pytest.raises(EntsoeAuthError) as denied:
                await wrong.fetch_day_ahead(PriceZone.DE_LU, date(2026, 1, 15))
            errors.append(denied.value)

    assert len(logs) >= 4  # the retries were logged
    assert TOKEN not in repr(logs)
    assert TOKEN not in shown
    for error in errors:
        assert TOKEN not in "".join(traceback.format_exception(error))
        assert TOKEN not in repr(error)


def test_a_client_needs_a_token():
    with pytest.raises(ValueError, match="token is required"):
        EntsoeClient("")


# -- publication ---------------------------------------------------------------------------------------


def test_prices_for_tomorrow_are_due_at_13_brussels_time():
    assert publication_at(date(2026, 1, 16)) == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # CET
    assert publication_at(date(2026, 7, 16)) == datetime(2026, 7, 15, 11, 0, tzinfo=UTC)  # CEST
    assert latest_published_day(datetime(2026, 1, 15, 11, 59, tzinfo=UTC)) == date(2026, 1, 15)
    assert latest_published_day(datetime(2026, 1, 15, 12, 0, tzinfo=UTC)) == date(2026, 1, 16)
    # 23:30 UTC is already the next day in Brussels.
    assert latest_published_day(datetime(2026, 1, 15, 23, 30, tzinfo=UTC)) == date(2026, 1, 16)


def test_market_days_are_23_and_25_hours_on_the_days_clocks_change():
    assert market_day_bounds(date(2026, 3, 29)) == (
        datetime(2026, 3, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 29, 22, tzinfo=UTC),
    )
    start, end = market_day_bounds(date(2026, 10, 25))
    assert end - start == 25 * HOUR


@pytest.mark.parametrize(
    ("now", "up_to_date", "expected"),
    [
        # Holding today's prices in the morning: wait for tomorrow's publication.
        (datetime(2026, 1, 15, 8, 0, tzinfo=UTC), True, datetime(2026, 1, 15, 12, 0, tzinfo=UTC)),
        # Holding tomorrow's in the afternoon: wait for the day after's.
        (datetime(2026, 1, 15, 12, 30, tzinfo=UTC), True, datetime(2026, 1, 16, 12, 0, tzinfo=UTC)),
        # The publication of the spring-forward day's successor comes at 13:00 CEST.
        (datetime(2026, 3, 29, 9, 0, tzinfo=UTC), True, datetime(2026, 3, 29, 11, 0, tzinfo=UTC)),
        # Missing what is due: ask again soon.
        (datetime(2026, 1, 15, 12, 30, tzinfo=UTC), False, datetime(2026, 1, 15, 12, 45, tzinfo=UTC)),
        (datetime(2026, 1, 15, 3, 0, tzinfo=UTC), False, datetime(2026, 1, 15, 3, 15, tzinfo=UTC)),
    ],
)
def test_when_to_fetch_next(now, up_to_date, expected):
    assert next_fetch_at(now, up_to_date=up_to_date) == expected


def test_the_retry_interval_is_the_callers():
    now = datetime(2026, 1, 15, 12, 30, tzinfo=UTC)

    assert next_fetch_at(now, up_to_date=False, retry_every=timedelta(minutes=5)) == now + timedelta(minutes=5)


# -- fetcher -------------------------------------------------------------------------------------------


class Store:
    def __init__(self) -> None:
        self.batches: list[list[PriceCurve]] = []

    async def __call__(self, curves: list[PriceCurve]) -> None:
        self.batches.append(curves)


MORNING = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)  # 10:00 CET
PUBLISHED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # 13:00 CET


@pytest.mark.anyio
async def test_the_fetcher_gets_today_at_once_and_tomorrow_from_its_publication(platform, client):
    store = Store()
    fetcher = DayAheadFetcher(client, [PriceZone.DE_LU, PriceZone.AT, PriceZone.AT_HOURLY], store)
    platform.published_until = market_day_bounds(date(2026, 1, 15))[1]

    morning = await fetcher.run_once(MORNING)

    # AT and AT_HOURLY share one request.
    assert sorted(request["in_Domain"] for request in platform.requests) == sorted([DE_LU, ZONES[PriceZone.AT].eic])
    assert {outcome.zone: outcome.complete_through for outcome in morning} == dict.fromkeys(
        [PriceZone.DE_LU, PriceZone.AT, PriceZone.AT_HOURLY], date(2026, 1, 15)
    )
    assert {outcome.next_at for outcome in morning} == {PUBLISHED}
    stored = {curve.zone: curve for batch in store.batches for curve in batch}
    assert stored[PriceZone.AT_HOURLY].resolution == HOUR
    assert (stored[PriceZone.DE_LU].start, stored[PriceZone.DE_LU].end) == market_day_bounds(date(2026, 1, 15))

    assert await fetcher.run_once(MORNING + timedelta(hours=2)) == []  # nothing due before 13:00
    assert len(platform.requests) == 2

    late = await fetcher.run_once(PUBLISHED)  # the auction's results are late today
    assert all(outcome.curve is None for outcome in late)
    assert {outcome.days for outcome in late} == {(date(2026, 1, 16),)}
    assert {outcome.next_at for outcome in late} == {PUBLISHED + timedelta(minutes=15)}

    platform.published_until = None
    arrived = await fetcher.run_once(PUBLISHED + timedelta(minutes=15))
    assert {outcome.complete_through for outcome in arrived} == {date(2026, 1, 16)}
    assert {outcome.next_at for outcome in arrived} == {PUBLISHED + timedelta(days=1)}
    assert len(platform.requests) == 6


@pytest.mark.anyio
async def test_a_day_the_platform_never_publishes_is_asked_for_again_and_again(platform, client):
    platform.published_until = market_day_bounds(date(2026, 1, 14))[1]
    fetcher = DayAheadFetcher(client, [PriceZone.UK], Store(), retry_every=timedelta(minutes=10))

    first = await fetcher.run_once(MORNING)
    second = await fetcher.run_once(MORNING + timedelta(minutes=10))

    assert [outcome.complete_through for outcome in first + second] == [None, None]
    assert second[0].next_at == MORNING + timedelta(minutes=20)
    assert len(platform.requests) == 2


@pytest.mark.anyio
async def test_a_failing_platform_is_asked_again_later_or_when_it_says(platform, sleeps):
    async with EntsoeClient(TOKEN, base_url=platform.url, attempts=1, sleep=sleeps) as entsoe:
        fetcher = DayAheadFetcher(entsoe, [PriceZone.BE], Store())
        platform.fail(1, status=503)
        platform.fail(1, status=429, retry_after="3600")

        failed = await fetcher.run_once(MORNING)
        throttled = await fetcher.run_once(MORNING + timedelta(minutes=15))

    assert failed[0].error is not None
    assert "HTTP 503" in failed[0].error
    assert failed[0].next_at == MORNING + timedelta(minutes=15)
    assert throttled[0].next_at == MORNING + timedelta(minutes=15, hours=1)


@pytest.mark.anyio
async def test_a_refused_token_is_tried_once_a_day(platform):
    async with EntsoeClient("wrong", base_url=platform.url) as wrong:
        fetcher = DayAheadFetcher(wrong, [PriceZone.BE], Store())
        with capture_logs() as logs:
            (outcome,) = await fetcher.run_once(PUBLISHED + timedelta(hours=1))

    assert outcome.next_at == PUBLISHED + timedelta(days=1)
    assert outcome.error is not None
    assert "refused the security token" in outcome.error
    assert [entry["log_level"] for entry in logs] == ["error"]


@pytest.mark.anyio
async def test_a_failing_store_gets_the_prices_again(platform, client):
    calls: list[int] = []

    def flaky_store(curves: list[PriceCurve]) -> None:  # the database side may well be synchronous
        calls.append(len(curves))
        if len(calls) == 1:
            raise RuntimeError("database is locked")

    fetcher = DayAheadFetcher(client, [PriceZone.SE_3], flaky_store)
    with capture_logs():
        failed = await fetcher.run_once(MORNING)
    stored = await fetcher.run_once(MORNING + timedelta(minutes=15))

    assert failed[0].error == "storing failed"
    assert failed[0].complete_through is None
    assert stored[0].complete_through == date(2026, 1, 15)
    assert calls == [1, 1]


@pytest.mark.anyio
async def test_without_a_token_nothing_is_asked_and_it_is_said_once(platform):
    store = Store()
    fetcher = DayAheadFetcher(None, list(PriceZone), store)

    with capture_logs() as logs:
        assert await fetcher.run_once(MORNING) == []
        assert await fetcher.run_once(PUBLISHED) == []
        await fetcher.run(asyncio.Event())  # returns at once: there is nothing to run

    assert platform.requests == []
    assert store.batches == []
    assert len(logs) == 1
    assert logs[0]["log_level"] == "warning"
    assert "SOLARFLEET_ENTSOE_TOKEN" in logs[0]["how_to_turn_on"]


@pytest.mark.anyio
async def test_run_fetches_until_stopped(platform, client):
    stop = asyncio.Event()

    async def store_and_stop(curves: list[PriceCurve]) -> None:
        stop.set()

    fetcher = DayAheadFetcher(client, [PriceZone.HU], store_and_stop, clock=lambda: MORNING)

    await asyncio.wait_for(fetcher.run(stop), timeout=5)

    assert len(platform.requests) == 1
