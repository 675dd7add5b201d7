"""Day-ahead trading: `GET /org/{org}/trading/dayahead/load-curves` and
`POST /org/{org}/trading/dayahead/load-curve-confirmation`.

Homes are planned by the real planner (HiGHS) against stored prices, with a short household history
for the load forecast and the PV rating for the PV forecast; the API's clock is set per test.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import select, update

from conftest import assert_error, assert_invalid
from solarfleet.inverters.models import Inverter
from solarfleet.monitoring.models import ReadingRollup
from solarfleet.optimization.models import PlanRun, PlanSlot
from solarfleet.optimization.service import PlanningService, planning_devices
from solarfleet.prices.models import ZonePrice
from solarfleet.prices.zones import local_day_bounds
from solarfleet.trading.models import DayAheadTrade

VIENNA = ZoneInfo("Europe/Vienna")
# A Tuesday morning in Vienna; the delivery day is the Wednesday, a regular day of 96 quarter hours.
NOW = datetime(2027, 4, 13, 8, tzinfo=UTC)
DAY = date(2027, 4, 14)
# The clocks go forward in the night to 2027-03-28 (92 quarter hours) and back on 2027-10-31 (100).
DST_DAYS = [(date(2027, 3, 28), 92), (date(2027, 10, 31), 100)]
CHEAP, EVENING, DAYTIME = 20.0, 300.0, 100.0
STEP_H = 0.25


def arbitrage_price(start: datetime) -> float:
    """Cheap nights (00–05 local), dear evenings (17–21), middling otherwise: EUR/MWh."""
    hour = start.astimezone(VIENNA).hour
    return CHEAP if hour < 5 else EVENING if 17 <= hour < 21 else DAYTIME


@pytest.fixture
def clock(monkeypatch):
    """The trading API's idea of now, settable per test."""
    current = {"now": NOW}
    monkeypatch.setattr("solarfleet.trading.api.utcnow", lambda: current["now"])
    return current


