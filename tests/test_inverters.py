"""Behaviour of the solar-inverter resource against the seed: the original reference page of
`GET .../users/{user_id}/inverters` (field names, order, types, defaults, enum values), read from
the spec directory at test time so that a drift of either side fails here.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from conftest import assert_error, assert_invalid, create_user, each, locates
from solarfleet.inverters.models import Inverter

EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CATALOGUE = "/api/partners/v2.0/catalogue/device-models"


# --- the contract, as written in the spec directory ----------------------------------------


def _spec(name: str) -> str:
    # The contract lives in the shared folder beside the repository (as in CI's clone).
    candidates = [
        os.environ.get("SOLARFLEET_SPEC_DIR"),
        Path(__file__).resolve().parents[2] / "shared" / "spec",
    ]
    for directory in filter(None, candidates):
        path = Path(directory) / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(f"{name} not found in {candidates}; set SOLARFLEET_SPEC_DIR")


SEED = _spec("seed-get-users-inverters.txt")
CONTRACT = _spec("partner-api.md")

# The JSON example of the seed: one inverter, the fields in the contract's order.
SEED_EXAMPLE: dict = json.JSONDecoder().raw_decode(SEED[SEED.index("\n[\n") + 1 :])[0][0]
SEED_FIELDS: list[str] = list(SEED_EXAMPLE)
DETAIL_FIELDS = [*SEED_FIELDS, "actions"]


def _reference() -> dict[str, list[str]]:
    """The seed's field reference below the example: the lines documenting each field."""
    lines = [line.strip() for line in SEED[SEED.index("200 - application/json") :].splitlines() if line.strip()]
    documented: dict[str, list[str]] = {}
    current = None
    for line in lines:
        if line in SEED_EXAMPLE:
            current = line
            documented[current] = []
        elif current is not None:
            documented[current].append(line)
    return documented


REFERENCE = _reference()
TYPE_LINE = re.compile(r"^(enum<string>|string(<[\w-]+>)?|boolean|number|integer|\w+ · object)( \| null)?$")


def _type(name: str) -> str | None:
    lines = REFERENCE.get(name, [])
    return lines[0] if lines and TYPE_LINE.match(lines[0]) else None


def _default(name: str):
    for line in REFERENCE.get(name, []):
        if line.startswith("default:"):
            raw = line.removeprefix("default:")
            return {"false": False, "true": True, '""': ""}.get(raw, raw)
    return None


def _has_default(name: str) -> bool:
    return any(line.startswith("default:") for line in REFERENCE.get(name, []))


def _options(name: str) -> list[str]:
    lines = REFERENCE.get(name, [])
    if "Available options:" not in lines:
        return []
    options = []
    for line in lines[lines.index("Available options:") + 1 :]:
        if not re.fullmatch(r"[\w-]+,?", line):
            break
        options.append(line.rstrip(","))
    return options


def _max_length(name: str) -> int | None:
    for line in REFERENCE.get(name, []):
        if line.startswith("Maximum string length:"):
            return int(line.split(":")[1])
    return None


WRITABLE = re.findall(r"`(\w+)`", re.search(r"Writable inverter fields:(.*?)Everything else", CONTRACT, re.S).group(1))
READ_ONLY = [name for name in DETAIL_FIELDS if name not in WRITABLE]
PRICE_ZONES = _options("price_zone")
STATUS_FIELDS = ["connection_status", "monitoring_status", "steering_status"]
LIFECYCLE_STATES = {"created", "authenticated", "active", "error", "deauthorized"}
BATTERY_POLICIES = ["Optimize self consumption", "Optimize grid balancing", "Export all"]
DEVICE_TYPE = {"short_name": "inverter", "long_name": "Solar Inverter"}


def test_the_contract_was_read():
    """Guards the parsing above: a spec that cannot be read must not make the other tests vacuous."""
    assert len(SEED_FIELDS) == len(set(SEED_FIELDS)) == 60
    assert SEED_FIELDS[:3] == STATUS_FIELDS
    assert SEED_FIELDS[-1] == "action_needed"
    assert _type("created_at") == "string<date-time>"
    assert _default("inverter_forced_mode_since") == "0001-01-01T00:00:00Z"
    assert _default("external_device_id") == ""
    assert _options("connection_status") == ["ok", "warning", "error", "unknown"]
    assert "AT" in PRICE_ZONES
    assert "UK" in PRICE_ZONES
    assert len(PRICE_ZONES) == 21
    assert "battery_policy" in WRITABLE
    assert "building_id" in WRITABLE
    assert "lifecycle_state" in READ_ONLY
    assert "building" in READ_ONLY
    assert "id" in READ_ONLY


# --- helpers --------------------------------------------------------------------------------


def at(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value)


def check_against_seed(inverter: dict) -> None:
    """Field names, order, JSON types, enum values and lengths as the seed documents them."""
    assert list(inverter)[: len(SEED_FIELDS)] == SEED_FIELDS
    for name in SEED_FIELDS:
        value, documented = inverter[name], _type(name)
        if value is None:
            assert documented is None or documented.endswith("| null"), f"{name} is null"
            continue
        kind = (documented or "").removesuffix(" | null")
        if kind == "enum<string>":
            assert value in _options(name), (name, value)
        elif kind == "string<date-time>":
            at(value)
        elif kind == "string<uuid>":
            uuid.UUID(value)
        elif kind == "string":
            assert isinstance(value, str), name
        elif kind == "boolean":
            assert isinstance(value, bool), name
        elif kind in {"number", "integer"} or isinstance(SEED_EXAMPLE[name], int | float):
            assert isinstance(value, int | float), name
            assert not isinstance(value, bool), name
        elif kind.endswith("object"):
            assert isinstance(value, dict), name
        else:
            assert type(value) is type(SEED_EXAMPLE[name]), name
        if (limit := _max_length(name)) is not None:
            assert len(value) <= limit, name
    assert inverter["lifecycle_state"] in LIFECYCLE_STATES
    assert list(inverter["device_model"]) == list(SEED_EXAMPLE["device_model"])
    assert list(inverter["device_model"]["device_type"]) == list(SEED_EXAMPLE["device_model"]["device_type"])
    assert list(inverter["owner"]) == list(SEED_EXAMPLE["owner"])


