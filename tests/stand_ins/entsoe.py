"""The ENTSO-E Transparency Platform on loopback: a real HTTP server answering day-ahead price queries (A44).

It checks what the platform checks (the security token, the document type, the areas, the period
format) and answers in the platform's formats: a Publication_MarketDocument, an
Acknowledgement_MarketDocument when it has no data or refuses the query, and an HTML page for a
refused token. By default it makes up prices for every market day (CET) the query overlaps, up to
`published_until`; `document` makes it serve a fixed answer instead. `fail(...)` and `drop(...)`
make the next requests fail (`heal()` forgets those pending); `requests` records the query of every request.

`a44_document` and `acknowledgement` write documents in the platform's format for tests too.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from xml.sax.saxutils import escape

from aiohttp import web

from solarfleet.prices.entsoe import market_day, market_day_bounds
from solarfleet.prices.zones import SDAC_15_MINUTE_GO_LIVE
from stand_ins.loopback import LoopbackServer

PUBLICATION_7_3 = "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3"
ACKNOWLEDGEMENT_7_0 = "urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0"
RESOLUTION_CODES = {timedelta(minutes=15): "PT15M", timedelta(hours=1): "PT60M"}
PATH = "/api"


@dataclass(frozen=True)
class Period:
    start: datetime
    resolution: timedelta
    values: Sequence[float]

    @property
    def end(self) -> datetime:
        return self.start + len(self.values) * self.resolution


@dataclass(frozen=True)
class Series:
    eic: str
    periods: Sequence[Period]
    curve_type: str = "A03"
    sequence: int | None = None
    contract: str | None = "A01"


def _stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _points(values: Sequence[float], curve_type: str) -> list[str]:
    """Points as the platform writes them: A03 leaves out a position whose price repeats the one before."""
    points = []
    for position, value in enumerate(values, start=1):
        if curve_type == "A03" and position > 1 and value == values[position - 2]:
            continue
        points.append(
            f"      <Point>\n        <position>{position}</position>\n"
            f"        <price.amount>{value:.2f}</price.amount>\n      </Point>"
        )
    return points


def a44_document(series: Sequence[Series], namespace: str = PUBLICATION_7_3) -> bytes:
    """A day-ahead price document holding `series`, in the layout the platform sends."""
    starts = [period.start for one in series for period in one.periods]
    ends = [period.end for one in series for period in one.periods]
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<Publication_MarketDocument xmlns="{namespace}">',
        "  <mRID>1f8d3a7c0b6e4e7f9d1c2b3a4f5e6d7c</mRID>",
        "  <revisionNumber>1</revisionNumber>",
        "  <type>A44</type>",
        '  <sender_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</sender_MarketParticipant.mRID>',
        "  <sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>",
        '  <receiver_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</receiver_MarketParticipant.mRID>',
        "  <receiver_MarketParticipant.marketRole.type>A33</receiver_MarketParticipant.marketRole.type>",
        "  <createdDateTime>2026-01-14T12:58:31Z</createdDateTime>",
        "  <period.timeInterval>",
        f"    <start>{_stamp(min(starts))}</start>" if starts else "",
        f"    <end>{_stamp(max(ends))}</end>" if ends else "",
        "  </period.timeInterval>",
    ]
    for number, one in enumerate(series, start=1):
        lines += [
            "  <TimeSeries>",
            f"    <mRID>{number}</mRID>",
            "    <auction.type>A01</auction.type>",
            "    <businessType>A62</businessType>",
            f'    <in_Domain.mRID codingScheme="A01">{one.eic}</in_Domain.mRID>',
            f'    <out_Domain.mRID codingScheme="A01">{one.eic}</out_Domain.mRID>',
        ]
        if one.contract is not None:
            lines.append(f"    <contract_MarketAgreement.type>{one.contract}</contract_MarketAgreement.type>")
        lines += [
            "    <currency_Unit.name>EUR</currency_Unit.name>",
            "    <price_Measure_Unit.name>MWH</price_Measure_Unit.name>",
        ]
        if one.sequence is not None:
            tag = "classificationSequence_AttributeInstanceComponent.position"
            lines.append(f"    <{tag}>{one.sequence}</{tag}>")
        lines.append(f"    <curveType>{one.curve_type}</curveType>")
        for period in one.periods:
            lines += [
                "    <Period>",
                "      <timeInterval>",
                f"        <start>{_stamp(period.start)}</start>",
                f"        <end>{_stamp(period.end)}</end>",
                "      </timeInterval>",
                f"      <resolution>{RESOLUTION_CODES[period.resolution]}</resolution>",
                *_points(period.values, one.curve_type),
                "    </Period>",
            ]
        lines.append("  </TimeSeries>")
    lines.append("</Publication_MarketDocument>")
    return ("\n".join(line for line in lines if line) + "\n").encode()


def acknowledgement(reason: str, code: str = "999") -> bytes:
    """The platform's answer when it has nothing to publish or refuses the query."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<Acknowledgement_MarketDocument xmlns="{ACKNOWLEDGEMENT_7_0}">\n'
        "  <mRID>5e0a9c1d-7b2f-4c3e-8a6d-0f1e2d3c4b5a</mRID>\n"
        "  <createdDateTime>2026-01-14T12:00:00Z</createdDateTime>\n"
        '  <sender_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</sender_MarketParticipant.mRID>\n'
        "  <sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>\n"
        '  <receiver_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</receiver_MarketParticipant.mRID>\n'
        "  <receiver_MarketParticipant.marketRole.type>A39</receiver_MarketParticipant.marketRole.type>\n"
        "  <received_MarketDocument.createdDateTime>2026-01-14T12:00:00Z</received_MarketDocument.createdDateTime>\n"
        f"  <Reason>\n    <code>{code}</code>\n    <text>{escape(reason)}</text>\n  </Reason>\n"
        "</Acknowledgement_MarketDocument>\n"
    ).encode()