def store_prices(database, now: datetime, source: str = "synthetic", price=arbitrage_price) -> None:
    """Zone prices from a day before `now` to three days after it, quarter-hourly."""
    first = datetime.fromtimestamp(int(now.timestamp()) // 900 * 900, UTC) - timedelta(days=1)
    with database.session() as session:
        session.execute(
            ZonePrice.__table__.delete().where(ZonePrice.zone == "AT", ZonePrice.start_s >= int(first.timestamp()))
        )
        session.add_all(
            ZonePrice(
                zone="AT",
                start_s=int((first + timedelta(minutes=15 * step)).timestamp()),
                resolution_s=900,
                price_eur_mwh=price(first + timedelta(minutes=15 * step)),
                source=source,
            )
            for step in range(4 * 96)
        )


def add_inverter(client, database, partner, user, now: datetime, battery_kwh: float | None = 10.0, **fields) -> str:
    """A trading, smart-optimised inverter with two days of household history before `now`; with a
    battery whose limits planning knows (configured capacity, inferred power), half full."""
    body = {
        "price_zone": "AT",
        "solar_power_rating_kw": 5.0,
        "is_smart_optimization_active": True,
        "is_trading_enabled": True,
        "is_inverter_forced_mode_enabled": True,
        "battery_policy": "Optimize grid balancing",
        "is_battery_connected": battery_kwh is not None,
        **({"battery_capacity_kwh": battery_kwh} if battery_kwh is not None else {}),
        **fields,
    }
    response = client.post(f"{partner.base}/users/{user['id']}/inverters", json=body, headers=partner.headers)
    assert response.status_code == 201, response.text
    inverter_id = uuid.UUID(response.json()["id"])
    first_s = int(now.timestamp()) // 900 * 900 - 2 * 86_400
    with database.session() as session:
        session.execute(
            update(Inverter)
            .where(Inverter.id == inverter_id)
            .values(
                inferred_max_charge_power_w=3000.0 if battery_kwh else None,
                inferred_max_discharge_power_w=3000.0 if battery_kwh else None,
                battery_charge_level_percent=50.0 if battery_kwh else None,
            )
        )
        session.add_all(
            ReadingRollup(
                inverter_id=inverter_id,
                resolution="15MIN",
                bucket_s=first_s + 900 * step,
                samples=15,
                covered_s=900.0,
                household_wh=household_wh(first_s + 900 * step),
            )
            for step in range(2 * 96)
        )
    return str(inverter_id)


def household_wh(bucket_s: int) -> float:
    """400 W by day, 1.2 kW in the evening, 250 W at night, per quarter hour."""
    hour = datetime.fromtimestamp(bucket_s, UTC).astimezone(VIENNA).hour
    return (1200.0 if 17 <= hour < 22 else 250.0 if hour < 6 else 400.0) * STEP_H


def plan(database, now: datetime) -> None:
    with database.session() as session:
        # AT's prices are the only ones stored: devices of other zones stay unplanned.
        ids = session.scalars(select(Inverter.id).where(Inverter.price_zone == "AT")).all()
        result = PlanningService().plan(session, planning_devices(session, ids, {}), now, "test")
    assert not result.skipped, [outcome.skipped for outcome in result.skipped]


def curves(client, partner, day: date = DAY, **params):
    return client.get(
        f"{partner.base}/trading/dayahead/load-curves",
        params={"date": str(day), **params},
        headers=partner.headers,
    )


def confirm(client, partner, trade_id, accepted: bool):
    return client.post(
        f"{partner.base}/trading/dayahead/load-curve-confirmation",
        json={"trade_id": str(trade_id), "accepted": accepted},
        headers=partner.headers,
    )


def day_slots(database, day: date = DAY) -> dict[uuid.UUID, list[PlanSlot]]:
    start, end = local_day_bounds("AT", day)
    with database.session(write=False) as session:
        rows = session.scalars(
            select(PlanSlot)
            .where(PlanSlot.start_s >= int(start.timestamp()), PlanSlot.start_s < int(end.timestamp()))
            .order_by(PlanSlot.inverter_id, PlanSlot.start_s)
        ).all()
    slots: dict[uuid.UUID, list[PlanSlot]] = {}
    for slot in rows:
        slots.setdefault(slot.inverter_id, []).append(slot)
    return slots


def site_balance_wh(members: list[list[PlanSlot]]) -> np.ndarray:
    """Net grid consumption per quarter hour from a site's slots: load − PV − battery (discharge +)."""
    load = np.array([slot.expected_load_w for slot in members[0]])
    pv = sum(np.array([slot.expected_solar_w for slot in slots]) for slots in members)
    battery = sum(np.array([slot.battery_power_w or 0.0 for slot in slots]) for slots in members)
    return (load - pv - battery) * STEP_H


def energies(body: dict, curve: str) -> np.ndarray:
    return np.array([point["energy_wh"] for point in body["curves"][curve]], dtype=float)


@pytest.fixture
def home(client, database, partner, user, clock) -> str:
    """One planned battery home trading in AT."""
    store_prices(database, NOW)
    inverter_id = add_inverter(client, database, partner, user, NOW)
    plan(database, NOW)
    return inverter_id


# -- the curves ------------------------------------------------------------------------------------


def test_a_battery_home_under_arbitrage_gets_two_conserving_curves_and_a_proposed_trade(
    client, database, partner, home
) -> None:
    response = curves(client, partner)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "proposed"
    assert uuid.UUID(body["trade_id"])
    assert body["date"] == "2027-04-14"
    assert body["price_zone"] == "AT"
    assert (body["device_count"], body["site_count"], body["excluded_devices"]) == (1, 1, [])
    assert body["price_sources"] == ["synthetic"]
    assert body["note"] is None
    assert body["decided_at"] is None
    # One point per quarter hour of the local day, from local midnight (22:00 UTC in summer time).
    for name in ("optimized", "unoptimized"):
        stamps = [point["timestamp"] for point in body["curves"][name]]
        assert len(stamps) == 96
        assert stamps[0] == "2027-04-13T22:00:00Z"
        assert stamps[-1] == "2027-04-14T21:45:00Z"

    optimized, unoptimized = energies(body, "optimized"), energies(body, "unoptimized")
    slots = day_slots(database)[uuid.UUID(home)]
    # The optimised curve is the plan's site meter, and the meter balances the house: load − PV − battery.
    assert optimized == pytest.approx(site_balance_wh([slots]), abs=1.0)
    # Without steering nothing is charged from the grid: no more is taken than the house needs.
    baseline_need = np.array(
        [(slot.expected_load_w - slot.expected_solar_w - slot.curtail_w) * STEP_H for slot in slots]
    )
    assert (unoptimized <= np.maximum(baseline_need, 0.0) + 1.0).all()
    # Arbitrage: the plan buys in the cheap night and sells or saves in the dear evening.
    prices = np.array([arbitrage_price(datetime.fromisoformat(p["timestamp"])) for p in body["curves"]["optimized"]])
    night, evening = prices == CHEAP, prices == EVENING
    assert optimized[night].sum() > unoptimized[night].sum() + 1000
    assert optimized[evening].sum() < unoptimized[evening].sum() - 1000
    assert (optimized * prices).sum() < (unoptimized * prices).sum()

    with database.session(write=False) as session:
        trade = session.get(DayAheadTrade, uuid.UUID(body["trade_id"]))
    assert trade.status == "proposed"
    assert trade.inverter_ids == [home]
    assert trade.curves["optimized_wh"] == [point["energy_wh"] for point in body["curves"]["optimized"]]


def test_a_home_without_battery_has_the_same_curves_both_ways(client, database, partner, user, clock) -> None:
    store_prices(database, NOW)
    inverter_id = add_inverter(client, database, partner, user, NOW, battery_kwh=None)
    plan(database, NOW)
    body = curves(client, partner).json()
    slots = day_slots(database)[uuid.UUID(inverter_id)]
    available = np.array([(slot.expected_load_w - slot.expected_solar_w - slot.curtail_w) * STEP_H for slot in slots])
    # Energy is conserved: without a battery the baseline meter is the house's load less all its PV.
    assert energies(body, "unoptimized") == pytest.approx(available, abs=0.5)
    assert energies(body, "optimized") == pytest.approx(site_balance_wh([slots]), abs=1.0)


@pytest.mark.parametrize(("day", "count"), DST_DAYS)
def test_the_days_the_clocks_change_have_92_and_100_quarter_hours(client, database, partner, user, clock, day, count):
    now = datetime.combine(day - timedelta(days=1), datetime.min.time(), VIENNA).replace(hour=9).astimezone(UTC)
    clock["now"] = now
    store_prices(database, now)
    add_inverter(client, database, partner, user, now)
    plan(database, now)
    body = curves(client, partner, day).json()
    start, end = local_day_bounds("AT", day)
    for name in ("optimized", "unoptimized"):
        stamps = [datetime.fromisoformat(point["timestamp"]) for point in body["curves"][name]]
        assert len(stamps) == count
        assert stamps[0] == start
        assert stamps[-1] == end - timedelta(minutes=15)
        assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(stamps))
    assert body["device_count"] == 1