def base(partner, user_id: str) -> str:
    return f"{partner.base}/users/{user_id}/inverters"


def register(client, partner, user_id: str, **body) -> dict:
    response = client.post(base(partner, user_id), json=body, headers=partner.headers)
    assert response.status_code == 201, response.text
    return response.json()


def detail(client, partner, user_id: str, inverter_id: str, **params) -> dict:
    response = client.get(f"{base(partner, user_id)}/{inverter_id}", params=params, headers=partner.headers)
    assert response.status_code == 200, response.text
    return response.json()


def listed(client, partner, user_id: str, **params) -> list[dict]:
    response = client.get(base(partner, user_id), params=params, headers=partner.headers)
    assert response.status_code == 200, response.text
    return response.json()


def put(client, partner, user_id: str, inverter_id: str, body):
    return client.put(f"{base(partner, user_id)}/{inverter_id}", json=body, headers=partner.headers)


def set_columns(database, inverter_id: str, **values) -> None:
    with database.session() as session:
        session.execute(update(Inverter).where(Inverter.id == uuid.UUID(inverter_id)).values(**values))


@pytest.fixture
def catalogue(client, partner) -> list[dict]:
    response = client.get(CATALOGUE, headers=partner.headers)
    assert response.status_code == 200, response.text
    return response.json()


def model_of(catalogue: list[dict], manufacturer: str) -> dict:
    return next(m for m in catalogue if m["manufacturer"] == manufacturer)


# --- shape of the response ------------------------------------------------------------------


def test_list_has_exactly_the_seeds_fields_in_the_seeds_order(client, partner, user):
    register(client, partner, user["id"])
    [inverter] = listed(client, partner, user["id"])
    assert list(inverter) == SEED_FIELDS
    check_against_seed(inverter)


def test_detail_is_the_list_object_plus_actions_last(client, partner, user):
    created = register(client, partner, user["id"])
    assert list(created) == DETAIL_FIELDS
    got = detail(client, partner, user["id"], created["id"])
    assert list(got) == DETAIL_FIELDS
    assert got == created
    assert got["actions"] == []
    [in_list] = listed(client, partner, user["id"])
    assert {**in_list, "actions": []} == got


def test_a_fresh_registration_has_the_seeds_defaults_and_nothing_invented(client, partner, user):
    inverter = register(client, partner, user["id"])
    check_against_seed(inverter)
    expected_defaults = {name: _default(name) for name in SEED_FIELDS if _has_default(name)}
    # Registered without credentials: the device waits for onboarding.
    expected_defaults["lifecycle_state"] = "created"
    for name, value in expected_defaults.items():
        assert inverter[name] == value, (name, inverter[name], value)
    for name in STATUS_FIELDS:
        assert inverter[name] == "unknown"
    assert inverter["inverter_forced_mode_since"] == "0001-01-01T00:00:00Z"
    assert inverter["external_device_id"] == ""
    assert inverter["battery_policy"] == "Optimize self consumption"
    assert inverter["actual_steering_state"] == "unknown"
    assert inverter["is_authenticated"] is False
    # Everything measured, derived or configured-but-not-given is null: never a placeholder.
    filled = {
        "id",
        "created_at",
        "updated_at",
        "device_model",
        "owner",
        "authorization_url",
        "embeddable_url",
        *STATUS_FIELDS,
        *expected_defaults,
    }
    for name in SEED_FIELDS:
        if name not in filled:
            assert inverter[name] is None, (name, inverter[name])
    uuid.UUID(inverter["id"])
    # The Connect UI pages where the customer connects this very device, signed for it.
    assert inverter["authorization_url"].startswith(f"http://testserver/connect/d/{inverter['id']}/")
    assert inverter["embeddable_url"] == inverter["authorization_url"] + "/embed"
    assert at(inverter["created_at"]) == at(inverter["updated_at"])
    assert abs(at(inverter["created_at"]) - datetime.now(UTC)) < timedelta(minutes=5)


