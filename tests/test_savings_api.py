"""The savings, statistics and device-savings endpoints, on both databases: periods in the price zone's
local time (clock changes included), sums of the stored days, the query's validation, and tenancy."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from conftest import assert_error, assert_invalid, create_user, each, make_partner
from solarfleet.savings.accounting import local_midnight
from solarfleet.savings.daily import run_daily
from solarfleet.savings.models import SavingsDay
from test_savings_daily import BATTERY, JUNE, arbitrage_day, at_local, store_prices, swinging, write_rollups

TZ = "Europe/Vienna"
# Around the spring clock change (Sunday 29 March 2026, a 23-hour day) and the end of a month and quarter.
DAYS = [date(2026, 3, 27) + timedelta(days=offset) for offset in range(7)]  # Friday 27 March .. Thursday 2 April


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def midnight(day: date, timezone: str = TZ) -> str:
    return z(local_midnight(day, timezone))


def day_row(inverter_id: str, day: date, saved: float = 0.5, baseline: float = 2.0, steps: int = 96) -> SavingsDay:
    """A stored day: the baseline cost `baseline`, the real one `saved` less; energies by day of month."""
    return SavingsDay(
        inverter_id=uuid.UUID(inverter_id),
        day=day,
        steps=steps,
        actual_cost_eur=baseline - saved,
        baseline_cost_eur=baseline,
        perfect_cost_eur=baseline - 2 * saved,
        solar_wh=1000.0 * day.day,
        export_wh=100.0 * day.day,
        import_wh=300.0,
        household_wh=2000.0,
        baseline_import_wh=400.0,
        price_source="synthetic",
    )


def register(client, partner, user_id: str, **fields) -> str:
    response = client.post(f"{partner.base}/users/{user_id}/inverters", json=fields, headers=partner.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
def inverter(client, partner, user) -> str:
    return register(client, partner, user["id"], price_zone="AT")


@pytest.fixture
def url(partner, user, inverter) -> str:
    return f"{partner.base}/users/{user['id']}/inverters/{inverter}"


@pytest.fixture
def stored(database, inverter) -> list[date]:
    with database.session() as session:
        session.add_all(day_row(inverter, day, saved=0.1 * (index + 1)) for index, day in enumerate(DAYS))
    return DAYS


def get(client, partner, path: str, **params) -> dict:
    response = client.get(path, params=params, headers=partner.headers)
    assert response.status_code == 200, response.text
    return response.json()


RANGE = {"from": "2026-03-01T00:00:00+01:00", "to": "2026-04-30T00:00:00+02:00"}


def test_days_are_local_days_and_sum_into_every_resolution(client, partner, url, stored) -> None:
    daily = get(client, partner, f"{url}/savings", resolution="1DAY", **RANGE)
    assert [p["period"]["start_period"] for p in daily["data"]] == [midnight(day) for day in DAYS]
    assert [p["period"]["end_period"] for p in daily["data"]] == [midnight(day + timedelta(days=1)) for day in DAYS]
    sunday = daily["data"][2]
    assert sunday["period"] == {"start_period": "2026-03-28T23:00:00Z", "end_period": "2026-03-29T22:00:00Z"}
    assert sunday["resolution"] == "1DAY"
    assert sunday["savings"] == {"total": pytest.approx(0.3), "percentage": pytest.approx(15.0)}
    assert sunday["inverter"] == {"solar_production_wh": 29_000.0, "grid_export_wh": 2900.0}

    metadata = daily["metadata"]
    assert metadata["timezone"] == TZ
    assert metadata["currency"] == "EUR"
    assert metadata["price_sources"] == ["synthetic"]
    assert metadata["from_datetime"] == midnight(date(2026, 3, 1))
    assert metadata["to_datetime"] == midnight(date(2026, 4, 30))
    assert metadata["computed_until"] == midnight(date(2026, 4, 3))
    assert "self-consumption" in metadata["baseline"]
    assert "current day" in metadata["note"]

    def totals(resolution: str) -> list[tuple[str, str, float, float]]:
        body = get(client, partner, f"{url}/savings", resolution=resolution, **RANGE)
        return [
            (
                p["period"]["start_period"],
                p["period"]["end_period"],
                p["savings"]["total"],
                p["inverter"]["solar_production_wh"],
            )
            for p in body["data"]
        ]

    march, april = DAYS[:5], DAYS[5:]
    saved = {day: 0.1 * (index + 1) for index, day in enumerate(DAYS)}
    solar = {day: 1000.0 * day.day for day in DAYS}
    assert totals("1WEEK") == [
        (midnight(date(2026, 3, 23)), midnight(date(2026, 3, 30)), pytest.approx(0.6), sum(solar[d] for d in DAYS[:3])),
        (midnight(date(2026, 3, 30)), midnight(date(2026, 4, 6)), pytest.approx(2.2), sum(solar[d] for d in DAYS[3:])),
    ]
    assert totals("1MONTH") == [
        (
            midnight(date(2026, 3, 1)),
            midnight(date(2026, 4, 1)),
            pytest.approx(sum(saved[d] for d in march)),
            sum(solar[d] for d in march),
        ),
        (
            midnight(date(2026, 4, 1)),
            midnight(date(2026, 5, 1)),
            pytest.approx(sum(saved[d] for d in april)),
            sum(solar[d] for d in april),
        ),
    ]
    assert [row[:2] for row in totals("1QUARTER")] == [
        (midnight(date(2026, 1, 1)), midnight(date(2026, 4, 1))),
        (midnight(date(2026, 4, 1)), midnight(date(2026, 7, 1))),
    ]
    [year] = totals("1YEAR")
    assert year == ("2025-12-31T23:00:00Z", "2026-12-31T23:00:00Z", pytest.approx(2.8), sum(solar.values()))

    # The default resolution is months; the range widens to whole periods.
    monthly = get(client, partner, f"{url}/savings", **{"from": "2026-03-15T12:00:00Z", "to": "2026-04-02T12:00:00Z"})
    assert monthly["metadata"]["resolution"] == "1MONTH"
    assert (monthly["metadata"]["from_datetime"], monthly["metadata"]["to_datetime"]) == (
        midnight(date(2026, 3, 1)),
        midnight(date(2026, 5, 1)),
    )
    assert len(monthly["data"]) == 2


def test_without_a_range_the_last_year_up_to_now(client, partner, database, url, inverter) -> None:
    today = datetime.now(ZoneInfo(TZ)).date()
    with database.session() as session:
        session.add(day_row(inverter, today - timedelta(days=1)))
        session.add(day_row(inverter, today - timedelta(days=500)))
    body = get(client, partner, f"{url}/savings")
    assert len(body["data"]) == 1  # yesterday's month; 500 days ago is out of range
    metadata = body["metadata"]
    assert metadata["resolution"] == "1MONTH"
    assert metadata["from_datetime"] == midnight(date(today.year - 1, today.month, 1))  # a year back, whole months
    assert metadata["computed_until"] == midnight(today)


def test_a_day_without_a_counted_quarter_hour_has_no_savings_but_its_energies(client, partner, database, url, inverter):
    with database.session() as session:
        session.add(day_row(inverter, DAYS[0], steps=0, saved=0.0, baseline=0.0))
        session.add(day_row(inverter, DAYS[1], saved=0.5, baseline=0.005))  # a baseline under a cent
    body = get(client, partner, f"{url}/savings", resolution="1DAY", **RANGE)
    first, second = body["data"]
    assert first["savings"] == {"total": None, "percentage": None}
    assert first["inverter"]["solar_production_wh"] == 27_000.0
    assert second["savings"] == {"total": pytest.approx(0.5), "percentage": None}


def test_statistics_carry_the_members_asked_for(client, partner, url, stored) -> None:
    both = get(client, partner, f"{url}/statistics", resolution="1WEEK", **RANGE)
    assert both["metadata"]["keywords"] == ["savings", "consumption"]
    first = both["data"][0]
    assert set(first) == {"resolution", "period", "savings", "consumption"}
    assert first["consumption"] == {
        "household_wh": 6000.0,
        "grid_import_wh": 900.0,
        "baseline_grid_import_wh": 1200.0,
        "solar_production_wh": 27_000.0 + 28_000.0 + 29_000.0,
        "grid_export_wh": 8400.0,
    }
    savings = get(client, partner, f"{url}/savings", resolution="1WEEK", **RANGE)
    assert [p["savings"] for p in both["data"]] == [p["savings"] for p in savings["data"]]
    assert [p["period"] for p in both["data"]] == [p["period"] for p in savings["data"]]

    only = get(client, partner, f"{url}/statistics", resolution="1WEEK", keywords="consumption", **RANGE)
    assert only["metadata"]["keywords"] == ["consumption"]
    assert all(set(point) == {"resolution", "period", "consumption"} for point in only["data"])
    only = get(client, partner, f"{url}/statistics", keywords=" savings,savings,", **RANGE)
    assert all(set(point) == {"resolution", "period", "savings"} for point in only["data"])


def test_invalid_queries_are_422_naming_the_field(client, partner, url) -> None:
    cases = [
        ("savings", {"resolution": "1HOUR"}, "resolution"),
        ("savings", {"resolution": "15MIN"}, "resolution"),
        ("savings", {"from": "2026-03-01T00:00:00"}, "from"),  # no time zone
        ("savings", {"to": "tomorrow"}, "to"),
        ("savings", {"from": "2026-04-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}, "from"),
        ("savings", {"from": "2026-04-02T00:00:00Z", "to": "2026-04-01T00:00:00Z"}, "from"),
        ("savings", {"from": "2099-01-01T00:00:00Z"}, "from"),  # after now, the default end
        ("savings", {"from": "2000-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),  # over ten years
        ("savings", {"from": "0001-01-01T00:00:00Z", "to": "0001-02-01T00:00:00Z"}, "from"),
        ("savings", {"from": "9999-12-01T00:00:00Z", "to": "9999-12-31T23:00:00Z"}, "to"),
        ("statistics", {"keywords": "savings,money"}, "keywords"),
        ("statistics", {"keywords": " , "}, "keywords"),
        ("statistics", {"resolution": "1DAYS"}, "resolution"),
        ("statistics", {"from": "2026-04-02T00:00:00Z", "to": "2026-04-01T00:00:00Z"}, "from"),
    ]

    def refused(case) -> None:
        endpoint, params, field = case
        assert_invalid(client.get(f"{url}/{endpoint}", params=params, headers=partner.headers), field)

    each(cases, refused)


def test_other_tenants_users_and_deleted_inverters(client, database, partner, user, url, inverter) -> None:
    other = make_partner(client, database, "Other partner")
    other_user = create_user(client, other)
    foreign = register(client, other, other_user["id"])
    second_user = create_user(client, partner)
    for endpoint in ("savings", "statistics"):
        paths = [
            f"{partner.base}/users/{user['id']}/inverters/{uuid.uuid4()}/{endpoint}",
            f"{partner.base}/users/{user['id']}/inverters/{foreign}/{endpoint}",
            f"{partner.base}/users/{second_user['id']}/inverters/{inverter}/{endpoint}",
        ]
        each(paths, lambda path: assert_error(client.get(path, headers=partner.headers), 404))
        assert_error(client.get(f"{url}/{endpoint}", headers=other.headers), 403)
    assert_error(client.get(f"{partner.base}/devices/savings", headers=other.headers), 403)

    assert client.delete(url, headers=partner.headers).status_code == 204
    assert_error(client.get(f"{url}/savings", headers=partner.headers), 404)
    kept = client.get(f"{url}/savings", params={"include_deleted": "true"}, headers=partner.headers)
    assert kept.status_code == 200, kept.text


def test_the_organisation_sums_its_inverters_days_in_each_zones_local_time(client, database, partner, user) -> None:
    vienna = register(client, partner, user["id"], price_zone="AT")
    london = register(client, partner, user["id"], price_zone="UK")
    gone = register(client, partner, user["id"], price_zone="AT")
    other = make_partner(client, database, "Other partner")
    foreign = register(client, other, create_user(client, other)["id"], price_zone="AT")
    with database.session() as session:
        for inverter_id in (vienna, london, gone, foreign):
            session.add_all(day_row(inverter_id, day, saved=1.0) for day in (date(2020, 4, 30), date(2020, 5, 1)))
    assert (
        client.delete(f"{partner.base}/users/{user['id']}/inverters/{gone}", headers=partner.headers).status_code == 204
    )

    # From Vienna's midnight of 1 May: Vienna's 1 May counts, and London's too (it begins an hour later);
    # London's 30 April begins at 01:00 Vienna time on 30 April: before the range.
    params = {"start_datetime": "2020-05-01T00:00:00+02:00", "end_datetime": "2020-05-02T00:00:00+02:00"}
    body = get(client, partner, f"{partner.base}/devices/savings", **params)
    assert body == {
        "total_savings": pytest.approx(2.0),
        "heat_pump_savings": 0.0,
        "electric_vehicle_savings": 0.0,
        "inverter_savings": pytest.approx(2.0),
    }
    # London's 1 May starts at 01:00 Vienna time on 1 May: a range ending at 00:30 leaves it out.
    body = get(
        client,
        partner,
        f"{partner.base}/devices/savings",
        start_datetime="2020-04-30T00:00:00+02:00",
        end_datetime="2020-05-01T00:30:00+02:00",
    )
    assert body["inverter_savings"] == pytest.approx(3.0)  # Vienna 30 Apr and 1 May, London 30 Apr
    everything = get(client, partner, f"{partner.base}/devices/savings", include_deleted="true", **params)
    assert everything["total_savings"] == pytest.approx(3.0)
    assert get(client, partner, f"{partner.base}/devices/savings")["total_savings"] == 0.0  # the last year: none

    for params, field in (
        ({"start_datetime": "2020-05-02T00:00:00Z", "end_datetime": "2020-05-01T00:00:00Z"}, "start_datetime"),
        ({"start_datetime": "2010-05-02T00:00:00Z", "end_datetime": "2020-05-03T00:00:00Z"}, "start_datetime"),
        ({"end_datetime": "2020-05-01"}, "end_datetime"),
    ):
        assert_invalid(client.get(f"{partner.base}/devices/savings", params=params, headers=partner.headers), field)


def test_the_daily_job_feeds_the_endpoints_and_the_score(client, database, partner, user) -> None:
    inverter_id = register(
        client,
        partner,
        user["id"],
        price_zone="AT",
        is_battery_connected=True,
        battery_capacity_kwh=BATTERY["battery_capacity_kwh"],
        battery_policy="Optimize grid balancing",
        is_inverter_forced_mode_enabled=True,
    )
    url = f"{partner.base}/users/{user['id']}/inverters/{inverter_id}"
    assert client.get(url, headers=partner.headers).json()["optimization_score"] is None
    with database.session() as session:
        store_prices(session, JUNE, 1, swinging)
        write_rollups(session, uuid.UUID(inverter_id), at_local(JUNE), **arbitrage_day())
    run_daily(database, at_local(JUNE + timedelta(days=1), 0.5), days_back=1)

    [day] = get(
        client, partner, f"{url}/savings", resolution="1DAY", **{"from": z(at_local(JUNE)), "to": z(at_local(JUNE, 24))}
    )["data"]
    assert day["savings"]["total"] > 0
    assert 0 < day["savings"]["percentage"] < 100
    score = client.get(url, headers=partner.headers).json()["optimization_score"]
    assert 0 < score < 100
    consumption = get(
        client,
        partner,
        f"{url}/statistics",
        resolution="1DAY",
        keywords="consumption",
        **{"from": z(at_local(JUNE)), "to": z(at_local(JUNE, 24))},
    )["data"][0]["consumption"]
    flows = arbitrage_day()
    assert consumption["household_wh"] == pytest.approx(np.sum(flows["household_wh"]))
    assert consumption["grid_import_wh"] == pytest.approx(np.sum(flows["import_wh"]))
    # the baseline has no sun to charge from: the house imports everything
    assert consumption["baseline_grid_import_wh"] == pytest.approx(np.sum(flows["household_wh"]))


def test_the_document_describes_every_field_and_parameter(client) -> None:
    spec = client.get("/api/partners/v2.0/openapi.json").json()
    schemas = spec["components"]["schemas"]
    names = (
        "SavingsOut",
        "SavingsMetadata",
        "SavingsPoint",
        "SavingsPeriodBounds",
        "SavingsAmount",
        "InverterEnergies",
        "StatisticsOut",
        "StatisticsMetadata",
        "StatisticsPoint",
        "Consumption",
        "DeviceSavingsOut",
    )
    undescribed = [
        f"{schema}.{name}"
        for schema in names
        for name, field in schemas[schema]["properties"].items()
        if "description" not in field
    ]
    assert undescribed == []
    base = "/api/partners/v2.0/org/{org_id}"
    for path in (
        f"{base}/users/{{user_id}}/inverters/{{inverter_id}}/savings",
        f"{base}/users/{{user_id}}/inverters/{{inverter_id}}/statistics",
        f"{base}/devices/savings",
    ):
        operation = spec["paths"][path]["get"]
        assert all(parameter.get("description") for parameter in operation["parameters"]), path
        assert "current day" in operation["description"]
    heat_pumps = schemas["DeviceSavingsOut"]["properties"]["heat_pump_savings"]["description"]
    assert "0.0" in heat_pumps