def test_a_building_with_two_devices_counts_its_meter_once(client, database, partner, user, clock) -> None:
    store_prices(database, NOW)
    building = client.post(
        f"{partner.base}/users/{user['id']}/buildings", json={"name": "Home"}, headers=partner.headers
    )
    assert building.status_code == 201, building.text
    first = add_inverter(client, database, partner, user, NOW, building_id=building.json()["id"])
    second = add_inverter(client, database, partner, user, NOW, battery_kwh=None, building_id=building.json()["id"])
    plan(database, NOW)

    body = curves(client, partner).json()
    assert (body["device_count"], body["site_count"]) == (2, 1)
    slots = day_slots(database)
    members = [slots[uuid.UUID(first)], slots[uuid.UUID(second)]]
    # Both devices' slots repeat the site meter; the curve takes it once, and it balances the one house.
    assert [s.expected_grid_w for s in members[0]] == [s.expected_grid_w for s in members[1]]
    optimized = energies(body, "optimized")
    assert optimized == pytest.approx(site_balance_wh(members), abs=1.0)
    assert optimized == pytest.approx([-s.expected_grid_w * STEP_H for s in members[0]], abs=0.5)
    with database.session(write=False) as session:
        trade = session.get(DayAheadTrade, uuid.UUID(body["trade_id"]))
    assert sorted(trade.inverter_ids) == sorted([first, second])