def test_measured_and_derived_values_keep_the_seeds_types(client, partner, user, database):
    """Once monitoring, steering and inference have filled the columns, every field still has its seed type."""
    inverter = register(client, partner, user["id"], battery_capacity_kwh=10, is_battery_connected=True)
    now = datetime.now(UTC).replace(microsecond=0)
    set_columns(
        database,
        inverter["id"],
        lifecycle_state="active",
        is_authenticated=True,
        connection_status="ok",
        monitoring_status="warning",
        steering_status="error",
        current_state_last_updated_at=now,
        last_monitoring_executed_at=now,
        optimization_score=87.5,
        current_mode="charge",
        actual_steering_state="charging",
        is_curtailment_active=True,
        is_inverter_forced_mode_active=True,
        inverter_forced_mode_since=now - timedelta(minutes=5),
        pause_power_until=now + timedelta(hours=1),
        pause_power_confirmed=True,
        current_solar_production_w=3000.0,
        current_power_to_grid_w=500.0,
        household_consumption_w=1200.0,
        battery_charge_discharge_power_w=-1300.0,
        battery_charge_level_percent=55.0,
        production_last_day_kwh=12.5,
        production_last_week_kwh=80.0,
        production_last_month_kwh=310.0,
        production_last_updated_at=now,
        inferred_max_charge_power_w=5000.0,
        inferred_max_discharge_power_w=4800.0,
        inferred_min_battery_soc_percent=10.0,
        inferred_battery_capacity_kwh=9.4,
        inferred_params_updated_at=now,
        has_ev_in_household=True,
        ev_inferred_at=now,
        ev_inference_confidence=0.25,
    )
    [in_list] = listed(client, partner, user["id"])
    got = detail(client, partner, user["id"], inverter["id"])
    assert {**in_list, "actions": []} == got
    check_against_seed(got)
    assert got["optimization_score"] == 87.5
    assert got["solar_surplus_w"] == 1800
    assert got["is_pause_power_active"] is True
    assert at(got["inverter_forced_mode_since"]) == now - timedelta(minutes=5)
    assert at(got["ev_inferred_at"]) == now
    assert (got["connection_status"], got["monitoring_status"], got["steering_status"]) == ("ok", "warning", "error")
    # household = solar + battery − grid, at every instant.
    solar, battery, grid = (
        got["current_solar_production_w"],
        got["battery_charge_discharge_power_w"],
        got["current_power_to_grid_w"],
    )
    assert got["household_consumption_w"] == solar + battery - grid
    nulls = {name for name in SEED_FIELDS if got[name] is None}
    assert nulls <= {
        "deleted_at",
        "lifecycle_error",
        "building",
        "comment",
        "solar_power_rating_kw",
        "max_battery_charge",
        "min_battery_charge",
        "battery_policy_last_updated_at",
        "embeddable_url",
        "authorization_url",
    }, nulls


def test_register_with_an_empty_body_leaves_the_device_model_to_onboarding(client, partner, user):
    inverter = register(client, partner, user["id"])
    assert inverter["device_model"] == {
        "device_type": DEVICE_TYPE,
        "manufacturer": None,
        "model": None,
        "cloud_service_instructions": None,
        "cloud_service_signup_link": None,
        "year": None,
        "cloud_service": None,
    }
    assert inverter["owner"] == {
        "id": user["id"],
        "email": user["email"],
        "first_name": "Anna",
        "last_name": "Gruber",
        "external_id": "crm-1",
    }
    assert inverter["building"] is None


def test_owner_follows_the_user(client, partner, user):
    inverter = register(client, partner, user["id"])
    changed = client.put(
        f"{partner.base}/users/{user['id']}",
        json={"first_name": "Anne", "external_user_id": "crm-9"},
        headers=partner.headers,
    )
    assert changed.status_code == 200
    owner = detail(client, partner, user["id"], inverter["id"])["owner"]
    assert owner["first_name"] == "Anne"
    assert owner["external_id"] == "crm-9"


def test_register_with_a_catalogue_model_fills_device_model_and_needs_gateway(client, partner, user, catalogue):
    assert len(catalogue) >= 9
    each(catalogue, lambda model: _check_registered_model(client, partner, user, model))


def _check_registered_model(client, partner, user, model: dict) -> None:
    inverter = register(client, partner, user["id"], device_model_id=model["id"])
    check_against_seed(inverter)
    assert inverter["device_model"] == {
        "device_type": DEVICE_TYPE,
        "manufacturer": model["manufacturer"],
        "model": model["model"],
        "cloud_service_instructions": model["cloud_service"]["instructions"],
        "cloud_service_signup_link": model["cloud_service"]["signup_link"],
        "year": model["year"],
        "cloud_service": model["cloud_service"]["id"],
    }
    assert inverter["needs_gateway"] is (model["cloud_service"]["access"] == "local_protocol")
    assert detail(client, partner, user["id"], inverter["id"]) == inverter


def test_needs_gateway_for_local_protocols_only(client, partner, user, catalogue):
    fronius = register(client, partner, user["id"], device_model_id=model_of(catalogue, "Fronius")["id"])
    sma = register(client, partner, user["id"], device_model_id=model_of(catalogue, "SMA")["id"])
    solaredge = register(client, partner, user["id"], device_model_id=model_of(catalogue, "SolarEdge")["id"])
    assert fronius["needs_gateway"] is True
    assert sma["needs_gateway"] is True
    assert solaredge["needs_gateway"] is False


@pytest.mark.parametrize("device_model_id", ["6f1c2a3e-0000-4000-8000-000000000000", "not-a-uuid", 42])
def test_register_with_an_unknown_device_model_is_422(client, partner, user, device_model_id):
    assert_invalid(
        client.post(base(partner, user["id"]), json={"device_model_id": device_model_id}, headers=partner.headers),
        "device_model_id",
    )
    assert listed(client, partner, user["id"]) == []


def test_the_device_model_cannot_be_changed_by_put(client, partner, user, catalogue):
    inverter = register(client, partner, user["id"])
    response = put(client, partner, user["id"], inverter["id"], {"device_model_id": model_of(catalogue, "SMA")["id"]})
    assert_invalid(response, "device_model_id")


