"""`GET .../inverters/{inverter_id}/data`: the time series a partner reads, on both databases.

Two simulated homes (one with a battery, one without) are monitored through two days by the real
monitoring worker on a stepped clock; the series it stored is then read through the API at every
resolution. Every bucket from ORIGIN to END is fully covered by readings: there, average power ×
bucket length is exactly the bucket's energy.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from conftest import Partner, assert_error, assert_invalid, create_user, each, make_partner
from solarfleet.connectors.registry import ConnectorContext
from solarfleet.connectors.simulator.clock import SimulationClock
from solarfleet.database import Database
from solarfleet.demo import add_simulated_inverter, home_parameters
from solarfleet.inverters.models import Inverter
from solarfleet.monitoring.models import ReadingRollup
from solarfleet.monitoring.pipeline import MonitoringWorker
from solarfleet.monitoring.schemas import DataKeyword, DataResolution
from solarfleet.monitoring.series import MAX_POINTS, Sums, bucket_floor, points
from solarfleet.optimization.models import PlanRun, PlanSlot
from solarfleet.prices.models import ZonePrice
from solarfleet.prices.zones import ZONE_LOCATIONS, PriceZone
from solarfleet.users.models import User

# A Saturday: the two days share one ISO week but fall into two calendar months.
ORIGIN = datetime(2025, 5, 31, tzinfo=UTC)
END = ORIGIN + timedelta(days=2)
STEP = timedelta(minutes=1)
ZONE = PriceZone.AT
KEYWORDS = [keyword.value for keyword in DataKeyword]
POWERS = ["solar_production_w", "export_power_to_grid_w", "household_consumption_w", "battery_charge_discharge_power_w"]
ALWAYS = {"time", "price", "estimated_consumption", "unoptimized_consumption"}
DERIVED = ["price", "estimated_consumption", "unoptimized_consumption"]
HOUR = timedelta(hours=1)


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def parsed(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass
class Homes:
    """The monitored homes of one user: an inverter with a battery and one without."""

    client: TestClient
    database: Database
    partner: Partner
    user_id: str
    battery: str
    plain: str

    def series(self, inverter_id: str, resolution: str, start: datetime = ORIGIN, end: datetime = END, **params):
        response = self.client.get(
            f"{self.partner.base}/users/{self.user_id}/inverters/{inverter_id}/data",
            params={"resolution": resolution, "from_datetime": at(start), "to_datetime": at(end), **params},
            headers=self.partner.headers,
        )
        assert response.status_code == 200, response.text
        return response.json()


async def _monitor(worker: MonitoringWorker) -> None:
    try:
        await worker.replay(END, STEP)
    finally:
        await worker.close()


@pytest.fixture
def homes(client, database, partner, user) -> Homes:
    """Two days of monitoring. A device's first reading stands for no time; starting the clock two
    minutes early puts it in the bucket before ORIGIN, so every bucket from ORIGIN on is fully covered."""
    location = ZONE_LOCATIONS[ZONE]
    rng = random.Random(11)
    cipher = client.app.state.credentials_cipher
    with database.session() as session:
        owner = session.get(User, uuid.UUID(user["id"]))
        battery, plain = [
            add_simulated_inverter(
                session,
                cipher,
                owner,
                home_parameters(rng, seed, ZONE, location.latitude, location.longitude, pv_kwp=7.0, battery_kwh=size),
                ZONE,
            ).id
            for seed, size in ((101, 10.0), (102, None))
        ]
    worker = MonitoringWorker(database, cipher, ConnectorContext(clock=SimulationClock.stepped(ORIGIN - 2 * STEP)))
    worker.load()
    asyncio.run(_monitor(worker))
    return Homes(client, database, partner, user["id"], str(battery), str(plain))


def energies_wh(series: list[dict], field: str, hours: float) -> list[float]:
    return [point[field] * hours for point in series]


def in_groups(values: list[float], size: int) -> Iterator[list[float]]:
    for index in range(0, len(values), size):
        yield values[index : index + size]


# --- the series of two monitored days: checks of one monitoring run ---------------------------------


def assert_energy_conserved(series: dict[str, list[dict]], field: str) -> None:
    """Average power × hours covered gives the same energy at every resolution."""
    quarter_wh = energies_wh(series["15MIN"], field, 0.25)
    hour_wh = energies_wh(series["1HOUR"], field, 1)
    day_wh = energies_wh(series["1DAY"], field, 24)
    assert [sum(group) for group in in_groups(quarter_wh, 4)] == pytest.approx(hour_wh, rel=1e-9, abs=1e-6)
    assert [sum(group) for group in in_groups(hour_wh, 24)] == pytest.approx(day_wh, rel=1e-9, abs=1e-6)
    # The week holds both days (48 h of readings); May and June one day each.
    assert series["1WEEK"][0][field] * 48 == pytest.approx(sum(day_wh), rel=1e-9, abs=1e-6)
    assert energies_wh(series["1MONTH"], field, 24) == pytest.approx(day_wh, rel=1e-9, abs=1e-6)


def every_resolution_holds_the_buckets_with_readings_and_conserves_energy(homes: Homes) -> None:
    for inverter_id, fields in ((homes.battery, POWERS), (homes.plain, POWERS[:3])):
        series = {r.value: homes.series(inverter_id, r.value)["data"] for r in DataResolution}
        times = {resolution: [p["time"] for p in points] for resolution, points in series.items()}
        assert times["15MIN"] == [at(ORIGIN + i * timedelta(minutes=15)) for i in range(192)]
        assert times["1HOUR"] == [at(ORIGIN + i * HOUR) for i in range(48)]
        assert times["1DAY"] == [at(ORIGIN), at(ORIGIN + timedelta(days=1))]
        assert times["1WEEK"] == ["2025-05-26T00:00:00Z"]  # Monday of the ISO week, UTC
        assert times["1MONTH"] == ["2025-05-01T00:00:00Z", "2025-06-01T00:00:00Z"]
        assert sum(p["solar_production_w"] for p in series["1DAY"]) > 0
        each(fields, partial(assert_energy_conserved, series))

    # The state of charge is a time-weighted mean: an hour's is the mean of its quarters'.
    quarters, hours = (homes.series(homes.battery, r)["data"] for r in ("15MIN", "1HOUR"))
    socs = [p["battery_charge_level_percent"] for p in quarters]
    assert [sum(group) / 4 for group in in_groups(socs, 4)] == pytest.approx(
        [p["battery_charge_level_percent"] for p in hours], rel=1e-9
    )


def only_buckets_with_readings_appear_and_without_covered_time_they_are_null(homes: Homes) -> None:
    """Around the data nothing is padded; the bucket whose one reading stands for no time is null."""
    around = homes.series(homes.battery, "15MIN", ORIGIN - 2 * HOUR, END + 2 * HOUR)["data"]
    first = around[0]
    assert first["time"] == at(ORIGIN - timedelta(minutes=15))
    assert [first[name] for name in KEYWORDS] == [None] * len(KEYWORDS)
    assert [p["time"] for p in around[1:]] == [at(ORIGIN + i * timedelta(minutes=15)) for i in range(192)]

    empty = homes.series(homes.battery, "1HOUR", END + HOUR, END + 3 * HOUR)
    assert empty["data"] == []


def signs_follow_the_power_balance(homes: Homes) -> None:
    """household = solar + battery − grid, with export and discharge positive (within meter noise)."""

    def balance_holds(point: dict) -> None:
        battery = point.get("battery_charge_discharge_power_w") or 0.0
        solar, grid, household = (point[name] for name in POWERS[:3])
        scale = max(solar, household, abs(grid), abs(battery))
        # Each simulated meter reads with 1 % noise; the four quantities wobble independently.
        assert household == pytest.approx(solar + battery - grid, abs=0.03 * scale + 5)
        assert solar >= 0
        assert household >= 0

    with_battery = homes.series(homes.battery, "15MIN")["data"]
    without = homes.series(homes.plain, "15MIN")["data"]
    each(with_battery + without, balance_holds)

    # Without a battery the house imports at night (negative) and exports in the midday sun (positive).
    assert min(p["export_power_to_grid_w"] for p in without) < -50
    assert max(p["export_power_to_grid_w"] for p in without) > 500
    assert {p["battery_charge_discharge_power_w"] for p in without} == {None}
    assert {p["battery_charge_level_percent"] for p in without} == {None}

    # Discharging (positive) lowers the state of charge, charging (negative) raises it.
    hours = homes.series(homes.battery, "1HOUR")["data"]
    power = [p["battery_charge_discharge_power_w"] for p in hours]
    soc = [p["battery_charge_level_percent"] for p in hours]
    discharging = [soc[i + 1] - soc[i] for i in range(len(hours) - 1) if min(power[i], power[i + 1]) > 100]
    charging = [soc[i + 1] - soc[i] for i in range(len(hours) - 1) if max(power[i], power[i + 1]) < -100]
    assert discharging
    assert charging
    assert all(change < 0 for change in discharging)
    assert all(change > 0 for change in charging)
    assert all(0 <= p["battery_charge_level_percent"] <= 100 for p in hours)


def keywords_select_the_fields_of_each_point(homes: Homes) -> None:
    everything = homes.series(homes.battery, "1HOUR")
    assert everything["metadata"]["keywords"] == KEYWORDS
    assert all(set(point) == ALWAYS | set(KEYWORDS) for point in everything["data"])
    # No prices are stored and nothing was planned; the baseline needs only the measurements.
    assert all(point["price"] is None for point in everything["data"])
    assert all(point["estimated_consumption"] is None for point in everything["data"])
    assert all(point["unoptimized_consumption"] is not None for point in everything["data"])

    chosen = homes.series(
        homes.battery, "1HOUR", keywords=" battery_charge_level_percent,solar_production_w,solar_production_w,"
    )
    # In the contract's order, whatever the order asked in; each once.
    assert chosen["metadata"]["keywords"] == ["solar_production_w", "battery_charge_level_percent"]
    assert chosen["metadata"]["units"] == {
        "price": "EUR/MWh",
        "solar_production_w": "W",
        "battery_charge_level_percent": "%",
        "estimated_consumption": "Wh",
        "unoptimized_consumption": "Wh",
    }
    # The contract's order of members: time, price, the keywords, the two consumptions.
    assert list(chosen["data"][0]) == [
        "time",
        "price",
        "solar_production_w",
        "battery_charge_level_percent",
        "estimated_consumption",
        "unoptimized_consumption",
    ]
    assert chosen["data"] == [
        {name: value for name, value in point.items() if name in chosen["data"][0]} for point in everything["data"]
    ]

    # Asked of an inverter without a battery, battery fields are there, and null.
    plain = homes.series(homes.plain, "1DAY", keywords="battery_charge_discharge_power_w")["data"]
    assert plain == [
        {
            "time": p["time"],
            "price": None,
            "battery_charge_discharge_power_w": None,
            "estimated_consumption": None,
            "unoptimized_consumption": p["unoptimized_consumption"],
        }
        for p in plain
    ]
    assert len(plain) == 2


def hourly_spot(moment: datetime) -> float:
    """A day-ahead price for each hour (EUR/MWh), different in every hour of the two days."""
    return 40.0 + 5.0 * ((moment - ORIGIN) // HOUR)


def store_prices_and_a_plan(homes: Homes, database) -> None:
    """Hourly day-ahead prices over the two days, and a plan for the first two hours of the battery's home
    that expected 800 W of household load."""
    with database.session() as session:
        session.add_all(
            ZonePrice(
                zone=ZONE.value,
                start_s=int(start.timestamp()),
                resolution_s=3600,
                price_eur_mwh=hourly_spot(start),
                source="synthetic",
            )
            for start in (ORIGIN + hour * HOUR for hour in range(48))
        )
        inverter = session.get(Inverter, uuid.UUID(homes.battery))
        run = PlanRun(
            organisation_id=inverter.organisation_id,
            site_id=inverter.id,
            reason="slot",
            horizon_start_s=int(ORIGIN.timestamp()),
            horizon_end_s=int((ORIGIN + 2 * HOUR).timestamp()),
            source="linear_program",
            expected_cost_eur=0.0,
            price_source="synthetic",
        )
        session.add(run)
        session.flush()
        session.add_all(
            PlanSlot(
                inverter_id=inverter.id,
                start_s=run.horizon_start_s + 900 * index,
                duration_s=900,
                plan_run_id=run.id,
                mode="self_consumption",
                battery_power_w=0.0,
                curtail_w=0.0,
                expected_solar_w=0.0,
                expected_load_w=800.0,
                expected_grid_w=-800.0,
                import_price_eur_mwh=hourly_spot(ORIGIN),
                export_price_eur_mwh=hourly_spot(ORIGIN),
                expected_cost_eur=0.0,
            )
            for index in range(8)
        )


def prices_plans_and_the_baseline_fill_each_bucket(homes: Homes) -> None:
    """Run last: it stores prices and a plan (see store_prices_and_a_plan) before reading."""
    store_prices_and_a_plan(homes, homes.database)
    answers = {r: homes.series(homes.battery, r) for r in ("15MIN", "1HOUR", "1DAY")}
    assert {answer["metadata"]["price_source"] for answer in answers.values()} == {"synthetic"}
    series = {r: answer["data"] for r, answer in answers.items()}
    quarters, hours, days = series["15MIN"], series["1HOUR"], series["1DAY"]

    # The organisation has no tariff and the user no contract: the import price is the spot price.
    assert [p["price"] for p in quarters] == [hourly_spot(parsed(p["time"])) for p in quarters]
    assert [p["price"] for p in hours] == [hourly_spot(parsed(p["time"])) for p in hours]
    assert [p["price"] for p in days] == pytest.approx([40.0 + 5.0 * 11.5, 40.0 + 5.0 * 35.5])  # the hours' mean

    # 800 W planned for two hours: 200 Wh a quarter hour; unplanned buckets stay null.
    assert [p["estimated_consumption"] for p in quarters[:9]] == [200.0] * 8 + [None]
    assert [p["estimated_consumption"] for p in hours[:3]] == [800.0, 800.0, None]
    assert [p["estimated_consumption"] for p in days] == [1600.0, None]

    # The baseline replays the quarter hours: every resolution adds up the same energies.
    def energy(points: list[dict]) -> list[float]:
        return [p["unoptimized_consumption"] for p in points]

    assert [sum(group) for group in in_groups(energy(quarters), 4)] == pytest.approx(energy(hours))
    assert [sum(group) for group in in_groups(energy(hours), 24)] == pytest.approx(energy(days))

    # Without a battery plain self-consumption is what happened: it imports what the meter measured in each
    # quarter hour (the house's deficit, and what flowed both ways within it); the battery covers part of it.
    plain = homes.series(homes.plain, "15MIN", keywords="solar_production_w,household_consumption_w")["data"]
    with homes.database.session(write=False) as session:
        measured = dict(
            session.execute(
                select(ReadingRollup.bucket_s, ReadingRollup.import_wh).where(
                    ReadingRollup.inverter_id == uuid.UUID(homes.plain), ReadingRollup.resolution == "15MIN"
                )
            ).all()
        )
    assert energy(plain) == pytest.approx([measured[int(parsed(p["time"]).timestamp())] for p in plain], abs=1e-6)
    deficit = [max(p["household_consumption_w"] - p["solar_production_w"], 0.0) / 4 for p in plain]
    assert sum(energy(plain)) >= sum(deficit) - 1e-6
    own = homes.series(homes.battery, "15MIN", keywords="solar_production_w,household_consumption_w")["data"]
    own_deficit = sum(max(p["household_consumption_w"] - p["solar_production_w"], 0.0) / 4 for p in own)
    assert 0 < sum(energy(quarters)) < 0.8 * own_deficit


def test_two_monitored_days_read_every_way(homes, subtests):
    """Monitoring two days is the slow part, so it runs once per database; each check is a subtest."""
    checks = (
        every_resolution_holds_the_buckets_with_readings_and_conserves_energy,
        only_buckets_with_readings_appear_and_without_covered_time_they_are_null,
        signs_follow_the_power_balance,
        keywords_select_the_fields_of_each_point,
        prices_plans_and_the_baseline_fill_each_bucket,
    )
    for check in checks:
        with subtests.test(check.__name__):
            check(homes)


# --- the query: defaults, limits, validation -----------------------------------------------------------


@pytest.fixture
def inverter_url(client, partner, user) -> str:
    response = client.post(f"{partner.base}/users/{user['id']}/inverters", json={}, headers=partner.headers)
    assert response.status_code == 201, response.text
    return f"{partner.base}/users/{user['id']}/inverters/{response.json()['id']}/data"


# to_datetime 2025-06-11T12:34Z, a Wednesday: (from_datetime, to_datetime) used by default per resolution.
DEFAULT_RANGES = {
    "15MIN": ("2025-06-10T12:30:00Z", "2025-06-11T12:45:00Z"),
    "1HOUR": ("2025-06-04T12:00:00Z", "2025-06-11T13:00:00Z"),
    "1DAY": ("2025-05-11T00:00:00Z", "2025-06-12T00:00:00Z"),
    "1WEEK": ("2024-12-09T00:00:00Z", "2025-06-16T00:00:00Z"),
    "1MONTH": ("2024-06-01T00:00:00Z", "2025-07-01T00:00:00Z"),
}


def test_defaults(client, partner, inverter_url):
    def default_range(resolution: str) -> None:
        response = client.get(
            inverter_url,
            params={"resolution": resolution, "to_datetime": "2025-06-11T14:34:00+02:00"},
            headers=partner.headers,
        )
        assert response.status_code == 200, response.text
        metadata = response.json()["metadata"]
        assert (metadata["from_datetime"], metadata["to_datetime"]) == DEFAULT_RANGES[resolution]

    each(DEFAULT_RANGES, default_range)

    before = datetime.now(UTC)
    response = client.get(inverter_url, headers=partner.headers)
    after = datetime.now(UTC)
    assert response.status_code == 200, response.text
    body = response.json()
    metadata = body["metadata"]
    assert metadata["resolution"] == "15MIN"
    assert metadata["keywords"] == KEYWORDS
    assert metadata["timezone"] == "UTC"
    assert metadata["inverter_id"] == inverter_url.split("/")[-2]
    assert "null" in metadata["note"]
    assert set(metadata["units"]) == set(KEYWORDS) | set(DERIVED)
    # The last bucket is the one holding now; the range starts one day before it.
    to = parsed(metadata["to_datetime"])
    assert bucket_floor(before, DataResolution.QUARTER_HOUR) < to <= after + timedelta(minutes=15)
    assert to - parsed(metadata["from_datetime"]) == timedelta(days=1, minutes=15)
    assert body["data"] == []  # a registered inverter that was never monitored


def test_invalid_queries_are_422_naming_the_field(client, partner, inverter_url):
    start = "2025-06-01T00:00:00Z"
    # The documented limit: 10,000 quarter hours are 104 days and 4 hours.
    widest = at(datetime(2025, 6, 1, tzinfo=UTC) + MAX_POINTS * timedelta(minutes=15))
    assert widest == "2025-09-13T04:00:00Z"
    cases = [
        ({"resolution": "5MIN"}, "resolution"),
        ({"resolution": "1YEAR"}, "resolution"),
        ({"keywords": "solar_production_w,solar_power"}, "keywords"),
        ({"keywords": ""}, "keywords"),
        ({"keywords": " , "}, "keywords"),
        ({"from_datetime": "2025-06-01T00:00:00"}, "from_datetime"),  # no time zone
        ({"to_datetime": "2025-06-01T00:00:00"}, "to_datetime"),
        ({"from_datetime": "yesterday"}, "from_datetime"),
        ({"to_datetime": "2025-13-01T00:00:00Z"}, "to_datetime"),
        ({"from_datetime": start, "to_datetime": start}, "from_datetime"),
        ({"from_datetime": "2025-06-02T00:00:00Z", "to_datetime": start}, "from_datetime"),
        ({"from_datetime": "2099-01-01T00:00:00Z"}, "from_datetime"),  # after now, the default end
        ({"to_datetime": "9999-12-31T23:59:00Z"}, "to_datetime"),  # its bucket would end after 9999
        ({"from_datetime": start, "to_datetime": "2025-09-13T04:00:01Z"}, "from_datetime"),  # one bucket more
        ({"from_datetime": "1200-01-01T00:00:00Z", "resolution": "1WEEK"}, "from_datetime"),
    ]

    def refused(case) -> None:
        params, field = case
        assert_invalid(client.get(inverter_url, params=params, headers=partner.headers), field)

    each(cases, refused)

    unknown = client.get(inverter_url, params={"keywords": "solar_power,solar_production_w"}, headers=partner.headers)
    assert "'solar_power'" in assert_error(unknown, 422)[0]["msg"]

    response = client.get(inverter_url, params={"from_datetime": start, "to_datetime": widest}, headers=partner.headers)
    assert response.status_code == 200, response.text


def test_unknown_foreign_and_deleted_inverters_are_404(client, database, partner, user, inverter_url):
    other = make_partner(client, database, "Other partner")
    other_user = create_user(client, other)
    foreign = client.post(f"{other.base}/users/{other_user['id']}/inverters", json={}, headers=other.headers)
    assert foreign.status_code == 201, foreign.text
    second_user = create_user(client, partner)
    mine = inverter_url.split("/")[-2]
    paths = [
        f"{partner.base}/users/{user['id']}/inverters/{uuid.uuid4()}/data",
        # Another organisation's inverter, under this partner's own organisation and user.
        f"{partner.base}/users/{user['id']}/inverters/{foreign.json()['id']}/data",
        # This partner's inverter, under another of its users.
        f"{partner.base}/users/{second_user['id']}/inverters/{mine}/data",
    ]
    each(paths, lambda path: assert_error(client.get(path, headers=partner.headers), 404))
    assert_error(client.get(inverter_url, headers=other.headers), 403)

    assert client.delete(inverter_url.removesuffix("/data"), headers=partner.headers).status_code == 204
    assert_error(client.get(inverter_url, headers=partner.headers), 404)
    deleted = client.get(inverter_url, params={"include_deleted": "true"}, headers=partner.headers)
    assert deleted.status_code == 200, deleted.text


def test_the_document_describes_every_field(client):
    spec = client.get("/api/partners/v2.0/openapi.json").json()
    schemas = spec["components"]["schemas"]
    undescribed = [
        f"{schema}.{name}"
        for schema in ("InverterDataOut", "InverterDataMetadata", "InverterDataPoint")
        for name, field in schemas[schema]["properties"].items()
        if "description" not in field
    ]
    assert undescribed == []
    operation = spec["paths"]["/api/partners/v2.0/org/{org_id}/users/{user_id}/inverters/{inverter_id}/data"]["get"]
    assert all(parameter.get("description") for parameter in operation["parameters"])
    assert "UTC" in operation["description"]
    assert "left out" in operation["description"]


# --- calendar buckets, without a database ---------------------------------------------------------------


def test_weeks_start_on_monday_and_months_on_the_first_utc():
    sunday_night = datetime(2025, 6, 1, 23, 59, 59, tzinfo=UTC)
    assert bucket_floor(sunday_night, DataResolution.WEEK) == datetime(2025, 5, 26, tzinfo=UTC)
    assert bucket_floor(sunday_night, DataResolution.MONTH) == datetime(2025, 6, 1, tzinfo=UTC)
    assert bucket_floor(sunday_night, DataResolution.HOUR) == datetime(2025, 6, 1, 23, tzinfo=UTC)
    assert bucket_floor(
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC), DataResolution.QUARTER_HOUR
    ) == datetime(1969, 12, 31, 23, 45, tzinfo=UTC)


def _day(day: datetime, covered_s: float, solar_wh=None, charge_wh=None, discharge_wh=None, soc=None) -> tuple:
    """A daily rollup as read from the database: bucket start in epoch seconds and its sums."""
    soc_weighted, soc_covered_s = (soc * covered_s, covered_s) if soc is not None else (None, None)
    sums = Sums(covered_s, solar_wh, None, 0.0, 0.0, charge_wh, discharge_wh, soc_weighted, soc_covered_s)
    return int(day.timestamp()), sums


def test_weeks_and_months_add_up_the_days_before_averaging():
    days = [
        _day(datetime(2025, 6, 29, tzinfo=UTC), 86400, 24_000, charge_wh=3000, discharge_wh=1000, soc=40),
        _day(datetime(2025, 6, 30, tzinfo=UTC), 43200, 6_000, charge_wh=0, discharge_wh=1200, soc=70),
        _day(datetime(2025, 7, 1, tzinfo=UTC), 0),
    ]
    keywords = [
        DataKeyword.SOLAR_PRODUCTION_W,
        DataKeyword.BATTERY_CHARGE_DISCHARGE_POWER_W,
        DataKeyword.HOUSEHOLD_CONSUMPTION_W,
    ]
    weeks = points(days, DataResolution.WEEK, [*keywords, DataKeyword.BATTERY_CHARGE_LEVEL_PERCENT], has_battery=True)
    assert [(p.time.isoformat(), p.solar_production_w) for p in weeks] == [
        ("2025-06-23T00:00:00+00:00", 1000.0),  # Sunday alone: 24 kWh over 24 h
        ("2025-06-30T00:00:00+00:00", 500.0),  # Monday and Tuesday: 6 kWh over the 12 h covered
    ]
    assert weeks[0].battery_charge_discharge_power_w == pytest.approx(-2000 / 24)
    assert weeks[1].battery_charge_discharge_power_w == pytest.approx(100.0)
    assert weeks[1].battery_charge_level_percent == pytest.approx(70.0)
    assert weeks[1].household_consumption_w is None  # never measured

    months = points(days, DataResolution.MONTH, keywords, has_battery=True)
    assert [p.time.isoformat() for p in months] == ["2025-06-01T00:00:00+00:00", "2025-07-01T00:00:00+00:00"]
    assert months[0].solar_production_w == pytest.approx(30_000 * 3600 / 129_600)
    assert months[0].battery_charge_discharge_power_w == pytest.approx((2200 - 3000) * 3600 / 129_600)
    # July's only day has a reading but no covered time: there, but with nothing to say.
    assert (months[1].solar_production_w, months[1].battery_charge_discharge_power_w) == (None, None)

    without_battery = points(days[:1], DataResolution.DAY, keywords, has_battery=False)
    assert without_battery[0].battery_charge_discharge_power_w is None
    assert without_battery[0].solar_production_w == 1000.0