def test_devices_that_cannot_be_traded_are_listed_with_the_reason(client, database, partner, user, clock) -> None:
    store_prices(database, NOW)
    traded = add_inverter(client, database, partner, user, NOW)
    not_optimised = add_inverter(client, database, partner, user, NOW, is_smart_optimization_active=False)
    building = client.post(
        f"{partner.base}/users/{user['id']}/buildings", json={"name": "Mixed"}, headers=partner.headers
    )
    shared = add_inverter(client, database, partner, user, NOW, building_id=building.json()["id"])
    neighbour = add_inverter(
        client, database, partner, user, NOW, building_id=building.json()["id"], is_trading_enabled=False
    )
    elsewhere = add_inverter(client, database, partner, user, NOW, price_zone="DE_LU")
    plan(database, NOW)

    body = curves(client, partner).json()
    assert body["device_count"] == 1
    reasons = {row["inverter_id"]: row["reason"] for row in body["excluded_devices"]}
    assert set(reasons) == {not_optimised, shared}  # DE_LU is another zone's curve; the neighbour does not trade
    assert "smart optimisation is off" in reasons[not_optimised]
    assert neighbour in reasons[shared]
    assert "without trading in AT" in reasons[shared]
    with database.session(write=False) as session:
        trade = session.get(DayAheadTrade, uuid.UUID(body["trade_id"]))
    assert trade.inverter_ids == [traded]
    assert elsewhere not in trade.inverter_ids


def test_a_day_without_plans_has_zero_curves_no_trade_and_says_why(client, database, partner, user, clock) -> None:
    inverter_id = add_inverter(client, database, partner, user, NOW)  # no prices: never planned
    response = curves(client, partner)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["trade_id"], body["status"], body["created_at"]) == (None, None, None)
    assert (body["device_count"], body["site_count"], body["price_sources"]) == (0, 0, [])
    assert set(energies(body, "optimized")) == {0.0} == set(energies(body, "unoptimized"))
    assert len(body["curves"]["optimized"]) == 96
    assert "no trade was stored" in body["note"]
    assert body["excluded_devices"] == [{"inverter_id": inverter_id, "reason": body["excluded_devices"][0]["reason"]}]
    assert body["excluded_devices"][0]["reason"].startswith("planned for 0 of the 96 quarter hours")
    with database.session(write=False) as session:
        assert session.scalars(select(DayAheadTrade)).all() == []


def test_the_plans_price_source_is_reported(client, database, partner, user, clock, monkeypatch) -> None:
    monkeypatch.setattr("solarfleet.prices.api.utcnow", lambda: NOW)
    store_prices(database, NOW, source="entsoe")
    uploaded = client.patch(
        f"{partner.base}/trading/dayahead/prices",
        json={"date": str(DAY), "prices": [50.0] * 96},
        headers=partner.headers,
    )
    assert uploaded.status_code == 200, uploaded.text
    add_inverter(client, database, partner, user, NOW)
    plan(database, NOW)
    assert curves(client, partner).json()["price_sources"] == ["partner"]


def test_each_fetch_proposes_anew_and_supersedes_the_earlier_proposal(client, database, partner, home) -> None:
    first = curves(client, partner).json()["trade_id"]
    second = curves(client, partner).json()["trade_id"]
    assert first != second
    with database.session(write=False) as session:
        statuses = {str(t.id): t.status for t in session.scalars(select(DayAheadTrade))}
    assert statuses == {first: "superseded", second: "proposed"}
    assert "superseded" in assert_error(confirm(client, partner, first, True), 409)
    assert confirm(client, partner, second, True).status_code == 200