def test_timestamps_are_utc_with_z(client, partner, user):
    inverter = register(
        client, partner, user["id"], pause_power_until="2031-05-01T12:00:00+02:00", solar_power_rating_kw=8
    )
    for name in ("created_at", "updated_at", "pause_power_until", "information_last_updated_at"):
        assert inverter[name].endswith("Z"), name
    assert at(inverter["pause_power_until"]) == datetime(2031, 5, 1, 10, tzinfo=UTC)
    assert inverter["pause_power_until"].startswith("2031-05-01T10:00:00")
    assert inverter["is_pause_power_active"] is False


# --- buildings ------------------------------------------------------------------------------


def test_register_in_one_of_the_users_buildings(client, partner, user):
    building = client.post(
        f"{partner.base}/users/{user['id']}/buildings", json={"name": "Home"}, headers=partner.headers
    ).json()
    inverter = register(client, partner, user["id"], building_id=building["id"])
    assert inverter["building"] == building["id"]
    cleared = put(client, partner, user["id"], inverter["id"], {"building_id": None})
    assert cleared.status_code == 200
    assert cleared.json()["building"] is None


def test_a_building_of_another_user_deleted_or_unknown_is_422(client, partner, other_partner, user):
    other = create_user(client, partner)
    theirs = client.post(
        f"{partner.base}/users/{other['id']}/buildings", json={"name": "Theirs"}, headers=partner.headers
    ).json()
    foreign_user = create_user(client, other_partner)
    foreign = client.post(
        f"{other_partner.base}/users/{foreign_user['id']}/buildings", json={"name": "F"}, headers=other_partner.headers
    ).json()
    gone = client.post(
        f"{partner.base}/users/{user['id']}/buildings", json={"name": "Gone"}, headers=partner.headers
    ).json()
    assert (
        client.delete(f"{partner.base}/users/{user['id']}/buildings/{gone['id']}", headers=partner.headers).status_code
        == 204
    )
    inverter = register(client, partner, user["id"])
    for building_id in (theirs["id"], foreign["id"], gone["id"], str(uuid.uuid4())):
        refused = client.post(base(partner, user["id"]), json={"building_id": building_id}, headers=partner.headers)
        assert_invalid(refused, "building_id")
        assert_invalid(put(client, partner, user["id"], inverter["id"], {"building_id": building_id}), "building_id")
    assert len(listed(client, partner, user["id"])) == 1
    assert detail(client, partner, user["id"], inverter["id"])["building"] is None


# --- validation of the writable fields ------------------------------------------------------


INVALID = [
    ({"external_device_id": "x" * 256}, "external_device_id"),
    ({"comment": "c" * 301}, "comment"),
    ({"min_battery_charge": -0.5}, "min_battery_charge"),
    ({"min_battery_charge": 100.01}, "min_battery_charge"),
    ({"max_battery_charge": 101}, "max_battery_charge"),
    ({"max_battery_charge": -1}, "max_battery_charge"),
    ({"max_battery_charge": "full"}, "max_battery_charge"),
    ({"solar_power_rating_kw": -0.1}, "solar_power_rating_kw"),
    ({"battery_capacity_kwh": 0}, "battery_capacity_kwh"),
    ({"battery_capacity_kwh": -5}, "battery_capacity_kwh"),
    ({"price_zone": "DE"}, "price_zone"),
    ({"price_zone": "at"}, "price_zone"),
    ({"price_zone": None}, "price_zone"),
    ({"battery_policy": "self_consumption"}, "battery_policy"),
    ({"battery_policy": "optimize self consumption"}, "battery_policy"),
    ({"battery_policy": ""}, "battery_policy"),
    ({"pause_power_until": "2031-01-01T00:00:00"}, "pause_power_until"),
    ({"pause_power_until": "2031-01-01"}, "pause_power_until"),
    ({"pause_power_until": "tomorrow"}, "pause_power_until"),
    ({"is_smart_optimization_active": None}, "is_smart_optimization_active"),
    ({"is_trading_enabled": [True]}, "is_trading_enabled"),
    ({"building_id": "not-a-uuid"}, "building_id"),
    ({"nickname": "roof"}, "nickname"),
]


def test_register_and_put_refuse_invalid_fields_and_change_nothing(client, partner, user):
    inverter = register(client, partner, user["id"], comment="keep", min_battery_charge=10, max_battery_charge=90)

    def check(case) -> None:
        body, field = case
        assert_invalid(client.post(base(partner, user["id"]), json=body, headers=partner.headers), field)
        assert_invalid(put(client, partner, user["id"], inverter["id"], body), field)

    each(INVALID, check)
    assert listed(client, partner, user["id"]) == [{k: v for k, v in inverter.items() if k != "actions"}]
    assert detail(client, partner, user["id"], inverter["id"]) == inverter


@pytest.mark.parametrize(
    ("field", "value"),
    [("external_device_id", "x" * 255), ("comment", "c" * 300), ("solar_power_rating_kw", 0)],
)
def test_longest_and_smallest_allowed_values(client, partner, user, field, value):
    assert register(client, partner, user["id"], **{field: value})[field] == value


def test_every_price_zone_of_the_seed_is_accepted(client, partner, user):
    inverter = register(client, partner, user["id"])

    def check(zone: str) -> None:
        assert register(client, partner, user["id"], price_zone=zone)["price_zone"] == zone
        response = put(client, partner, user["id"], inverter["id"], {"price_zone": zone})
        assert response.status_code == 200, response.text
        assert detail(client, partner, user["id"], inverter["id"])["price_zone"] == zone

    each(PRICE_ZONES, check)


@pytest.mark.parametrize("policy", BATTERY_POLICIES)
def test_every_battery_policy_label_is_accepted(client, partner, user, policy):
    inverter = register(client, partner, user["id"], battery_policy=policy)
    assert inverter["battery_policy"] == policy
    assert inverter["battery_policy_last_updated_at"] is not None


