"""The A44 parser and the cutting of a zone's day out of parsed curves, against documents in the platform's format."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from solarfleet.prices.curve import PriceSource
from solarfleet.prices.entsoe import (
    EntsoeDocumentError,
    EntsoeRejected,
    day_ahead_curve,
    market_day_bounds,
    parse_day_ahead,
)
from solarfleet.prices.zones import HOUR, QUARTER_HOUR, ZONES, PriceZone, local_day_bounds
from stand_ins.entsoe import PUBLICATION_7_3, Period, Series, a44_document, acknowledgement

FIXTURES = Path(__file__).parent.parent / "fixtures" / "entsoe"
DE_LU = ZONES[PriceZone.DE_LU].eic
AT = ZONES[PriceZone.AT].eic
PUBLICATION_7_0 = "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:0"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def document(body: str, namespace: str = PUBLICATION_7_3, document_type: str = "A44") -> bytes:
    """A publication document around hand-written TimeSeries, for shapes the writer in the stand-in avoids."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><Publication_MarketDocument xmlns="{namespace}">'
        f"<mRID>x</mRID><revisionNumber>1</revisionNumber><type>{document_type}</type>{body}"
        "</Publication_MarketDocument>"
    ).encode()


def series(points: str, resolution: str = "PT60M", curve_type: str = "A01", eic: str = DE_LU, extra: str = "") -> str:
    return (
        f'<TimeSeries><mRID>1</mRID><in_Domain.mRID codingScheme="A01">{eic}</in_Domain.mRID>'
        f'<out_Domain.mRID codingScheme="A01">{eic}</out_Domain.mRID>{extra}<curveType>{curve_type}</curveType>'
        "<Period><timeInterval><start>2024-05-01T22:00Z</start><end>2024-05-02T02:00Z</end></timeInterval>"
        f"<resolution>{resolution}</resolution>{points}</Period></TimeSeries>"
    )


def point(position: int | str, price: float | str) -> str:
    return f"<Point><position>{position}</position><price.amount>{price}</price.amount></Point>"


# -- the fixtures ---------------------------------------------------------------------------------------


def test_a_quarter_hourly_day_of_de_lu():
    (curve,) = parse_day_ahead(fixture("de_lu_2026-01-15_pt15m.xml"))

    assert curve.zone is PriceZone.DE_LU
    assert curve.source is PriceSource.ENTSOE
    assert curve.resolution == QUARTER_HOUR
    assert (curve.start, curve.end) == market_day_bounds(date(2026, 1, 15))
    assert len(curve) == 96
    assert curve.is_complete()
    assert curve.values[:3].tolist() == [62.95, 63.85, 59.89]
    assert curve.values[-1] == 74.51


def test_an_hourly_a03_day_fills_omitted_positions_with_the_price_before():
    (curve,) = parse_day_ahead(fixture("be_2025-06-15_pt60m_a03.xml"))

    # Positions 3-4 and 13-14 repeat the price before them; 24, the last, repeats 23 to the period's end.
    assert curve.zone is PriceZone.BE
    assert curve.resolution == HOUR
    assert (curve.start, curve.end) == market_day_bounds(date(2025, 6, 15))
    assert curve.values.tolist() == [
        84.12, 80.05, 80.05, 80.05, 78.90, 82.30, 85.00, 70.10, 40.00, 12.50, 0.00, -5.20,
        -5.20, -5.20, -1.00, 10.00, 45.60, 88.70, 110.20, 125.40, 118.00, 98.30, 91.00, 91.00,
    ]  # fmt: skip


def test_of_two_auctions_for_one_zone_only_the_sdac_one_is_kept():
    # DE_LU publishes EXAA's earlier auction as sequence 2 beside SDAC's sequence 1; here EXAA comes first.
    sdac = parse_day_ahead(fixture("de_lu_2026-01-15_pt15m.xml"))

    kept = parse_day_ahead(fixture("de_lu_2026-01-15_two_sequences.xml"))
    exaa = parse_day_ahead(fixture("de_lu_2026-01-15_two_sequences.xml"), sequence=2)

    assert kept == sdac
    np.testing.assert_allclose(exaa[0].values, sdac[0].values + 3.5)


