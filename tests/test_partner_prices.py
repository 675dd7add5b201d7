"""Partner uploads of day-ahead prices: `PATCH /org/{org}/trading/dayahead/prices`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from conftest import assert_error, assert_invalid, locates
from solarfleet.prices import store
from solarfleet.prices.zones import QUARTER_HOUR, PriceZone

# 2027-03-27 12:00 UTC: a Saturday; the clocks go forward in every European zone the next night and
# back on 2027-10-31.
NOW = datetime(2027, 3, 27, 12, tzinfo=UTC)
TOMORROW = date(2027, 3, 28)
REGULAR_DAY = date(2027, 3, 30)
RESPONSE_FIELDS = ["date", "price_zone", "count", "first_interval_start", "last_interval_start", "prices"]


@pytest.fixture
def clock(monkeypatch):
    """The upload's idea of now, settable per test."""
    current = {"now": NOW}
    monkeypatch.setattr("solarfleet.prices.api.utcnow", lambda: current["now"])
    return current


def url(partner) -> str:
    return f"{partner.base}/trading/dayahead/prices"


def upload(client, partner, day, prices, **extra):
    body = {"date": str(day), "prices": list(prices), **extra}
    return client.patch(url(partner), json=body, headers=partner.headers)


def ramp(count: int) -> list[float]:
    return [round(-20 + 1.5 * i, 2) for i in range(count)]


def test_a_regular_day_is_stored_and_returned(client, partner, clock):
    prices = ramp(96)
    response = upload(client, partner, REGULAR_DAY, prices)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == RESPONSE_FIELDS
    assert body["date"] == "2027-03-30"
    assert body["price_zone"] == "AT"
    assert body["count"] == 96
    # Local midnight in Vienna (CEST since the 28th) is 22:00 UTC the day before.
    assert body["first_interval_start"] == "2027-03-29T22:00:00Z"
    assert body["last_interval_start"] == "2027-03-30T21:45:00Z"
    assert body["prices"] == prices


@pytest.mark.parametrize(
    ("day", "zone", "count", "first", "last"),
    [
        (TOMORROW, "AT", 92, "2027-03-27T23:00:00Z", "2027-03-28T21:45:00Z"),
        (TOMORROW, "UK", 92, "2027-03-28T00:00:00Z", "2027-03-28T22:45:00Z"),
        (date(2027, 10, 31), "SE_3", 100, "2027-10-30T22:00:00Z", "2027-10-31T22:45:00Z"),
        (date(2027, 10, 31), "PT", 100, "2027-10-30T23:00:00Z", "2027-10-31T23:45:00Z"),
    ],
)
def test_days_on_which_the_clocks_change_have_92_or_100_quarter_hours(
    client, partner, clock, day, zone, count, first, last
):
    clock["now"] = datetime.combine(day, datetime.min.time(), UTC) - timedelta(days=1)
    response = upload(client, partner, day, ramp(count), price_zone=zone)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["count"], body["first_interval_start"], body["last_interval_start"]) == (count, first, last)
    for wrong in (96, count - 1, count + 1):
        detail = assert_error(upload(client, partner, day, ramp(wrong), price_zone=zone), 422)
        assert locates(detail, "prices"), detail
        assert f"send {count} prices" in detail[0]["msg"]
        assert "clocks change" in detail[0]["msg"]


def test_a_regular_day_with_the_wrong_count_says_96(client, partner, clock):
    detail = assert_error(upload(client, partner, REGULAR_DAY, ramp(92)), 422)
    assert detail[0]["loc"] == ["body", "prices"]
    assert "send 96 prices, not 92" in detail[0]["msg"]


def test_an_upload_replaces_the_earlier_one_of_that_day(client, partner, clock, database):
    first = upload(client, partner, REGULAR_DAY, ramp(96))
    assert first.status_code == 200, first.text
    second = upload(client, partner, REGULAR_DAY, [42.0] * 96)
    assert second.status_code == 200, second.text
    assert second.json()["prices"] == [42.0] * 96
    start = datetime(2027, 3, 29, 22, tzinfo=UTC)
    with database.session(write=False) as session:
        stored = store.partner_curve(
            session, uuid.UUID(partner.org_id), PriceZone.AT, start - QUARTER_HOUR, start + 97 * QUARTER_HOUR
        )
    assert np.isnan(stored.values[[0, -1]]).all()
    assert stored.values[1:-1].tolist() == [42.0] * 96


def test_uploads_are_per_organisation_and_zone(client, partner, other_partner, clock, database):
    assert upload(client, partner, REGULAR_DAY, [10.0] * 96).status_code == 200
    assert upload(client, other_partner, REGULAR_DAY, [20.0] * 96).status_code == 200
    assert upload(client, partner, REGULAR_DAY, [30.0] * 96, price_zone="DE_LU").status_code == 200
    start = datetime(2027, 3, 29, 22, tzinfo=UTC)
    end = start + 96 * QUARTER_HOUR
    with database.session(write=False) as session:
        mine = store.partner_curve(session, uuid.UUID(partner.org_id), PriceZone.AT, start, end)
        theirs = store.partner_curve(session, uuid.UUID(other_partner.org_id), PriceZone.AT, start, end)
        germany = store.partner_curve(session, uuid.UUID(partner.org_id), PriceZone.DE_LU, start, end)
    assert set(mine.values) == {10.0}
    assert set(theirs.values) == {20.0}
    assert set(germany.values) == {30.0}


