"""Day-ahead prices from the ENTSO-E Transparency Platform: the document parser, the HTTP client, and the
daily fetcher that keeps every zone's prices current.

The platform answers a day-ahead price query (document type A44) with a Publication_MarketDocument, or
with an Acknowledgement_MarketDocument when it has nothing or refuses the query. Prices come per
TimeSeries and Period on a UTC grid; local days, daylight-saving days included, are cut from them here.

Day-ahead prices for delivery day D are set by the SDAC auction (gate closure 12:00 CET on D-1) and
published about 12:45-13:00 CET. Every zone served here trades on the CET delivery day ("market day"),
so the fetcher asks for market days, which tile time without gaps however a zone's local day falls.

The security token travels as the `securityToken` query parameter, as the platform requires. It is
never logged and never appears in messages or reprs: errors name the area and the failure only.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import Element, ParseError
from zoneinfo import ZoneInfo

import aiohttp
import numpy as np
import structlog
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from solarfleet.prices.curve import PriceCurve, PriceSource
from solarfleet.prices.zones import (
    HOUR,
    QUARTER_HOUR,
    ZONES,
    PriceZone,
    day_ahead_resolution,
    day_bounds,
    local_day_bounds,
    zone_of_eic,
)

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://web-api.tradingplatform.entsoe.eu/api"
ENVIRONMENT_VARIABLE = "SOLARFLEET_ENTSOE_TOKEN"

PUBLICATION_NAMESPACES = frozenset(
    {
        "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3",
        "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:0",
    }
)
NO_DATA = "No matching data found"
# DE_LU and AT carry two day-ahead auctions: SDAC under sequence 1, EXAA's 10:15 auction under 2.
SDAC_SEQUENCE = 1
DAY_AHEAD_CONTRACT = "A01"  # contract_MarketAgreement.type; some zones mix in intraday (A07) series
_RESOLUTIONS = {"PT15M": QUARTER_HOUR, "PT60M": HOUR}
# A day's document is some kilobytes; anything far larger is not an answer to our query.
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024

MARKET_TIMEZONE = "Europe/Brussels"
PUBLICATION_TIME = time(13, 0)  # local to MARKET_TIMEZONE, on the day before delivery
RETRY_EVERY = timedelta(minutes=15)


# -- errors ------------------------------------------------------------------------------------------


class EntsoeError(Exception):
    """Anything that kept day-ahead prices from ENTSO-E from arriving."""


class EntsoeDocumentError(EntsoeError):
    """The answer is not a day-ahead price document solarfleet can read (malformed, hostile or unexpected)."""


class EntsoeRejected(EntsoeError):
    """The platform refused the query (an Acknowledgement with a reason other than "no data", or HTTP 4xx)."""


class EntsoeAuthError(EntsoeError):
    """The platform refused the security token: retrying will not help until the token is fixed."""


class EntsoeUnavailable(EntsoeError):
    """The platform did not answer usefully (HTTP 5xx or 429, network failure, timeout), even after retries."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds the platform asked us to wait, where it said so


# -- parser ------------------------------------------------------------------------------------------