NON_FINITE = [
    '{"min_battery_charge": NaN}',
    '{"max_battery_charge": Infinity}',
    '{"solar_power_rating_kw": -Infinity}',
    '{"battery_capacity_kwh": NaN}',
    '{"solar_power_rating_kw": Infinity}',
    '{"battery_capacity_kwh": Infinity}',
]


def test_nan_and_infinity_are_refused(client, partner, user):
    headers = {**partner.headers, "Content-Type": "application/json"}
    inverter = register(client, partner, user["id"])

    def check(raw: str) -> None:
        field = re.search(r'"(\w+)"', raw).group(1)
        assert_invalid(client.post(base(partner, user["id"]), content=raw, headers=headers), field)
        assert_invalid(client.put(f"{base(partner, user['id'])}/{inverter['id']}", content=raw, headers=headers), field)

    each(NON_FINITE, check)
    assert len(listed(client, partner, user["id"])) == 1
    assert detail(client, partner, user["id"], inverter["id"]) == inverter


PERCENT = st.one_of(st.none(), st.floats(min_value=-50, max_value=150, allow_nan=False))


def _valid_percent(value) -> bool:
    return value is None or 0 <= value <= 100


@EXAMPLES
@given(low=PERCENT, high=PERCENT)
def test_battery_limits_within_0_to_100_and_min_at_most_max(client, partner, user, low, high):
    response = client.post(
        base(partner, user["id"]),
        json={"min_battery_charge": low, "max_battery_charge": high},
        headers=partner.headers,
    )
    valid = _valid_percent(low) and _valid_percent(high) and (low is None or high is None or low <= high)
    if valid:
        assert response.status_code == 201, response.text
        assert response.json()["min_battery_charge"] == low
        assert response.json()["max_battery_charge"] == high
    else:
        detail_ = assert_error(response, 422)
        assert locates(detail_, "min_battery_charge") or locates(detail_, "max_battery_charge"), detail_


@EXAMPLES
@given(high=st.floats(min_value=0, max_value=100), low=st.floats(min_value=0, max_value=100))
def test_min_at_most_max_holds_across_partial_updates(client, partner, user, high, low):
    inverter = register(client, partner, user["id"])
    first = put(client, partner, user["id"], inverter["id"], {"max_battery_charge": high})
    assert first.status_code == 200, first.text
    second = put(client, partner, user["id"], inverter["id"], {"min_battery_charge": low})
    now = detail(client, partner, user["id"], inverter["id"])
    if low <= high:
        assert second.status_code == 200, second.text
        assert (now["min_battery_charge"], now["max_battery_charge"]) == (low, high)
    else:
        assert_invalid(second, "min_battery_charge")
        assert (now["min_battery_charge"], now["max_battery_charge"]) == (None, high)


def test_max_below_an_existing_min_is_refused(client, partner, user):
    inverter = register(client, partner, user["id"])
    assert put(client, partner, user["id"], inverter["id"], {"max_battery_charge": 40}).status_code == 200
    assert_invalid(put(client, partner, user["id"], inverter["id"], {"min_battery_charge": 50}), "min_battery_charge")
    assert put(client, partner, user["id"], inverter["id"], {"min_battery_charge": 40}).status_code == 200
    refused = put(client, partner, user["id"], inverter["id"], {"max_battery_charge": 30})
    detail_ = assert_error(refused, 422)
    assert locates(detail_, "min_battery_charge") or locates(detail_, "max_battery_charge")
    got = detail(client, partner, user["id"], inverter["id"])
    assert (got["min_battery_charge"], got["max_battery_charge"]) == (40, 40)


def test_battery_capacity_is_required_when_a_battery_is_connected(client, partner, user, database):
    url = base(partner, user["id"])
    assert_invalid(
        client.post(url, json={"is_battery_connected": True}, headers=partner.headers), "battery_capacity_kwh"
    )
    refused = client.post(
        url, json={"is_battery_connected": True, "battery_capacity_kwh": None}, headers=partner.headers
    )
    assert_invalid(refused, "battery_capacity_kwh")
    assert listed(client, partner, user["id"]) == []

    with_battery = register(client, partner, user["id"], is_battery_connected=True, battery_capacity_kwh=10)
    assert (with_battery["is_battery_connected"], with_battery["battery_capacity_kwh"]) == (True, 10)
    dropped = put(client, partner, user["id"], with_battery["id"], {"battery_capacity_kwh": None})
    assert_invalid(dropped, "battery_capacity_kwh")
    # Disconnecting the battery and dropping the capacity together is fine.
    both = put(
        client, partner, user["id"], with_battery["id"], {"is_battery_connected": False, "battery_capacity_kwh": None}
    )
    assert both.status_code == 200, both.text

    plain = register(client, partner, user["id"])
    assert_invalid(
        put(client, partner, user["id"], plain["id"], {"is_battery_connected": True}), "battery_capacity_kwh"
    )
    assert detail(client, partner, user["id"], plain["id"])["is_battery_connected"] is False
    # Capacity given before, connection later: the capacity is known.
    assert put(client, partner, user["id"], plain["id"], {"battery_capacity_kwh": 7.5}).status_code == 200
    connected = put(client, partner, user["id"], plain["id"], {"is_battery_connected": True})
    assert connected.status_code == 200, connected.text

    # A capacity solarfleet inferred from the device counts as known.
    inferred = register(client, partner, user["id"])
    set_columns(database, inferred["id"], inferred_battery_capacity_kwh=9.6)
    accepted = put(client, partner, user["id"], inferred["id"], {"is_battery_connected": True})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["inferred_battery_capacity_kwh"] == 9.6


