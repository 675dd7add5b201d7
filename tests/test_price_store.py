"""The price store: zone prices at their native resolution read back on the quarter-hour grid, and
partner uploads per organisation and zone, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from solarfleet.organisations.service import create_organisation
from solarfleet.prices import store
from solarfleet.prices.curve import PriceCurve, PriceSource
from solarfleet.prices.models import ZonePrice
from solarfleet.prices.zones import HOUR, QUARTER_HOUR, PriceZone

DAY = timedelta(days=1)
# A day before the 15-minute day-ahead market (hourly) and the day it began (quarter-hourly), in UTC.
HOURLY_DAY = datetime(2025, 9, 29, 22, tzinfo=UTC)
QUARTER_DAY = HOURLY_DAY + DAY
PRICES = st.floats(-500, 4000, allow_nan=False)
EXAMPLES = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def curve(start, resolution, values, zone=PriceZone.AT, source=PriceSource.ENTSOE) -> PriceCurve:
    return PriceCurve(zone, start, resolution, np.array(values, dtype=float), source)


def stored_rows(database, zone=PriceZone.AT) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(ZonePrice).where(ZonePrice.zone == zone.value))


def test_an_hourly_and_a_quarter_hourly_day_read_back_as_quarter_hours(database):
    hourly = np.arange(24) * 10.0
    quarterly = np.arange(96) + 0.25
    with database.session() as session:
        written = store.store_curves(
            session, [curve(HOURLY_DAY, HOUR, hourly), curve(QUARTER_DAY, QUARTER_HOUR, quarterly)]
        )
    assert written == 24 + 96
    with database.session(write=False) as session:
        both = store.zone_curve(session, PriceZone.AT, HOURLY_DAY, QUARTER_DAY + DAY)
        # A window that starts inside an hour still gets that hour's price.
        inside = store.zone_curve(session, PriceZone.AT, HOURLY_DAY + 3 * QUARTER_HOUR, HOURLY_DAY + 2 * HOUR)
    assert both.resolution == QUARTER_HOUR
    assert both.start == HOURLY_DAY
    assert both.source == PriceSource.ENTSOE
    np.testing.assert_array_equal(both.values, np.concatenate([np.repeat(hourly, 4), quarterly]))
    np.testing.assert_array_equal(inside.values, [0.0, 10.0, 10.0, 10.0, 10.0])


@EXAMPLES
@given(
    hourly=st.lists(st.one_of(PRICES, st.just(float("nan"))), min_size=1, max_size=30),
    quarterly=st.lists(st.one_of(PRICES, st.just(float("nan"))), min_size=1, max_size=60),
    offset=st.integers(0, 30 * 4),
    length=st.integers(0, 60),
)
def test_any_window_over_mixed_resolutions_reads_what_each_quarter_hour_cost(
    database, hourly, quarterly, offset, length
):
    start = datetime(2025, 9, 30, tzinfo=UTC)
    after = start + len(hourly) * HOUR
    stored = [curve(start, HOUR, hourly), curve(after, QUARTER_HOUR, quarterly)]
    with database.session() as session:
        session.execute(ZonePrice.__table__.delete())
        store.store_curves(session, stored)
    window_start = start + offset * QUARTER_HOUR
    with database.session(write=False) as session:
        read = store.zone_curve(session, PriceZone.AT, window_start, window_start + length * QUARTER_HOUR)
    known = np.concatenate([np.repeat(hourly, 4), quarterly])
    expected = [known[i] if i < len(known) else np.nan for i in range(offset, offset + length)]
    np.testing.assert_array_equal(read.values, expected)


def test_storing_the_same_curve_again_changes_nothing_and_a_new_price_replaces_the_old(database):
    day = curve(QUARTER_DAY, QUARTER_HOUR, np.full(96, 50.0))
    with database.session() as session:
        store.store_curves(session, [day])
        store.store_curves(session, [day])
    assert stored_rows(database) == 96
    revised = np.full(96, 50.0)
    revised[10] = 75.0
    with database.session() as session:
        store.store_curves(session, [curve(QUARTER_DAY, QUARTER_HOUR, revised)])
    with database.session(write=False) as session:
        read = store.zone_curve(session, PriceZone.AT, QUARTER_DAY, QUARTER_DAY + DAY)
    assert stored_rows(database) == 96
    np.testing.assert_array_equal(read.values, revised)


def test_unknown_prices_are_not_stored_and_leave_known_ones_in_place(database):
    with database.session() as session:
        store.store_curves(session, [curve(QUARTER_DAY, QUARTER_HOUR, [1.0, 2.0, 3.0, 4.0])])
        store.store_curves(session, [curve(QUARTER_DAY, QUARTER_HOUR, [np.nan, 20.0, np.nan, np.nan])])
    with database.session(write=False) as session:
        read = store.zone_curve(session, PriceZone.AT, QUARTER_DAY, QUARTER_DAY + HOUR)
    np.testing.assert_array_equal(read.values, [1.0, 20.0, 3.0, 4.0])


def test_a_coarser_curve_replaces_the_finer_prices_stored_over_its_span(database):
    with database.session() as session:
        store.store_curves(session, [curve(QUARTER_DAY, QUARTER_HOUR, np.arange(8.0))])
        store.store_curves(session, [curve(QUARTER_DAY, HOUR, [40.0])])
    with database.session(write=False) as session:
        read = store.zone_curve(session, PriceZone.AT, QUARTER_DAY, QUARTER_DAY + 2 * HOUR)
    np.testing.assert_array_equal(read.values, [40.0] * 4 + [4.0, 5.0, 6.0, 7.0])
    assert stored_rows(database) == 5


def test_zones_are_kept_apart_and_read_in_one_call(database):
    with database.session() as session:
        store.store_curves(
            session,
            [
                curve(QUARTER_DAY, HOUR, [10.0], zone=PriceZone.AT),
                curve(QUARTER_DAY, HOUR, [20.0], zone=PriceZone.DE_LU),
                curve(QUARTER_DAY, HOUR, [30.0], zone=PriceZone.SE_3, source=PriceSource.SYNTHETIC),
            ],
        )
    with database.session(write=False) as session:
        curves = store.zone_curves(
            session, [PriceZone.AT, PriceZone.DE_LU, PriceZone.SE_3, PriceZone.UK], QUARTER_DAY, QUARTER_DAY + HOUR
        )
    assert {zone: curve.values.tolist() for zone, curve in curves.items() if zone != PriceZone.UK} == {
        PriceZone.AT: [10.0] * 4,
        PriceZone.DE_LU: [20.0] * 4,
        PriceZone.SE_3: [30.0] * 4,
    }
    assert curves[PriceZone.SE_3].source == PriceSource.SYNTHETIC
    assert np.isnan(curves[PriceZone.UK].values).all()


def test_a_window_of_mixed_sources_is_labelled_with_the_least_trusted(database):
    with database.session() as session:
        store.store_curves(
            session,
            [
                curve(QUARTER_DAY, HOUR, [10.0]),
                curve(QUARTER_DAY + HOUR, HOUR, [11.0], source=PriceSource.SYNTHETIC),
            ],
        )
    with database.session(write=False) as session:
        assert store.zone_curve(session, PriceZone.AT, QUARTER_DAY, QUARTER_DAY + HOUR).source == PriceSource.ENTSOE
        mixed = store.zone_curve(session, PriceZone.AT, QUARTER_DAY, QUARTER_DAY + 2 * HOUR)
    assert mixed.source == PriceSource.SYNTHETIC


def test_latest_price_time_is_the_start_of_the_latest_stored_interval(database):
    with database.session(write=False) as session:
        assert store.latest_price_time(session, PriceZone.AT) is None
    with database.session() as session:
        store.store_curves(
            session, [curve(HOURLY_DAY, HOUR, np.ones(24)), curve(QUARTER_DAY, QUARTER_HOUR, np.ones(96))]
        )
    with database.session(write=False) as session:
        assert store.latest_price_time(session, PriceZone.AT) == QUARTER_DAY + DAY - QUARTER_HOUR
        assert store.latest_price_time(session, PriceZone.DE_LU) is None


def test_zone_prices_come_from_entsoe_or_are_synthetic(database):
    with database.session() as session, pytest.raises(ValueError, match="a zone's prices"):
        store.store_curves(session, [curve(QUARTER_DAY, HOUR, [1.0], source=PriceSource.PARTNER)])


def test_windows_must_be_whole_quarter_hours(database):
    with database.session(write=False) as session:
        with pytest.raises(ValueError, match="quarter-hour grid"):
            store.zone_curve(session, PriceZone.AT, QUARTER_DAY + timedelta(minutes=5), QUARTER_DAY + HOUR)
        with pytest.raises(ValueError, match="ends"):
            store.zone_curve(session, PriceZone.AT, QUARTER_DAY + HOUR, QUARTER_DAY)


def organisation(database) -> uuid.UUID:
    with database.session() as session:
        return create_organisation(session, f"Org {uuid.uuid4().hex[:6]}").org_id


def test_partner_prices_round_trip_per_organisation_and_zone(database):
    a, b = organisation(database), organisation(database)
    with database.session() as session:
        store.store_partner_prices(session, a, PriceZone.AT, QUARTER_DAY, [1.0, 2.0, 3.0, 4.0])
        store.store_partner_prices(session, a, PriceZone.DE_LU, QUARTER_DAY, [9.0])
        store.store_partner_prices(session, b, PriceZone.AT, QUARTER_DAY + QUARTER_HOUR, [7.0])
    window = (QUARTER_DAY - QUARTER_HOUR, QUARTER_DAY + HOUR)
    with database.session(write=False) as session:
        curves = store.partner_curves(session, [(a, PriceZone.AT), (a, PriceZone.DE_LU), (b, PriceZone.AT)], *window)
        single = store.partner_curve(session, a, PriceZone.AT, *window)
        nothing = store.partner_curve(session, b, PriceZone.SE_1, *window)
    nan = np.nan
    np.testing.assert_array_equal(curves[(a, PriceZone.AT)].values, [nan, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(curves[(a, PriceZone.DE_LU)].values, [nan, 9.0, nan, nan, nan])
    np.testing.assert_array_equal(curves[(b, PriceZone.AT)].values, [nan, nan, 7.0, nan, nan])
    assert single == curves[(a, PriceZone.AT)]
    assert single.source == PriceSource.PARTNER
    assert np.isnan(nothing.values).all()


def test_a_partner_upload_replaces_the_earlier_one_for_the_same_quarter_hours(database):
    org = organisation(database)
    with database.session() as session:
        store.store_partner_prices(session, org, PriceZone.AT, QUARTER_DAY, [1.0, 2.0, 3.0])
        store.store_partner_prices(session, org, PriceZone.AT, QUARTER_DAY, [5.0, 6.0, 7.0])
    with database.session(write=False) as session:
        read = store.partner_curve(session, org, PriceZone.AT, QUARTER_DAY, QUARTER_DAY + 3 * QUARTER_HOUR)
    np.testing.assert_array_equal(read.values, [5.0, 6.0, 7.0])


def test_curves_stored_in_one_call_are_applied_in_order(database):
    with database.session() as session:
        store.store_curves(
            session,
            [
                curve(QUARTER_DAY, QUARTER_HOUR, np.arange(4.0)),
                curve(QUARTER_DAY, HOUR, [40.0]),
                curve(QUARTER_DAY + QUARTER_HOUR, QUARTER_HOUR, [7.0]),
            ],
        )
    with database.session(write=False) as session:
        read = store.zone_curve(session, PriceZone.AT, QUARTER_DAY, QUARTER_DAY + HOUR)
    # The hour replaced the first quarters; the last curve's quarter is finer than the hour it overlaps.
    np.testing.assert_array_equal(read.values, [40.0, 7.0, 40.0, 40.0])