def test_today_in_the_zone_is_accepted_and_the_day_before_is_not(client, partner, clock):
    # 23:30 UTC: already the next day in Vienna, still this day in London.
    clock["now"] = datetime(2027, 3, 30, 22, 30, tzinfo=UTC)
    assert upload(client, partner, date(2027, 3, 31), ramp(96)).status_code == 200
    detail = assert_error(upload(client, partner, date(2027, 3, 30), ramp(96)), 422)
    assert detail[0]["loc"] == ["body", "date"]
    assert "past" in detail[0]["msg"]
    assert upload(client, partner, date(2027, 3, 30), ramp(96), price_zone="UK").status_code == 200


def test_days_further_ahead_than_a_week_are_refused(client, partner, clock):
    assert upload(client, partner, date(2027, 4, 3), ramp(96)).status_code == 200
    assert_invalid(upload(client, partner, date(2027, 4, 4), ramp(96)), "date")
    assert_invalid(upload(client, partner, date(9999, 12, 31), ramp(96)), "date")
    assert_invalid(upload(client, partner, date(1, 1, 1), ramp(96)), "date")


@pytest.mark.parametrize("bad", [-500.01, 4000.01, -1e9, "cheap", "50", None, True])
def test_each_price_must_lie_within_the_sdac_limits(client, partner, clock, bad):
    prices = [50.0] * 96
    prices[17] = bad
    detail = assert_error(upload(client, partner, REGULAR_DAY, prices), 422)
    assert any(issue["loc"] == ["body", "prices", 17] for issue in detail), detail


def test_the_sdac_limits_themselves_are_accepted(client, partner, clock):
    prices = [-500.0] * 48 + [4000.0] * 48
    response = upload(client, partner, REGULAR_DAY, prices)
    assert response.status_code == 200, response.text
    assert response.json()["prices"] == prices


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_prices_are_refused(client, partner, clock, literal):
    prices = ", ".join(["1.0"] * 95 + [literal])
    content = f'{{"date": "{REGULAR_DAY}", "prices": [{prices}]}}'
    response = client.patch(
        url(partner), content=content, headers={**partner.headers, "Content-Type": "application/json"}
    )
    detail = assert_error(response, 422)
    assert any(issue["loc"] == ["body", "prices", 95] for issue in detail), detail


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prices": [1.0] * 96}, "date"),
        ({"date": "2027-02-30", "prices": [1.0] * 96}, "date"),
        ({"date": "30.03.2027", "prices": [1.0] * 96}, "date"),
        ({"date": str(REGULAR_DAY)}, "prices"),
        ({"date": str(REGULAR_DAY), "prices": [1.0] * 101}, "prices"),
        ({"date": str(REGULAR_DAY), "prices": []}, "prices"),
        ({"date": str(REGULAR_DAY), "prices": [1.0] * 96, "price_zone": "FR"}, "price_zone"),
        ({"date": str(REGULAR_DAY), "prices": [1.0] * 96, "price_zone": None}, "price_zone"),
        ({"date": str(REGULAR_DAY), "prices": [1.0] * 96, "currency": "EUR"}, "currency"),
    ],
)
def test_invalid_bodies_name_the_field(client, partner, clock, body, field):
    assert_invalid(client.patch(url(partner), json=body, headers=partner.headers), field)


def test_unparseable_json_is_a_validation_error(client, partner, clock):
    response = client.patch(url(partner), content=b"{", headers={**partner.headers, "Content-Type": "application/json"})
    assert_error(response, 422)


def test_another_organisations_path_is_forbidden_and_a_missing_token_unauthorised(
    client, partner, other_partner, clock, database
):
    response = client.patch(
        url(other_partner), json={"date": str(REGULAR_DAY), "prices": ramp(96)}, headers=partner.headers
    )
    assert_error(response, 403)
    assert_error(client.patch(url(partner), json={"date": str(REGULAR_DAY), "prices": ramp(96)}), 401)
    start = datetime(2027, 3, 29, 22, tzinfo=UTC)
    with database.session(write=False) as session:
        stored = store.partner_curve(
            session, uuid.UUID(other_partner.org_id), PriceZone.AT, start, start + 96 * QUARTER_HOUR
        )
    assert np.isnan(stored.values).all()


def test_the_operation_is_documented_with_its_limits(client):
    document = client.get("/api/partners/v2.0/openapi.json").json()
    operation = document["paths"]["/api/partners/v2.0/org/{org_id}/trading/dayahead/prices"]["patch"]
    assert "SDAC" in operation["description"]
    assert all(count in operation["description"] for count in ("92", "100"))
    schemas = document["components"]["schemas"]
    for name in ("DayAheadPricesUpload", "DayAheadPricesOut"):
        assert all("description" in field for field in schemas[name]["properties"].values()), name
    assert json.dumps(schemas["DayAheadPricesUpload"]["properties"]["prices"]["items"]) == json.dumps(
        {"type": "number", "maximum": 4000.0, "minimum": -500.0}
    )