@EXAMPLES
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    offset=st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
)
def test_pause_power_until_is_stored_as_the_same_instant_in_utc(client, partner, user, moment, offset):
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset)))
    inverter = register(client, partner, user["id"])
    response = put(client, partner, user["id"], inverter["id"], {"pause_power_until": aware.isoformat()})
    assert response.status_code == 200, response.text
    assert at(response.json()["pause_power_until"]) == aware
    assert (
        detail(client, partner, user["id"], inverter["id"])["pause_power_until"] == response.json()["pause_power_until"]
    )


@pytest.mark.parametrize("value", ["9999-12-31T23:30:00-05:00", "0001-01-01T00:10:00+01:00"])
def test_pause_power_until_outside_the_utc_range_is_refused(client, partner, user, value):
    inverter = register(client, partner, user["id"])
    assert_invalid(put(client, partner, user["id"], inverter["id"], {"pause_power_until": value}), "pause_power_until")


# --- read-only fields -----------------------------------------------------------------------

ANY_JSON = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10).filter(lambda s: "\x00" not in s),
    st.just("2024-01-01T00:00:00Z"),
    st.just(str(uuid.uuid4())),
)


def test_every_read_only_field_is_refused_by_name(client, partner, user):
    """Each read-only field, sent alone with the seed's example value (or its current value)."""
    inverter = register(client, partner, user["id"])

    def check(field: str) -> None:
        for value in (SEED_EXAMPLE.get(field, []), inverter[field]):
            assert_invalid(client.post(base(partner, user["id"]), json={field: value}, headers=partner.headers), field)
            assert_invalid(put(client, partner, user["id"], inverter["id"], {field: value}), field)

    each(READ_ONLY, check)
    assert detail(client, partner, user["id"], inverter["id"]) == inverter
    assert len(listed(client, partner, user["id"])) == 1


@EXAMPLES
@given(
    read_only=st.dictionaries(st.sampled_from(READ_ONLY), ANY_JSON, min_size=1, max_size=4),
    writable=st.fixed_dictionaries(
        {}, optional={"comment": st.just("ok"), "price_zone": st.just("DE_LU"), "solar_power_rating_kw": st.just(5.0)}
    ),
)
def test_read_only_fields_are_refused_whatever_else_is_sent(client, partner, user, read_only, writable):
    inverter = register(client, partner, user["id"])
    body = {**writable, **read_only}
    for response in (
        client.post(base(partner, user["id"]), json=body, headers=partner.headers),
        put(client, partner, user["id"], inverter["id"], body),
    ):
        problems = assert_error(response, 422)
        for field in read_only:
            assert locates(problems, field), (field, problems)
    assert detail(client, partner, user["id"], inverter["id"]) == inverter


# --- partial updates and the timestamps that follow them ------------------------------------


def test_put_is_partial(client, partner, user):
    inverter = register(
        client,
        partner,
        user["id"],
        comment="roof",
        price_zone="DE_LU",
        solar_power_rating_kw=9.9,
        is_trading_enabled=True,
        external_device_id="SN-1",
    )
    response = put(client, partner, user["id"], inverter["id"], {"comment": "garage"})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["comment"] == "garage"
    for name in ("price_zone", "solar_power_rating_kw", "is_trading_enabled", "external_device_id", "created_at"):
        assert changed[name] == inverter[name], name
    unchanged = {k: v for k, v in changed.items() if k not in {"comment", "updated_at"}}
    assert unchanged == {k: v for k, v in inverter.items() if k not in {"comment", "updated_at"}}
    assert put(client, partner, user["id"], inverter["id"], {}).json() == detail(
        client, partner, user["id"], inverter["id"]
    )


WRITABLE_VALUES = {
    "price_zone": st.sampled_from(PRICE_ZONES),
    "external_device_id": st.text(max_size=255).filter(lambda s: "\x00" not in s),
    "comment": st.one_of(st.none(), st.text(max_size=300).filter(lambda s: "\x00" not in s)),
    "is_smart_optimization_active": st.booleans(),
    "is_inverter_forced_mode_enabled": st.booleans(),
    "is_trading_enabled": st.booleans(),
    "solar_power_rating_kw": st.one_of(st.none(), st.floats(min_value=0, max_value=1000)),
    "user_limits_enabled": st.booleans(),
    "battery_policy": st.sampled_from(BATTERY_POLICIES),
}


@EXAMPLES
@given(changes=st.fixed_dictionaries({}, optional=WRITABLE_VALUES))
def test_put_changes_exactly_the_fields_sent(client, partner, user, changes):
    inverter = register(client, partner, user["id"], comment="x", solar_power_rating_kw=4.2)
    response = put(client, partner, user["id"], inverter["id"], changes)
    assert response.status_code == 200, response.text
    after = response.json()
    for name in SEED_FIELDS:
        if name in changes:
            assert after[name] == changes[name], name
        elif not name.endswith("updated_at"):
            assert after[name] == inverter[name], name


INFORMATION_CHANGES = [
    {"solar_power_rating_kw": 7.5},
    {"battery_capacity_kwh": 12.0},
    {"min_battery_charge": 10},
    {"max_battery_charge": 90},
    {"user_limits_enabled": True},
    {"battery_policy": "Export all"},
    {"is_battery_connected": True},
]
OTHER_CHANGES = [
    {"comment": "moved to the garage"},
    {"price_zone": "DE_LU"},
    {"external_device_id": "SN-77"},
    {"is_smart_optimization_active": True},
    {"is_trading_enabled": True},
    {"is_inverter_forced_mode_enabled": True},
    {"pause_power_until": "2031-01-01T00:00:00Z"},
]