@pytest.mark.parametrize(
    ("name", "day", "quarters"),
    [
        ("at_2026-03-29_spring_forward.xml", date(2026, 3, 29), 92),
        ("at_2026-10-25_fall_back.xml", date(2026, 10, 25), 100),
    ],
)
def test_the_days_clocks_change_have_92_and_100_quarter_hours(name, day, quarters):
    curves = parse_day_ahead(fixture(name))
    start, end = local_day_bounds(PriceZone.AT, day)

    local_day = day_ahead_curve(curves, PriceZone.AT, start, end)
    hourly = day_ahead_curve(curves, PriceZone.AT_HOURLY, start, end)

    assert end - start == quarters * QUARTER_HOUR
    assert local_day is not None
    assert hourly is not None
    assert (local_day.start, local_day.end, len(local_day)) == (start, end, quarters)
    assert local_day.is_complete()
    assert local_day.values[1] == local_day.values[0]  # an A03 plateau, filled
    assert (hourly.zone, hourly.resolution, len(hourly)) == (PriceZone.AT_HOURLY, HOUR, quarters // 4)
    # The hourly product is the mean of the hour's four quarters.
    np.testing.assert_allclose(hourly.values, local_day.values.reshape(-1, 4).mean(axis=1))


def test_no_matching_data_is_an_empty_answer():
    assert parse_day_ahead(fixture("acknowledgement_no_data.xml")) == []


def test_any_other_acknowledgement_is_a_refusal_that_says_why():
    reason = "The amount of requested data exceeds allowed limit"

    with pytest.raises(EntsoeRejected, match=reason):
        parse_day_ahead(acknowledgement(reason))


# -- document shapes ------------------------------------------------------------------------------------


def test_the_older_namespace_is_read_too():
    curves = parse_day_ahead(
        document(series(point(1, 10) + point(2, 20) + point(3, 30) + point(4, 40)), PUBLICATION_7_0)
    )

    assert curves[0].values.tolist() == [10, 20, 30, 40]
    assert curves[0].start == datetime(2024, 5, 1, 22, tzinfo=UTC)


def test_an_a01_position_left_out_is_unknown():
    (curve,) = parse_day_ahead(document(series(point(1, 10) + point(2, 20) + point(4, 40))))

    np.testing.assert_array_equal(curve.values, [10, 20, np.nan, 40])


def test_an_a03_curve_without_its_first_position_starts_unknown():
    (curve,) = parse_day_ahead(document(series(point(3, 30), curve_type="A03")))

    np.testing.assert_array_equal(curve.values, [np.nan, np.nan, 30, 30])


def test_intraday_series_in_a_day_ahead_answer_are_skipped():
    intraday = series(
        point(1, 1) + point(2, 2) + point(3, 3) + point(4, 4),
        extra="<contract_MarketAgreement.type>A07</contract_MarketAgreement.type>",
    )
    day_ahead = series(point(1, 10) + point(2, 20) + point(3, 30) + point(4, 40))

    (curve,) = parse_day_ahead(document(intraday + day_ahead))

    assert curve.values.tolist() == [10, 20, 30, 40]


def test_series_and_periods_come_in_document_order():
    days = [datetime(2026, 2, 1, 23, tzinfo=UTC) + timedelta(days=offset) for offset in range(3)]
    two_periods = Series(DE_LU, [Period(days[0], HOUR, [1.0] * 24), Period(days[1], HOUR, [2.0] * 24)])
    austria = Series(AT, [Period(days[2], QUARTER_HOUR, [3.0] * 96)])

    curves = parse_day_ahead(a44_document([two_periods, austria]))

    assert [(curve.zone, curve.start, curve.values[0]) for curve in curves] == [
        (PriceZone.DE_LU, days[0], 1.0),
        (PriceZone.DE_LU, days[1], 2.0),
        (PriceZone.AT, days[2], 3.0),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (series(point(1, 1), resolution="PT30M"), "resolution PT30M is not supported"),
        (series(point(1, 1), resolution="P1D"), "resolution P1D is not supported"),
        (series(point(5, 1)), "position 5 outside 1..4"),
        (series(point(1, 1) + point(1, 2)), "position 1 given twice"),
        (series(point("one", 1)), "'one' is not a whole number"),
        (series(point(1, "NaN")), "not a finite number"),
        (series(point(1, "12,5")), "not a number"),
        (series(point(1, 1), eic="10YFR-RTE------C"), "area 10YFR-RTE------C"),
        (series(point(1, 1), curve_type="A02"), "curve type A02"),
        (series(point(1, 1), extra="<currency_Unit.name>GBP</currency_Unit.name>"), "GBP/MWH"),
        (series(point(1, 1)).replace("<resolution>PT60M</resolution>", ""), "Period has no resolution"),
        (series(point(1, 1)).replace("2024-05-02T02:00Z", "2024-05-02T02:30Z"), "not whole PT60M steps"),
        (series(point(1, 1)).replace("2024-05-01T22:00Z", "yesterday"), "'yesterday' is not a time"),
        (series(point(1, 1)).replace("2024-05-01T22:00Z", "2024-05-01T22:00"), "has no zone"),
    ],
)
def test_documents_that_do_not_make_sense_are_refused_with_the_reason(body, message):
    with pytest.raises(EntsoeDocumentError, match=message):
        parse_day_ahead(document(body))