def parse_day_ahead(document: bytes, *, sequence: int = SDAC_SEQUENCE) -> list[PriceCurve]:
    """Every day-ahead price curve in an A44 document, one per Period, in document order.

    Only day-ahead series (contract type A01, where given) of the auction `sequence` (where given) are
    kept. An Acknowledgement saying there is no matching data gives an empty list; any other
    Acknowledgement raises EntsoeRejected; anything unreadable raises EntsoeDocumentError.
    """
    try:
        # Documents from the platform carry no DTD; refusing one shuts out entity expansion attacks.
        root = fromstring(document, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise EntsoeDocumentError(f"refused a forbidden XML construct ({type(exc).__name__})") from None
    except ParseError as exc:
        raise EntsoeDocumentError(f"not well-formed XML ({exc})") from None
    namespace, _, name = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    xml = _Namespaced(namespace)
    if name == "Acknowledgement_MarketDocument":
        reasons = [xml.text(reason, "text", "") for reason in xml.all(root, "Reason")]
        if any(NO_DATA in reason for reason in reasons):
            return []
        raise EntsoeRejected(f"ENTSO-E refused the query: {'; '.join(reasons) or 'no reason given'}")
    if name != "Publication_MarketDocument" or namespace not in PUBLICATION_NAMESPACES:
        raise EntsoeDocumentError(f"not a publication document: {name} in namespace {namespace or 'none'}")
    document_type = xml.text(root, "type")
    if document_type != "A44":
        raise EntsoeDocumentError(f"document type {document_type}, not A44 (prices)")
    curves = []
    for number, series in enumerate(xml.all(root, "TimeSeries"), start=1):
        where = f"TimeSeries {number}"
        if xml.text(series, "contract_MarketAgreement.type", DAY_AHEAD_CONTRACT) != DAY_AHEAD_CONTRACT:
            continue
        position = xml.text(series, "classificationSequence_AttributeInstanceComponent.position", "")
        if position and _integer(position, where) != sequence:
            continue
        curves.extend(_series_curves(xml, series, where))
    return curves


@dataclass(frozen=True, slots=True)
class _Namespaced:
    """Child lookups in the document's namespace, with errors that say what is missing."""

    namespace: str

    def _tag(self, name: str) -> str:
        return f"{{{self.namespace}}}{name}" if self.namespace else name

    def all(self, element: Element, name: str) -> list[Element]:
        return element.findall(self._tag(name))

    def child(self, element: Element, name: str) -> Element:
        found = element.find(self._tag(name))
        if found is None:
            raise EntsoeDocumentError(f"{_local(element.tag)} has no {name}")
        return found

    def text(self, element: Element, name: str, default: str | None = None) -> str:
        found = element.find(self._tag(name))
        if found is None or found.text is None:
            if default is None:
                raise EntsoeDocumentError(f"{_local(element.tag)} has no {name}")
            return default
        return found.text.strip()


def _series_curves(xml: _Namespaced, series: Element, where: str) -> list[PriceCurve]:
    eic = xml.text(series, "in_Domain.mRID")
    try:
        zone = zone_of_eic(eic)
    except KeyError:
        raise EntsoeDocumentError(f"{where}: prices of area {eic}, which solarfleet does not serve") from None
    currency = xml.text(series, "currency_Unit.name", "EUR")
    unit = xml.text(series, "price_Measure_Unit.name", "MWH")
    if (currency, unit) != ("EUR", "MWH"):
        raise EntsoeDocumentError(f"{where}: prices in {currency}/{unit}, not EUR/MWH")
    # The platform leaves curveType out for fixed blocks (A01); A03 leaves out repeated values.
    curve_type = xml.text(series, "curveType", "A01")
    if curve_type not in ("A01", "A03"):
        raise EntsoeDocumentError(f"{where}: curve type {curve_type} is neither A01 nor A03")
    curves = []
    for number, period in enumerate(xml.all(series, "Period"), start=1):
        curves.append(_period_curve(xml, period, zone, curve_type, f"{where}, Period {number}"))
    return curves


def _period_curve(xml: _Namespaced, period: Element, zone: PriceZone, curve_type: str, where: str) -> PriceCurve:
    interval = xml.child(period, "timeInterval")
    start, end = _instant(xml.text(interval, "start"), where), _instant(xml.text(interval, "end"), where)
    code = xml.text(period, "resolution")
    resolution = _RESOLUTIONS.get(code)
    if resolution is None:
        raise EntsoeDocumentError(f"{where}: resolution {code} is not supported (only PT15M and PT60M)")
    count = (end - start) // resolution
    if count <= 0 or start + count * resolution != end:
        raise EntsoeDocumentError(f"{where}: {start:%Y-%m-%dT%H:%MZ}/{end:%Y-%m-%dT%H:%MZ} is not whole {code} steps")
    prices: dict[int, float] = {}
    for point in xml.all(period, "Point"):
        position = _integer(xml.text(point, "position"), where)
        if not 1 <= position <= count:
            raise EntsoeDocumentError(f"{where}: position {position} outside 1..{count}")
        if position in prices:
            raise EntsoeDocumentError(f"{where}: position {position} given twice")
        prices[position] = _price(xml.text(point, "price.amount"), where)
    values = [math.nan] * count
    for position, price in prices.items():
        values[position - 1] = price
    if curve_type == "A03":
        # A03 omits a position whose price repeats the one before: carry each price to the next given position.
        for index in range(1, count):
            if index + 1 not in prices:
                values[index] = values[index - 1]
    try:
        return PriceCurve(zone, start, resolution, values, PriceSource.ENTSOE)
    except ValueError as exc:
        raise EntsoeDocumentError(f"{where}: {exc}") from None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _instant(text: str, where: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise EntsoeDocumentError(f"{where}: {text!r} is not a time") from None
    if instant.tzinfo is None:
        raise EntsoeDocumentError(f"{where}: time {text!r} has no zone")
    return instant.astimezone(UTC)


def _integer(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise EntsoeDocumentError(f"{where}: {text!r} is not a whole number") from None


def _price(text: str, where: str) -> float:
    try:
        price = float(text)
    except ValueError:
        raise EntsoeDocumentError(f"{where}: price {text!r} is not a number") from None
    if not math.isfinite(price):
        raise EntsoeDocumentError(f"{where}: price {text!r} is not a finite number")
    return price


def day_ahead_curve(curves: Iterable[PriceCurve], zone: PriceZone, start: datetime, end: datetime) -> PriceCurve | None:
    """The zone's day-ahead prices over [start, end) from parsed curves, or None where none is known.

    The result is at the resolution the zone's market cleared at in the window (the finer one on the
    day SDAC went to quarter-hours): finer series average to it, as the exchanges' hourly index does
    for AT_HOURLY; coarser ones repeat their price over its quarters. Where an hourly and a
    quarter-hourly series price the same step, the one at the resolution the market cleared at wins.
    """
    eic = ZONES[zone].eic
    own = [replace(curve, zone=zone) for curve in curves if ZONES[curve.zone].eic == eic]
    if not own:
        return None
    own.sort(key=lambda curve: curve.resolution != day_ahead_resolution(zone, curve.start))
    resolution = day_ahead_resolution(zone, end - QUARTER_HOUR)
    window = PriceCurve.merge(own, resolution).window(start, end)
    return None if np.isnan(window.values).all() else window


# -- client ------------------------------------------------------------------------------------------


class EntsoeClient:
    """Day-ahead price queries against the Transparency Platform's REST API.

    Each request has its own timeout. HTTP 5xx, 429 and network failures are retried with exponential
    back-off (honouring Retry-After); 400, 401 and 403 are answers, not accidents, and are not retried.
    Uses `session` where given (and leaves it open); otherwise opens one and closes it in `close()`.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 30.0,
        attempts: int = 5,
        backoff_s: float = 2.0,
        max_delay_s: float = 120.0,
        session: aiohttp.ClientSession | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not token:
            raise ValueError("an ENTSO-E security token is required")
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._token = token
        self._base_url = base_url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._max_delay_s = max_delay_s
        self._session = session
        self._owns_session = session is None
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"EntsoeClient(base_url={self._base_url!r})"

    async def __aenter__(self) -> EntsoeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def fetch_day_ahead(self, zone: PriceZone, day: date) -> PriceCurve | None:
        """The zone's prices for its local delivery day `day` (92 or 100 quarter-hours on the days clocks
        change), NaN where unknown; None when the platform has none of them."""
        start, end = local_day_bounds(zone, day)
        return day_ahead_curve(await self.fetch_area(ZONES[zone].eic, start, end), zone, start, end)

    async def fetch_area(self, eic: str, start: datetime, end: datetime) -> list[PriceCurve]:
        """Every day-ahead curve the platform has for area `eic` overlapping [start, end), untrimmed."""
        what = f"ENTSO-E day-ahead prices of {eic} for {_stamp(start)}-{_stamp(end)}"
        params = {
            "securityToken": self._token,
            "documentType": "A44",
            "in_Domain": eic,
            "out_Domain": eic,
            "periodStart": _stamp(start),
            "periodEnd": _stamp(end),
        }
        status, body = await self._get(params, what)
        try:
            return parse_day_ahead(body)
        except EntsoeDocumentError:
            if status == 400:
                raise EntsoeRejected(f"{what}: HTTP 400") from None
            raise

    async def _get(self, params: dict[str, str], what: str) -> tuple[int, bytes]:
        """The status and body of the first answer that is not a passing failure."""
        attempt = 0
        while True:
            attempt += 1
            retry_after = None
            try:
                status, retry_after_header, body = await self._request(params)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                # Only the exception's type: aiohttp's messages may quote the URL, and with it the token.
                failure = type(exc).__name__
            else:
                if status in (200, 400):
                    return status, body
                if status in (401, 403):
                    raise EntsoeAuthError(f"{what}: the platform refused the security token (HTTP {status})")
                if status != 429 and status < 500:
                    raise EntsoeRejected(f"{what}: unexpected HTTP {status}")
                failure = f"HTTP {status}"
                retry_after = _retry_after_seconds(retry_after_header)
            if attempt == self._attempts:
                raise EntsoeUnavailable(f"{what}: {failure} after {attempt} attempts", retry_after)
            delay = self._backoff_s * 2 ** (attempt - 1)
            if retry_after is not None:
                if retry_after > self._max_delay_s:
                    raise EntsoeUnavailable(f"{what}: {failure}; asked to wait {retry_after:.0f} s", retry_after)
                delay = max(delay, retry_after)
            delay = min(delay, self._max_delay_s)
            log.warning("ENTSO-E request failed; retrying", what=what, failure=failure, attempt=attempt, delay_s=delay)
            await self._sleep(delay)

    async def _request(self, params: dict[str, str]) -> tuple[int, str | None, bytes]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        async with self._session.get(self._base_url, params=params, timeout=self._timeout) as response:
            body = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise EntsoeDocumentError(f"the answer is larger than {MAX_DOCUMENT_BYTES} bytes")
            return response.status, response.headers.get("Retry-After"), bytes(body)


def _stamp(instant: datetime) -> str:
    """yyyyMMddHHmm in UTC, the platform's format for periodStart and periodEnd."""
    return instant.astimezone(UTC).strftime("%Y%m%d%H%M")


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: given as a number of seconds or as an HTTP date."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


# -- publication ---------------------------------------------------------------------------------------


def market_day(now: datetime) -> date:
    """The delivery day (CET/CEST) that `now` falls in."""
    return now.astimezone(ZoneInfo(MARKET_TIMEZONE)).date()


def market_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The span one day-ahead auction prices: `day` midnight to midnight CET/CEST, in UTC."""
    return day_bounds(day, MARKET_TIMEZONE)


def publication_at(day: date) -> datetime:
    """When prices for delivery day `day` can be expected: 13:00 Brussels time the day before."""
    return datetime.combine(day - timedelta(days=1), PUBLICATION_TIME, ZoneInfo(MARKET_TIMEZONE)).astimezone(UTC)


def latest_published_day(now: datetime) -> date:
    """The last delivery day whose prices are due by `now`: tomorrow from 13:00 Brussels time, else today."""
    tomorrow = market_day(now) + timedelta(days=1)
    return tomorrow if now >= publication_at(tomorrow) else tomorrow - timedelta(days=1)


def next_fetch_at(now: datetime, *, up_to_date: bool, retry_every: timedelta = RETRY_EVERY) -> datetime:
    """When to ask next. `up_to_date`: we hold every day whose prices are due by `now`.

    Holding them, there is nothing to ask until the next day's prices are published; missing some,
    ask again every `retry_every` until they arrive (publication runs late on some days).
    """
    if not up_to_date:
        return now + retry_every
    return publication_at(latest_published_day(now) + timedelta(days=1))


# -- fetcher -------------------------------------------------------------------------------------------

Store = Callable[[list[PriceCurve]], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    """What one round did for one zone."""

    zone: PriceZone
    days: tuple[date, ...]  # the delivery days asked for
    curve: PriceCurve | None  # what was handed to the store; None: nothing published, or a failure
    complete_through: date | None  # the last delivery day now held in full (and every day before it)
    next_at: datetime
    error: str | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DayAheadFetcher:
    """Keeps each zone's day-ahead prices current: today's at once, tomorrow's from their publication.

    Zones that share an ENTSO-E area (AT and AT_HOURLY) share one request. `store(curves)` receives the
    prices of each request (sync or async); a failing store is retried like a failing request.
    Without a client (no token configured) it makes no request and says once how to turn prices on.
    """

    def __init__(
        self,
        client: EntsoeClient | None,
        zones: Iterable[PriceZone],
        store: Store,
        *,
        clock: Callable[[], datetime] = _utc_now,
        retry_every: timedelta = RETRY_EVERY,
        concurrency: int = 4,
    ) -> None:
        self._client = client
        self._zones = tuple(dict.fromkeys(zones))
        self._store = store
        self._clock = clock
        self._retry_every = retry_every
        self._concurrency = asyncio.Semaphore(concurrency)
        self._complete_through: dict[PriceZone, date] = {}
        self._next_at: dict[PriceZone, datetime] = {}
        self._said_off = False

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch as due until `stop` is set."""
        if self._client is None:
            self._say_off()
            return
        while not stop.is_set():
            try:
                await self.run_once(self._clock())
            except Exception:
                log.exception("fetching day-ahead prices failed")
            now = self._clock()
            wake = min(self._next_at.values(), default=now + self._retry_every)
            # Wake at least every retry interval, so a clock jump (suspend, NTP) is noticed.
            seconds = min((wake - now).total_seconds(), self._retry_every.total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.01))

    async def run_once(self, now: datetime | None = None) -> list[FetchOutcome]:
        """Fetch every zone that is due at `now` (default: the clock's now); return what was done."""
        if self._client is None:
            self._say_off()
            return []
        now = now or self._clock()
        areas: dict[str, list[PriceZone]] = {}
        for zone in self._zones:
            if self._next_at.get(zone, now) <= now:
                areas.setdefault(ZONES[zone].eic, []).append(zone)
        rounds = await asyncio.gather(
            *(self._fetch_area(self._client, eic, zones, now) for eic, zones in areas.items())
        )
        return [outcome for outcomes in rounds for outcome in outcomes]

    async def close(self) -> None:
        """Close the client's connections (a synthetic market has none)."""
        close = getattr(self._client, "close", None)
        if close is not None:
            await close()

    def _say_off(self) -> None:
        if not self._said_off:
            self._said_off = True
            log.warning(
                "ENTSO-E day-ahead prices are off: no security token is configured",
                how_to_turn_on=(
                    f"set {ENVIRONMENT_VARIABLE} to a Transparency Platform security token (register at "
                    "transparency.entsoe.eu and ask for REST API access) and restart"
                ),
            )

    async def _fetch_area(
        self, client: EntsoeClient, eic: str, zones: list[PriceZone], now: datetime
    ) -> list[FetchOutcome]:
        """One request for the days the zones of one area miss, from the first missing one to the latest due."""
        latest = latest_published_day(now)
        first = min(self._first_missing(zone, now) for zone in zones)
        days = tuple(first + timedelta(days=offset) for offset in range((latest - first).days + 1))
        if not days:
            return [self._outcome(zone, days, None, now) for zone in zones]
        start, end = market_day_bounds(days[0])[0], market_day_bounds(days[-1])[1]
        try:
            async with self._concurrency:
                found = await client.fetch_area(eic, start, end)
        except EntsoeAuthError as exc:
            # A refused token stays refused until the operator changes it and restarts: ask once a day.
            log.error("ENTSO-E refused the security token; day-ahead prices stop until it is fixed", error=str(exc))
            retry_at = publication_at(latest + timedelta(days=1))
            return [self._outcome(zone, days, None, now, str(exc), retry_at) for zone in zones]
        except EntsoeError as exc:
            log.warning("day-ahead prices not fetched; retrying later", area=eic, error=str(exc))
            retry_at = now + self._retry_every
            if isinstance(exc, EntsoeUnavailable) and exc.retry_after is not None:
                # Honour the platform's wish, but not beyond a day: a wild header must not silence prices for good.
                retry_at = max(retry_at, now + timedelta(seconds=min(exc.retry_after, 86400)))
            return [self._outcome(zone, days, None, now, str(exc), retry_at) for zone in zones]
        curves = {zone: day_ahead_curve(found, zone, start, end) for zone in zones}
        stored = [curve for curve in curves.values() if curve is not None]
        if stored:
            try:
                result = self._store(stored)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("storing day-ahead prices failed; they are fetched again", area=eic)
                retry_at = now + self._retry_every
                return [self._outcome(zone, days, None, now, "storing failed", retry_at) for zone in zones]
        outcomes = []
        for zone, curve in curves.items():
            day = self._first_missing(zone, now)
            while curve is not None and day <= latest and curve.window(*market_day_bounds(day)).is_complete():
                self._complete_through[zone] = day
                day += timedelta(days=1)
            if curve is not None:
                log.info(
                    "stored day-ahead prices", zone=zone.value, complete_through=str(self._complete_through.get(zone))
                )
            outcomes.append(self._outcome(zone, days, curve, now))
        return outcomes

    def _first_missing(self, zone: PriceZone, now: datetime) -> date:
        """The first delivery day to ask for: the day after the last one held in full, but never before today."""
        today = market_day(now)
        held = self._complete_through.get(zone)
        return today if held is None or held < today else held + timedelta(days=1)

    def _outcome(
        self,
        zone: PriceZone,
        days: tuple[date, ...],
        curve: PriceCurve | None,
        now: datetime,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> FetchOutcome:
        up_to_date = self._first_missing(zone, now) > latest_published_day(now)
        next_at = retry_at or next_fetch_at(now, up_to_date=up_to_date, retry_every=self._retry_every)
        self._next_at[zone] = next_at
        return FetchOutcome(zone, days, curve, self._complete_through.get(zone), next_at, error)