# -- the decision ----------------------------------------------------------------------------------


def test_accepting_commits_the_day_and_a_replan_keeps_it(client, database, partner, home, clock) -> None:
    body = curves(client, partner).json()
    clock["now"] = NOW + timedelta(minutes=5)
    response = confirm(client, partner, body["trade_id"], True)
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision == {
        "trade_id": body["trade_id"],
        "date": "2027-04-14",
        "price_zone": "AT",
        "status": "accepted",
        "decided_at": "2027-04-13T08:05:00Z",
        "device_count": 1,
        "slot_count": 96,
        "unchanged_devices": [],
    }
    promised = [(s.start_s, s.battery_power_w, s.expected_grid_w) for s in day_slots(database)[uuid.UUID(home)]]
    assert all(s.committed for s in day_slots(database)[uuid.UUID(home)])

    # Prices turn upside down and the planner runs again: the promised day stays as it was.
    store_prices(database, NOW, price=lambda start: 400.0 - arbitrage_price(start))
    plan(database, NOW + timedelta(hours=1))
    kept = day_slots(database)[uuid.UUID(home)]
    assert [(s.start_s, s.battery_power_w, s.expected_grid_w) for s in kept] == promised
    assert all(s.committed for s in kept)

    again = curves(client, partner).json()
    assert (again["trade_id"], again["status"]) == (body["trade_id"], "accepted")
    assert again["decided_at"] == "2027-04-13T08:05:00Z"
    assert again["curves"] == body["curves"]
    assert "accepted" in again["note"]


def test_rejecting_releases_the_day_to_plain_self_consumption(client, database, partner, home) -> None:
    body = curves(client, partner).json()
    response = confirm(client, partner, body["trade_id"], False)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["slot_count"]) == ("rejected", 96)

    slots = day_slots(database)[uuid.UUID(home)]
    assert len(slots) == 96
    assert {s.mode for s in slots} == {"self_consumption"}
    assert all(s.committed and s.curtail_w == 0.0 for s in slots)
    # The released day is the unoptimised curve, and every slot balances the house.
    assert [-s.expected_grid_w * STEP_H for s in slots] == pytest.approx(energies(body, "unoptimized"), abs=0.5)
    assert site_balance_wh([slots]) == pytest.approx([-s.expected_grid_w * STEP_H for s in slots], abs=1e-6)
    # Costs at the slots' prices; a planning run of its own says why.
    for slot in slots:
        grid_w = slot.expected_grid_w
        price = slot.import_price_eur_mwh if grid_w < 0 else slot.export_price_eur_mwh
        assert slot.expected_cost_eur == pytest.approx(-grid_w * price * STEP_H / 1e6, abs=1e-9)
    with database.session(write=False) as session:
        run = session.get(PlanRun, slots[0].plan_run_id)
    assert (run.reason, run.source) == ("trade_rejected", "rule_based")
    assert body["trade_id"] in run.message

    plan(database, NOW + timedelta(hours=1))
    assert [(s.start_s, s.mode, s.battery_power_w) for s in day_slots(database)[uuid.UUID(home)]] == [
        (s.start_s, s.mode, s.battery_power_w) for s in slots
    ]


def test_a_trade_is_decided_once(client, database, partner, home) -> None:
    trade_id = curves(client, partner).json()["trade_id"]
    assert confirm(client, partner, trade_id, True).status_code == 200
    for accepted in (True, False):
        assert "already accepted" in assert_error(confirm(client, partner, trade_id, accepted), 409)


def test_a_day_that_is_over_cannot_be_decided(client, database, partner, home, clock) -> None:
    trade_id = curves(client, partner).json()["trade_id"]
    clock["now"] = NOW + timedelta(days=2)
    assert "over" in assert_error(confirm(client, partner, trade_id, True), 409)