def _before_and_after(client, partner, user, change: dict) -> tuple[dict, dict]:
    inverter = register(client, partner, user["id"], battery_capacity_kwh=5.0)
    before = detail(client, partner, user["id"], inverter["id"])
    time.sleep(0.005)
    response = put(client, partner, user["id"], inverter["id"], change)
    assert response.status_code == 200, response.text
    after = detail(client, partner, user["id"], inverter["id"])
    assert response.json() == after
    return before, after


def test_information_last_updated_at_moves_on_rating_capacity_limits_or_policy(client, partner, user):
    def check(change: dict) -> None:
        before, after = _before_and_after(client, partner, user, change)
        assert at(after["updated_at"]) > at(before["updated_at"])
        assert at(after["information_last_updated_at"]) > at(before["information_last_updated_at"])
        policy_moved = after["battery_policy_last_updated_at"] != before["battery_policy_last_updated_at"]
        assert policy_moved is ("battery_policy" in change)

    each(INFORMATION_CHANGES, check)


def test_other_changes_move_only_updated_at(client, partner, user):
    def check(change: dict) -> None:
        before, after = _before_and_after(client, partner, user, change)
        assert at(after["updated_at"]) > at(before["updated_at"])
        assert after["information_last_updated_at"] == before["information_last_updated_at"]
        assert after["battery_policy_last_updated_at"] == before["battery_policy_last_updated_at"]
        assert after["created_at"] == before["created_at"]

    each(OTHER_CHANGES, check)


def test_battery_policy_last_updated_at(client, partner, user):
    inverter = register(client, partner, user["id"])
    assert inverter["battery_policy_last_updated_at"] is None
    time.sleep(0.005)
    first = put(client, partner, user["id"], inverter["id"], {"battery_policy": "Optimize grid balancing"}).json()
    stamp = at(first["battery_policy_last_updated_at"])
    assert stamp > at(inverter["created_at"])
    # Sending the same policy again, or changing something else, is no change of policy.
    time.sleep(0.005)
    again = put(client, partner, user["id"], inverter["id"], {"battery_policy": "Optimize grid balancing"}).json()
    assert at(again["battery_policy_last_updated_at"]) == stamp
    assert again["information_last_updated_at"] == first["information_last_updated_at"]
    commented = put(client, partner, user["id"], inverter["id"], {"comment": "hello"}).json()
    assert at(commented["battery_policy_last_updated_at"]) == stamp
    time.sleep(0.005)
    back = put(client, partner, user["id"], inverter["id"], {"battery_policy": "Optimize self consumption"}).json()
    assert at(back["battery_policy_last_updated_at"]) > stamp


# --- delete ---------------------------------------------------------------------------------


def test_delete_is_soft_and_the_owner_counts_one_less(client, partner, user):
    keep = register(client, partner, user["id"])
    gone = register(client, partner, user["id"])
    user_url = f"{partner.base}/users/{user['id']}"
    assert client.get(user_url, headers=partner.headers).json()["num_inverters"] == 2

    url = f"{base(partner, user['id'])}/{gone['id']}"
    response = client.delete(url, headers=partner.headers)
    assert response.status_code == 204
    assert response.content == b""

    assert [i["id"] for i in listed(client, partner, user["id"])] == [keep["id"]]
    assert_error(client.get(url, headers=partner.headers), 404)
    assert_error(client.put(url, json={"comment": "x"}, headers=partner.headers), 404)
    assert_error(client.delete(url, headers=partner.headers), 404)
    assert_error(
        client.patch(f"{partner.base}/users/{user['id']}/devices/{gone['id']}", json={}, headers=partner.headers), 404
    )
    assert client.get(user_url, headers=partner.headers).json()["num_inverters"] == 1

    with_deleted = listed(client, partner, user["id"], include_deleted="true")
    assert [i["id"] for i in with_deleted] == [keep["id"], gone["id"]]
    assert with_deleted[0]["deleted_at"] is None
    assert at(with_deleted[1]["deleted_at"])
    found = detail(client, partner, user["id"], gone["id"], include_deleted="true")
    assert found["deleted_at"] == with_deleted[1]["deleted_at"]
    check_against_seed(found)


# --- generic device flags -------------------------------------------------------------------


def flags(client, partner, user_id: str, device_id: str, body):
    return client.patch(f"{partner.base}/users/{user_id}/devices/{device_id}", json=body, headers=partner.headers)


def test_patch_sets_the_generic_flags(client, partner, user, database):
    inverter = register(client, partner, user["id"])
    body = {
        "is_smart_optimization_active": True,
        "is_inverter_forced_mode_enabled": True,
        "is_forecasting_enabled": False,
        "comment": "flags",
    }
    response = flags(client, partner, user["id"], inverter["id"], body)
    assert response.status_code == 200, response.text
    got = detail(client, partner, user["id"], inverter["id"])
    assert got["is_smart_optimization_active"] is True
    assert got["is_inverter_forced_mode_enabled"] is True
    assert got["comment"] == "flags"
    assert at(got["updated_at"]) > at(inverter["updated_at"])
    with database.session() as session:
        assert session.get(Inverter, uuid.UUID(inverter["id"])).is_forecasting_enabled is False
    # Partial: an empty PATCH changes nothing; one flag leaves the others.
    assert flags(client, partner, user["id"], inverter["id"], {}).status_code == 200
    off = flags(client, partner, user["id"], inverter["id"], {"is_smart_optimization_active": False}).json()
    assert off["is_smart_optimization_active"] is False
    assert off["is_inverter_forced_mode_enabled"] is True
    assert off["comment"] == "flags"