def test_other_documents_are_refused():
    with pytest.raises(EntsoeDocumentError, match="document type A65"):
        parse_day_ahead(document("", document_type="A65"))
    with pytest.raises(EntsoeDocumentError, match="not a publication document"):
        parse_day_ahead(document("", namespace="urn:example:other"))
    with pytest.raises(EntsoeDocumentError, match="not a publication document: html"):
        parse_day_ahead(b"<html><body>Service unavailable</body></html>")
    with pytest.raises(EntsoeDocumentError, match="not well-formed"):
        parse_day_ahead(b"<Publication_MarketDocument>")


# -- hostile XML ---------------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<Acknowledgement_MarketDocument><Reason><text>&lol3;</text></Reason></Acknowledgement_MarketDocument>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE doc [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Acknowledgement_MarketDocument><Reason><text>&secret;</text></Reason></Acknowledgement_MarketDocument>"""

DOCTYPE_ONLY = b"""<?xml version="1.0"?>
<!DOCTYPE Publication_MarketDocument SYSTEM "http://example.invalid/a44.dtd">
<Publication_MarketDocument/>"""


@pytest.mark.parametrize("hostile", [BILLION_LAUGHS, EXTERNAL_ENTITY, DOCTYPE_ONLY])
def test_hostile_xml_is_refused_before_anything_is_expanded_or_fetched(hostile):
    with pytest.raises(EntsoeDocumentError, match="forbidden XML construct"):
        parse_day_ahead(hostile)


# -- round trips ------------------------------------------------------------------------------------------

# Few distinct prices, so runs of equal prices (what A03 leaves out) are common.
price_vectors = st.lists(st.sampled_from([-12.5, 0.0, 0.01, 45.2, 45.21, 88.0, 310.75]), min_size=1, max_size=100)


@given(
    values=price_vectors,
    resolution=st.sampled_from([QUARTER_HOUR, HOUR]),
    day=st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31)),
    curve_type=st.sampled_from(["A01", "A03"]),
)
def test_any_price_vector_written_in_either_curve_type_reads_back_unchanged(values, resolution, day, curve_type):
    start = market_day_bounds(day)[0]

    (curve,) = parse_day_ahead(a44_document([Series(DE_LU, [Period(start, resolution, values)], curve_type)]))

    assert curve.start == start
    assert curve.resolution == resolution
    assert curve.values.tolist() == values