def test_prices_uploaded_after_the_fetch_outdate_the_trade(client, database, partner, home, monkeypatch) -> None:
    trade_id = curves(client, partner).json()["trade_id"]
    monkeypatch.setattr("solarfleet.prices.api.utcnow", lambda: NOW)
    monkeypatch.setattr("solarfleet.prices.store.utcnow", lambda: NOW + timedelta(minutes=1))
    uploaded = client.patch(
        f"{partner.base}/trading/dayahead/prices",
        json={"date": str(DAY), "prices": [50.0] * 96},
        headers=partner.headers,
    )
    assert uploaded.status_code == 200, uploaded.text
    assert "fetch them again" in assert_error(confirm(client, partner, trade_id, True), 409)
    assert curves(client, partner).json()["status"] == "proposed"


def test_another_organisation_neither_reads_the_curves_nor_decides_the_trade(
    client, database, partner, other_partner, home
) -> None:
    trade_id = curves(client, partner).json()["trade_id"]
    foreign = client.get(
        f"{partner.base}/trading/dayahead/load-curves", params={"date": str(DAY)}, headers=other_partner.headers
    )
    assert_error(foreign, 403)
    assert_error(
        client.post(
            f"{partner.base}/trading/dayahead/load-curve-confirmation",
            json={"trade_id": trade_id, "accepted": True},
            headers=other_partner.headers,
        ),
        403,
    )
    assert assert_error(confirm(client, other_partner, trade_id, True), 404) == "trade not found"
    assert_error(confirm(client, partner, uuid.uuid4(), True), 404)
    # Nothing was decided by the attempts.
    assert confirm(client, partner, trade_id, False).status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date": "2027-04-12"}, "date"),  # yesterday in Vienna
        ({"date": "2027-04-21"}, "date"),  # beyond a week
        ({"date": "9999-12-31"}, "date"),
        ({"date": "0001-01-01"}, "date"),
        ({"date": "2027-02-30"}, "date"),
        ({"date": "tomorrow"}, "date"),
        ({}, "date"),
        ({"date": "2027-04-14", "price_zone": "XX"}, "price_zone"),
    ],
)
def test_bad_queries_are_422(client, partner, clock, params, field) -> None:
    response = client.get(f"{partner.base}/trading/dayahead/load-curves", params=params, headers=partner.headers)
    assert_invalid(response, field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"accepted": True}, "trade_id"),
        ({"trade_id": "not-a-uuid", "accepted": True}, "trade_id"),
        ({"trade_id": str(uuid.uuid4())}, "accepted"),
        ({"trade_id": str(uuid.uuid4()), "accepted": "true"}, "accepted"),
        ({"trade_id": str(uuid.uuid4()), "accepted": 1}, "accepted"),
        ({"trade_id": str(uuid.uuid4()), "accepted": None}, "accepted"),
        ({"trade_id": str(uuid.uuid4()), "accepted": True, "price": 1}, "price"),
    ],
)
def test_bad_confirmations_are_422(client, partner, body, field) -> None:
    response = client.post(
        f"{partner.base}/trading/dayahead/load-curve-confirmation", json=body, headers=partner.headers
    )
    assert_invalid(response, field)


def test_today_is_still_a_delivery_day_and_the_sign_is_documented(client, partner, clock) -> None:
    assert curves(client, partner, NOW.astimezone(VIENNA).date()).status_code == 200
    document = client.get("/api/partners/v2.0/openapi.json").json()
    paths = document["paths"]
    operation = paths["/api/partners/v2.0/org/{org_id}/trading/dayahead/load-curves"]["get"]
    assert "positive = the fleet" in operation["description"]
    assert all("description" in parameter for parameter in operation["parameters"])
    confirmation = paths["/api/partners/v2.0/org/{org_id}/trading/dayahead/load-curve-confirmation"]["post"]
    assert "409" in confirmation["responses"]
    schemas = document["components"]["schemas"]
    names = ["LoadCurvesOut", "LoadCurves", "CurvePoint", "ExcludedDevice", "LoadCurveConfirmation"]
    for name in [*names, "TradeDecisionOut", "UnchangedDevice"]:
        assert all("description" in field for field in schemas[name]["properties"].values()), name
