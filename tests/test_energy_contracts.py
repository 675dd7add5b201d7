"""Energy contracts: `POST|GET /org/{org}/users/{user}/energy-contracts` as the partner API defines them."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_error, assert_invalid, create_user, each, locates

EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CONTRACT_FIELDS = [
    "id",
    "user_id",
    "created_at",
    "energy_contract_type",
    "energy_prices",
    "building_id",
    "meter_id",
    "supplier",
    "currency_energy_price",
    "energy_price_includes_external_components",
    "feed_in_tariff",
]
MONTHLY = {
    "energy_contract_type": "monthly",
    "energy_prices": [{"price": 0.2495, "timestamp": "2026-01-01T00:00:00Z"}],
}


def url(partner, user_id: str) -> str:
    return f"{partner.base}/users/{user_id}/energy-contracts"


def post(client, partner, user_id: str, body: dict):
    return client.post(url(partner, user_id), json=body, headers=partner.headers)


def create(client, partner, user_id: str, **body) -> dict:
    response = post(client, partner, user_id, {**MONTHLY, **body})
    assert response.status_code == 201, response.text
    return response.json()


def listed(client, partner, user_id: str) -> list[dict]:
    response = client.get(url(partner, user_id), headers=partner.headers)
    assert response.status_code == 200, response.text
    return response.json()


def building(client, partner, user_id: str) -> str:
    response = client.post(f"{partner.base}/users/{user_id}/buildings", json={"name": "Home"}, headers=partner.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


# --- create and list ------------------------------------------------------------------------------


def test_a_pure_spot_contract_needs_only_its_type_and_gets_the_defaults(client, partner, user):
    response = post(client, partner, user["id"], {"energy_contract_type": "spot_hourly"})
    assert response.status_code == 201, response.text
    contract = response.json()
    assert list(contract) == CONTRACT_FIELDS
    uuid.UUID(contract["id"])
    assert contract["user_id"] == user["id"]
    assert contract["created_at"].endswith("Z")
    assert contract["energy_prices"] == []
    assert contract["building_id"] is None
    assert contract["meter_id"] is None
    assert contract["supplier"] is None
    assert contract["currency_energy_price"] == "EUR"
    assert contract["energy_price_includes_external_components"] is False
    assert contract["feed_in_tariff"] is None


def test_every_field_is_stored_and_read_back(client, partner, user):
    home = building(client, partner, user["id"])
    body = {
        "energy_contract_type": "yearly",
        "energy_prices": [
            {"price": 0.301, "timestamp": "2027-01-01T00:00:00+01:00"},
            {"price": 0.1, "timestamp": "2026-01-01T00:00:00Z"},
            {"price": 1.1, "timestamp": "2026-07-01T00:00:00Z"},
        ],
        "building_id": home,
        "meter_id": "AT0010000000000001X",
        "supplier": "Stadtwerke Graz",
        "currency_energy_price": "eur",
        "energy_price_includes_external_components": True,
        "feed_in_tariff": 0.075,
    }
    created = create(client, partner, user["id"], **body)
    # Sorted by time, UTC, prices exactly as sent.
    assert created["energy_prices"] == [
        {"price": 0.1, "timestamp": "2026-01-01T00:00:00Z"},
        {"price": 1.1, "timestamp": "2026-07-01T00:00:00Z"},
        {"price": 0.301, "timestamp": "2026-12-31T23:00:00Z"},
    ]
    assert created["currency_energy_price"] == "EUR"
    for name in ("energy_contract_type", "building_id", "meter_id", "supplier", "feed_in_tariff"):
        assert created[name] == body[name], name
    assert created["energy_price_includes_external_components"] is True
    assert listed(client, partner, user["id"]) == [created]


@EXAMPLES
@given(
    prices=st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=5),
    feed_in=st.none() | st.floats(-10, 10, allow_nan=False),
)
def test_prices_per_kwh_come_back_as_sent_to_nine_decimals(client, partner, user, prices, feed_in):
    entries = [{"price": p, "timestamp": f"2026-01-{i + 1:02d}T00:00:00Z"} for i, p in enumerate(prices)]
    created = create(client, partner, user["id"], energy_prices=entries, feed_in_tariff=feed_in)
    assert [e["price"] for e in created["energy_prices"]] == [round(p, 9) for p in prices]
    assert created["feed_in_tariff"] == (None if feed_in is None else round(feed_in, 9))


def test_the_list_holds_the_users_contracts_oldest_first(client, partner, user):
    other = create_user(client, partner)
    first = create(client, partner, user["id"])
    second = create(client, partner, user["id"], energy_contract_type="spot_hourly", energy_prices=[])
    create(client, partner, other["id"])
    assert [c["id"] for c in listed(client, partner, user["id"])] == [first["id"], second["id"]]
    assert listed(client, partner, create_user(client, partner)["id"]) == []


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "energy_contract_type"),
        ({"energy_contract_type": "weekly"}, "energy_contract_type"),
        ({"energy_contract_type": None}, "energy_contract_type"),
        ({"energy_contract_type": "monthly"}, "energy_prices"),
        ({"energy_contract_type": "yearly", "energy_prices": []}, "energy_prices"),
        ({**MONTHLY, "energy_prices": None}, "energy_prices"),
        ({**MONTHLY, "energy_prices": [{"price": 0.2}]}, "timestamp"),
        ({**MONTHLY, "energy_prices": [{"timestamp": "2026-01-01T00:00:00Z"}]}, "price"),
        ({**MONTHLY, "energy_prices": [{"price": 0.2, "timestamp": "2026-01-01T00:00:00"}]}, "timestamp"),
        ({**MONTHLY, "energy_prices": [{"price": 0.2, "timestamp": "yesterday"}]}, "timestamp"),
        ({**MONTHLY, "energy_prices": [{"price": 249.5, "timestamp": "2026-01-01T00:00:00Z"}]}, "price"),
        ({**MONTHLY, "energy_prices": [{"price": "0.2", "timestamp": "2026-01-01T00:00:00Z"}]}, "price"),
        ({**MONTHLY, "energy_prices": [{"price": True, "timestamp": "2026-01-01T00:00:00Z"}]}, "price"),
        (
            {**MONTHLY, "energy_prices": [{"price": 0.2, "timestamp": "2026-01-01T00:00:00Z", "unit": "kWh"}]},
            "unit",
        ),
        ({**MONTHLY, "meter_id": "X" * 20}, "meter_id"),
        ({**MONTHLY, "supplier": "S" * 101}, "supplier"),
        ({**MONTHLY, "currency_energy_price": "USD"}, "currency_energy_price"),
        ({**MONTHLY, "currency_energy_price": "XYZ"}, "currency_energy_price"),
        ({**MONTHLY, "currency_energy_price": "EURO"}, "currency_energy_price"),
        ({**MONTHLY, "currency_energy_price": None}, "currency_energy_price"),
        (
            {**MONTHLY, "energy_price_includes_external_components": "maybe"},
            "energy_price_includes_external_components",
        ),
        ({**MONTHLY, "feed_in_tariff": 80.0}, "feed_in_tariff"),
        ({**MONTHLY, "feed_in_tariff": -10.5}, "feed_in_tariff"),
        ({**MONTHLY, "building_id": "not-a-uuid"}, "building_id"),
        ({**MONTHLY, "price_zone": "AT"}, "price_zone"),
    ],
)
def test_invalid_bodies_are_422_at_the_field(client, partner, user, body, field):
    assert_invalid(post(client, partner, user["id"], body), field)
    assert listed(client, partner, user["id"]) == []


def test_reasons_say_what_is_wrong(client, partner, user):
    def reason(body) -> str:
        return assert_error(post(client, partner, user["id"], body), 422)[0]["msg"]

    assert "only EUR" in reason({**MONTHLY, "currency_energy_price": "CHF"})
    assert "ISO 4217" in reason({**MONTHLY, "currency_energy_price": "ABC"})
    assert "at least one price" in reason({"energy_contract_type": "monthly"})
    twice = [{"price": 0.2, "timestamp": "2026-01-01T01:00:00+01:00"}, {"price": 0.3, "timestamp": "2026-01-01T00:00Z"}]
    assert "same timestamp" in reason({**MONTHLY, "energy_prices": twice})


def test_at_most_1000_prices(client, partner, user):
    entries = [{"price": 0.2, "timestamp": f"{2000 + i // 12}-{i % 12 + 1:02d}-01T00:00:00Z"} for i in range(1001)]
    assert_invalid(post(client, partner, user["id"], {**MONTHLY, "energy_prices": entries}), "energy_prices")
    assert post(client, partner, user["id"], {**MONTHLY, "energy_prices": entries[:1000]}).status_code == 201


def test_text_limits_are_inclusive(client, partner, user):
    created = create(client, partner, user["id"], meter_id="M" * 19, supplier="S" * 100)
    assert (created["meter_id"], created["supplier"]) == ("M" * 19, "S" * 100)


def test_nul_characters_are_refused(client, partner, user):
    assert_error(post(client, partner, user["id"], {**MONTHLY, "supplier": "a\x00b"}), 422)


# --- ownership and tenancy ------------------------------------------------------------------------


def test_the_building_must_be_a_live_building_of_the_user(client, partner, other_partner, user):
    own = building(client, partner, user["id"])
    assert create(client, partner, user["id"], building_id=own)["building_id"] == own
    someone_else = create_user(client, partner)
    foreign_org_user = create_user(client, other_partner)
    deleted = building(client, partner, user["id"])
    gone = client.delete(f"{partner.base}/users/{user['id']}/buildings/{deleted}", headers=partner.headers)
    assert gone.status_code == 204
    cases = {
        "another user's": building(client, partner, someone_else["id"]),
        "another organisation's": building(client, other_partner, foreign_org_user["id"]),
        "deleted": deleted,
        "unknown": str(uuid.uuid4()),
    }

    def check(case):
        detail = assert_error(post(client, partner, user["id"], {**MONTHLY, "building_id": cases[case]}), 422)
        assert locates(detail, "building_id"), detail
        assert "no building" in detail[0]["msg"]
        assert cases[case] not in str(detail)

    each(cases, check)


def test_unknown_foreign_and_deleted_users_are_404(client, partner, other_partner, user):
    foreign = create_user(client, other_partner)
    deleted = create_user(client, partner)
    assert client.delete(f"{partner.base}/users/{deleted['id']}", headers=partner.headers).status_code == 204
    for user_id in (str(uuid.uuid4()), foreign["id"], deleted["id"]):
        assert assert_error(post(client, partner, user_id, MONTHLY), 404) == "user not found"
        assert assert_error(client.get(url(partner, user_id), headers=partner.headers), 404) == "user not found"
    assert listed(client, other_partner, foreign["id"]) == []


def test_another_organisations_path_is_403_and_no_token_401(client, partner, other_partner, user):
    assert_error(client.post(url(partner, user["id"]), json=MONTHLY, headers=other_partner.headers), 403)
    assert_error(client.get(url(partner, user["id"]), headers=other_partner.headers), 403)
    assert_error(client.post(url(partner, user["id"]), json=MONTHLY), 401)
    assert_error(client.get(url(partner, user["id"])), 401)
    assert listed(client, partner, user["id"]) == []


def test_a_malformed_user_id_is_422(client, partner):
    assert_invalid(client.get(url(partner, "not-a-uuid"), headers=partner.headers), "user_id")


def test_every_field_is_described_in_the_document(client):
    document = client.get("/api/partners/v2.0/openapi.json").json()
    schemas = document["components"]["schemas"]
    for name in ("EnergyContractCreate", "EnergyContractOut", "EnergyPrice"):
        undescribed = [field for field, spec in schemas[name]["properties"].items() if "description" not in spec]
        assert undescribed == [], name
    out = schemas["EnergyContractOut"]["properties"]
    assert "per kWh" in out["energy_prices"]["description"]
    assert "surcharge" in out["energy_prices"]["description"]
    assert "only EUR" in schemas["EnergyContractCreate"]["properties"]["currency_energy_price"]["description"]