@given(values=st.lists(price_vectors, min_size=1, max_size=4))
def test_consecutive_periods_read_back_in_order(values):
    start = datetime(2026, 6, 1, 22, tzinfo=UTC)
    periods, at = [], start
    for chunk in values:
        periods.append(Period(at, QUARTER_HOUR, chunk))
        at += len(chunk) * QUARTER_HOUR

    curves = parse_day_ahead(a44_document([Series(AT, periods)]))

    assert [curve.values.tolist() for curve in curves] == values
    assert [curve.start for curve in curves] == [period.start for period in periods]


# -- a zone's day out of parsed curves ----------------------------------------------------------------------


def test_where_an_hourly_and_a_quarter_hourly_series_overlap_the_one_the_market_cleared_at_wins():
    # Before 2025-10-01, DE_LU answers held the hourly SDAC prices and a quarter-hourly series of another auction.
    start, end = market_day_bounds(date(2024, 5, 2))
    hourly = Series(DE_LU, [Period(start, HOUR, [50.0] * 24)])
    quarterly = Series(DE_LU, [Period(start, QUARTER_HOUR, [70.0] * 96)])

    day = day_ahead_curve(parse_day_ahead(a44_document([quarterly, hourly])), PriceZone.DE_LU, start, end)

    assert day is not None
    assert (day.resolution, len(day)) == (HOUR, 24)
    assert set(day.values.tolist()) == {50.0}


def test_quarter_hours_sent_for_an_hourly_market_average_to_hours():
    # Italy sent equal quarters for its still hourly market in 2025.
    start, end = local_day_bounds(PriceZone.IT_NORD, date(2025, 1, 8))
    quarters = [float(hour) for hour in range(24) for _ in range(4)]
    curves = parse_day_ahead(
        a44_document([Series(ZONES[PriceZone.IT_NORD].eic, [Period(start, QUARTER_HOUR, quarters)])])
    )

    day = day_ahead_curve(curves, PriceZone.IT_NORD, start, end)

    assert day is not None
    assert day.resolution == HOUR
    assert day.values.tolist() == [float(hour) for hour in range(24)]


def test_a_local_day_across_the_switch_to_quarter_hours_keeps_the_quarters():
    # Tallinn's 2025-10-01 begins an hour before the CET market day that first cleared quarter hours.
    start, end = local_day_bounds(PriceZone.EE, date(2025, 10, 1))
    eic = ZONES[PriceZone.EE].eic
    before = Series(eic, [Period(market_day_bounds(date(2025, 9, 30))[0], HOUR, [40.0] * 24)])
    after = Series(eic, [Period(market_day_bounds(date(2025, 10, 1))[0], QUARTER_HOUR, [60.0] * 96)])

    day = day_ahead_curve(parse_day_ahead(a44_document([before, after])), PriceZone.EE, start, end)

    assert day is not None
    assert (day.start, day.resolution, len(day)) == (start, QUARTER_HOUR, 96)
    assert day.values.tolist() == [40.0] * 4 + [60.0] * 92


def test_a_day_partly_published_is_padded_and_a_day_not_published_is_none():
    start, end = local_day_bounds(PriceZone.PT, date(2026, 1, 20))
    # Lisbon's day ends an hour after the CET market day: that hour comes with the next auction.
    published = Series(
        ZONES[PriceZone.PT].eic, [Period(market_day_bounds(date(2026, 1, 20))[0], QUARTER_HOUR, [30.0] * 96)]
    )
    curves = parse_day_ahead(a44_document([published]))

    day = day_ahead_curve(curves, PriceZone.PT, start, end)
    other_zone = day_ahead_curve(curves, PriceZone.DE_LU, start, end)
    later = day_ahead_curve(curves, PriceZone.PT, *local_day_bounds(PriceZone.PT, date(2026, 1, 22)))

    assert day is not None
    assert (day.start, day.end) == (start, end)
    assert day.values[:92].tolist() == [30.0] * 92
    assert np.isnan(day.values[92:]).all()
    assert other_zone is None
    assert later is None