def made_up_price(eic: str, instant: datetime) -> float:
    """A deterministic price for the area at the instant: what the stand-in publishes by default."""
    hour = instant.hour + instant.minute / 60
    return round(60 + 25 * math.sin(2 * math.pi * (hour - 9) / 24) + len(eic) + instant.day / 10, 2)


@dataclass
class _Failure:
    status: int | None  # None: no answer (see `stall`)
    retry_after: str | None = None
    stall: bool = False  # True: keep the request waiting until the stand-in stops; False: close the connection


@dataclass
class EntsoeStandIn(LoopbackServer):
    """`async with EntsoeStandIn() as platform:` serves on 127.0.0.1 at `platform.url` until the block ends."""

    token: str = "stand-in-security-token"
    published_until: datetime | None = None  # no prices from this instant on; None: every day is published
    document: bytes | None = None  # served as is to every valid query instead of made-up prices
    requests: list[dict[str, str]] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    route: ClassVar[str] = PATH

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def fail(self, count: int, status: int = 503, retry_after: str | None = None) -> None:
        """Answer the next `count` requests with `status` (and a Retry-After header, where given)."""
        self._failures += [_Failure(status, retry_after) for _ in range(count)]

    def drop(self, count: int) -> None:
        """Close the connection of the next `count` requests without answering."""
        self._failures += [_Failure(None) for _ in range(count)]

    def heal(self) -> None:
        """Forget the failures still pending."""
        self._failures.clear()

    def stall(self, count: int) -> None:
        """Answer the next `count` requests only when the stand-in stops: longer than any timeout."""
        self._failures += [_Failure(None, stall=True) for _ in range(count)]

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append(query)
        if self._failures:
            failure = self._failures.pop(0)
            if failure.stall:
                await self._stopping.wait()
            if failure.status is None:
                assert request.transport is not None
                request.transport.abort()
                raise web.HTTPServiceUnavailable  # never sent: the connection is gone
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            return web.Response(
                status=failure.status, text="<html>busy</html>", content_type="text/html", headers=headers
            )
        if query.get("securityToken") != self.token:
            return web.Response(
                status=401, text="<html><body><h1>Unauthorized</h1></body></html>", content_type="text/html"
            )
        refusal = _refusal(query)
        if refusal:
            return web.Response(status=400, body=acknowledgement(refusal), content_type="application/xml")
        if self.document is not None:
            return web.Response(body=self.document, content_type="application/xml")
        start, end = _period(query["periodStart"]), _period(query["periodEnd"])
        series = self._published(query["in_Domain"], start, end)
        if not series:
            reason = f"No matching data found for Data item Day-ahead Prices [12.1.D] ({query['in_Domain']})"
            return web.Response(body=acknowledgement(reason), content_type="application/xml")
        return web.Response(body=a44_document(series), content_type="application/xml")

    def _published(self, eic: str, start: datetime, end: datetime) -> list[Series]:
        """One series per market day overlapping [start, end) whose prices are out."""
        series = []
        day = market_day(start)
        while (bounds := market_day_bounds(day))[0] < end:
            day_start, day_end = bounds
            published = self.published_until is None or day_end <= self.published_until
            if day_end > start and published:
                resolution = timedelta(minutes=15) if day_start >= SDAC_15_MINUTE_GO_LIVE else timedelta(hours=1)
                count = (day_end - day_start) // resolution
                values = [made_up_price(eic, day_start + index * resolution) for index in range(count)]
                series.append(Series(eic, [Period(day_start, resolution, values)], sequence=1))
            day += timedelta(days=1)
        return series


def _period(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M").replace(tzinfo=UTC)


def _refusal(query: dict[str, str]) -> str | None:
    """Why the platform would refuse the query, or None."""
    if query.get("documentType") != "A44":
        return f"Document type {query.get('documentType')} is not valid for this query"
    if not query.get("in_Domain") or query.get("in_Domain") != query.get("out_Domain"):
        return "Day-ahead prices need in_Domain and out_Domain to be one and the same area"
    try:
        start, end = _period(query.get("periodStart", "")), _period(query.get("periodEnd", ""))
    except ValueError:
        return "periodStart and periodEnd must be given as yyyyMMddHHmm"
    if not start < end:
        return "periodStart must be before periodEnd"
    return None