def test_patch_cannot_claim_authentication(client, partner, user):
    inverter = register(client, partner, user["id"])
    assert_invalid(flags(client, partner, user["id"], inverter["id"], {"is_authenticated": True}), "is_authenticated")
    assert detail(client, partner, user["id"], inverter["id"])["is_authenticated"] is False


def test_patch_is_authenticated_false_asks_for_reauthentication(client, partner, user, database):
    inverter = register(client, partner, user["id"])
    set_columns(database, inverter["id"], is_authenticated=True, lifecycle_state="active")
    response = flags(client, partner, user["id"], inverter["id"], {"is_authenticated": False})
    assert response.status_code == 200, response.text
    got = detail(client, partner, user["id"], inverter["id"])
    assert got["is_authenticated"] is False
    assert got["action_needed"] is True
    assert [a["action"] for a in got["actions"]] == ["reauthenticate"]
    assert got["actions"][0]["created_at"].endswith("Z")
    assert listed(client, partner, user["id"])[0]["action_needed"] is True


INVALID_FLAGS = [
    ({"comment": "c" * 301}, "comment"),
    ({"is_smart_optimization_active": None}, "is_smart_optimization_active"),
    ({"is_smart_optimization_active": "sometimes"}, "is_smart_optimization_active"),
    ({"is_forecasting_enabled": None}, "is_forecasting_enabled"),
    ({"is_inverter_forced_mode_enabled": None}, "is_inverter_forced_mode_enabled"),
    ({"lifecycle_state": "active"}, "lifecycle_state"),
    ({"price_zone": "AT"}, "price_zone"),
]


def test_patch_refuses_invalid_flags(client, partner, user):
    inverter = register(client, partner, user["id"])
    each(
        INVALID_FLAGS, lambda case: assert_invalid(flags(client, partner, user["id"], inverter["id"], case[0]), case[1])
    )
    assert detail(client, partner, user["id"], inverter["id"]) == inverter


# --- tenancy and authentication -------------------------------------------------------------


def _calls(partner, user_id: str, inverter_id: str) -> list[tuple[str, str, dict | None]]:
    url = base(partner, user_id)
    return [
        ("GET", url, None),
        ("POST", url, {}),
        ("GET", f"{url}/{inverter_id}", None),
        ("PUT", f"{url}/{inverter_id}", {"comment": "x"}),
        ("DELETE", f"{url}/{inverter_id}", None),
        ("PATCH", f"{partner.base}/users/{user_id}/devices/{inverter_id}", {"comment": "x"}),
    ]


def test_a_token_of_another_organisation_gets_403(client, partner, other_partner, user):
    inverter = register(client, partner, user["id"])
    for method, url, body in _calls(partner, user["id"], inverter["id"]):
        assert_error(client.request(method, url, json=body, headers=other_partner.headers), 403)
    assert detail(client, partner, user["id"], inverter["id"]) == inverter


def test_another_users_inverter_is_404(client, partner, user):
    other = create_user(client, partner)
    theirs = register(client, partner, other["id"])
    for method, url, body in _calls(partner, user["id"], theirs["id"])[2:]:
        assert_error(client.request(method, url, json=body, headers=partner.headers), 404)
    assert detail(client, partner, other["id"], theirs["id"]) == theirs


def test_another_organisations_inverter_or_user_is_404(client, partner, other_partner, user):
    foreign_user = create_user(client, other_partner)
    foreign = register(client, other_partner, foreign_user["id"])
    for method, url, body in _calls(partner, user["id"], foreign["id"])[2:]:
        assert_error(client.request(method, url, json=body, headers=partner.headers), 404)
    for method, url, body in _calls(partner, foreign_user["id"], foreign["id"]):
        assert_error(client.request(method, url, json=body, headers=partner.headers), 404)
    assert detail(client, other_partner, foreign_user["id"], foreign["id"]) == foreign


def test_unknown_or_deleted_user_is_404(client, partner, user):
    for method, url, body in _calls(partner, str(uuid.uuid4()), str(uuid.uuid4())):
        assert_error(client.request(method, url, json=body, headers=partner.headers), 404)
    assert client.delete(f"{partner.base}/users/{user['id']}", headers=partner.headers).status_code == 204
    assert_error(client.post(base(partner, user["id"]), json={}, headers=partner.headers), 404)
    assert_error(client.get(base(partner, user["id"]), headers=partner.headers), 404)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer garbage"}, {"Authorization": "Bearer "}, {"Authorization": "Token abc"}],
    ids=["none", "garbage", "empty", "other-scheme"],
)
def test_every_endpoint_needs_a_valid_token(client, partner, user, headers):
    inverter = register(client, partner, user["id"])
    for method, url, body in _calls(partner, user["id"], inverter["id"]):
        response = client.request(method, url, json=body, headers=headers)
        assert_error(response, 401)
        assert response.headers.get("www-authenticate", "").startswith("Bearer")
    assert detail(client, partner, user["id"], inverter["id"]) == inverter


def test_malformed_ids_are_422(client, partner, user):
    assert_error(client.get(f"{partner.base}/users/nope/inverters", headers=partner.headers), 422)
    assert_error(client.get(f"{base(partner, user['id'])}/nope", headers=partner.headers), 422)
