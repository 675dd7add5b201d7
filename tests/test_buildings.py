"""Behaviour of the buildings resource: `/org/{org}/users/{user}/buildings`."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_error, assert_invalid, create_user, each

EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

BUILDING_FIELDS = {
    "id",
    "name",
    "property_type",
    "occupant_type",
    "space_heating",
    "water_heating",
    "property_size_m2",
    "property_age",
    "num_occupants",
    "photovoltaic",
    "street_and_number",
    "street_add_info",
    "zip_code",
    "town",
    "country",
    "latitude",
    "longitude",
    "deleted_at",
}
PROPERTY_TYPES = ["Detached", "Semi-detached", "Bungalow", "Terraced", "End-terrace", "Flat"]
TEXT_LIMITS = {
    "name": 100,
    "occupant_type": 50,
    "space_heating": 50,
    "water_heating": 50,
    "street_and_number": 100,
    "street_add_info": 100,
    "zip_code": 20,
    "town": 100,
}
INTEGER_FIELDS = ["property_size_m2", "property_age", "num_occupants"]
FULL = {
    "name": "Home",
    "property_type": "Semi-detached",
    "occupant_type": "family",
    "space_heating": "heat pump",
    "water_heating": "electric boiler",
    "property_size_m2": 140,
    "property_age": 12,
    "num_occupants": 4,
    "photovoltaic": True,
    "street_and_number": "Hauptplatz 1",
    "street_add_info": "Top 3",
    "zip_code": "8010",
    "town": "Graz",
    "country": "AT",
    "latitude": 47.07,
    "longitude": 15.44,
}


def url(partner, user_id: str, building_id: str | None = None) -> str:
    base = f"{partner.base}/users/{user_id}/buildings"
    return base if building_id is None else f"{base}/{building_id}"


def create(client, partner, user_id: str, **body) -> dict:
    response = client.post(url(partner, user_id), json={"name": "Home", **body}, headers=partner.headers)
    assert response.status_code == 201, response.text
    return response.json()


def listed(client, partner, user_id: str, **params) -> list[dict]:
    response = client.get(url(partner, user_id), params=params, headers=partner.headers)
    assert response.status_code == 200, response.text
    return response.json()


# --- create and read ------------------------------------------------------------------------


def test_create_with_name_only(client, partner, user):
    response = client.post(url(partner, user["id"]), json={"name": "Home"}, headers=partner.headers)
    assert response.status_code == 201, response.text
    building = response.json()
    assert set(building) == BUILDING_FIELDS
    uuid.UUID(building["id"])
    assert building["name"] == "Home"
    assert all(value is None for name, value in building.items() if name not in {"id", "name"})


def test_create_with_every_field_and_read_it_back(client, partner, user):
    response = client.post(url(partner, user["id"]), json={**FULL, "country": "at"}, headers=partner.headers)
    assert response.status_code == 201, response.text
    building = response.json()
    assert {name: building[name] for name in FULL} == FULL
    fetched = client.get(url(partner, user["id"], building["id"]), headers=partner.headers)
    assert fetched.status_code == 200
    assert fetched.json() == building
    assert listed(client, partner, user["id"]) == [building]


def test_list_is_in_creation_order_and_only_the_users_buildings(client, partner, user):
    other = create_user(client, partner)
    created = [create(client, partner, user["id"], name=f"b{i}") for i in range(3)]
    create(client, partner, other["id"])
    assert listed(client, partner, user["id"]) == created
    assert len(listed(client, partner, other["id"])) == 1


def test_every_property_type_of_the_contract_and_null_are_accepted(client, partner, user):
    def check(property_type) -> None:
        assert create(client, partner, user["id"], property_type=property_type)["property_type"] == property_type

    each([*PROPERTY_TYPES, None], check)


INVALID = [
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"name": 7}, "name"),
    ({"property_type": "Castle"}, "property_type"),
    ({"property_type": "detached"}, "property_type"),
    ({"property_type": "Semi detached"}, "property_type"),
    ({"property_size_m2": -1}, "property_size_m2"),
    ({"property_size_m2": 12.5}, "property_size_m2"),
    ({"property_size_m2": "big"}, "property_size_m2"),
    ({"property_age": -3}, "property_age"),
    ({"num_occupants": -1}, "num_occupants"),
    ({"num_occupants": 2.5}, "num_occupants"),
    ({"photovoltaic": "maybe"}, "photovoltaic"),
    ({"country": "XX"}, "country"),
    ({"latitude": 95}, "latitude"),
    ({"longitude": -200}, "longitude"),
    ({"owner": "someone"}, "owner"),
    ({"id": str(uuid.uuid4())}, "id"),
    ({"deleted_at": "2024-01-01T00:00:00Z"}, "deleted_at"),
]


def test_create_refuses_invalid_input_naming_the_field(client, partner, user):
    def check(case) -> None:
        body, field = case
        response = client.post(url(partner, user["id"]), json={"name": "Home", **body}, headers=partner.headers)
        assert_invalid(response, field)

    each(INVALID, check)
    assert listed(client, partner, user["id"]) == []


def test_put_refuses_the_same_invalid_input_and_changes_nothing(client, partner, user):
    building = create(client, partner, user["id"], **FULL)
    target = url(partner, user["id"], building["id"])
    each(INVALID, lambda case: assert_invalid(client.put(target, json=case[0], headers=partner.headers), case[1]))
    assert client.get(target, headers=partner.headers).json() == building


def test_name_is_required(client, partner, user):
    response = client.post(url(partner, user["id"]), json={"town": "Graz"}, headers=partner.headers)
    assert_invalid(response, "name")


def test_text_limits(client, partner, user):
    def check(case) -> None:
        field, limit = case
        body = {"name": "Home", field: "x" * (limit + 1)}
        assert_invalid(client.post(url(partner, user["id"]), json=body, headers=partner.headers), field)
        assert create(client, partner, user["id"], **{field: "y" * limit})[field] == "y" * limit

    each(sorted(TEXT_LIMITS.items()), check)


@EXAMPLES
@given(field=st.sampled_from(INTEGER_FIELDS), value=st.integers(min_value=-(2**70), max_value=2**70))
def test_integers_are_stored_or_refused_never_a_server_error(client, partner, user, field, value):
    response = client.post(url(partner, user["id"]), json={"name": "Home", field: value}, headers=partner.headers)
    if value < 0 or value >= 2**31:
        assert_invalid(response, field)
    elif response.status_code == 201:
        assert response.json()[field] == value
    else:
        assert_invalid(response, field)


PLAUSIBLE = [
    ("property_size_m2", 0),
    ("property_size_m2", 500),
    ("property_age", 0),
    ("property_age", 150),
    ("num_occupants", 0),
    ("num_occupants", 12),
]


def test_plausible_integers_are_accepted(client, partner, user):
    def check(case) -> None:
        field, value = case
        assert create(client, partner, user["id"], **{field: value})[field] == value

    each(PLAUSIBLE, check)


# --- update ---------------------------------------------------------------------------------


def test_put_is_partial(client, partner, user):
    building = create(client, partner, user["id"], **FULL)
    target = url(partner, user["id"], building["id"])
    response = client.put(target, json={"town": "Wien", "num_occupants": 2}, headers=partner.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {**building, "town": "Wien", "num_occupants": 2}
    assert client.get(target, headers=partner.headers).json() == response.json()
    assert client.put(target, json={}, headers=partner.headers).json() == response.json()


def test_put_may_clear_optional_fields_but_not_the_name(client, partner, user):
    building = create(client, partner, user["id"], **FULL)
    target = url(partner, user["id"], building["id"])
    cleared = client.put(target, json={"property_type": None, "photovoltaic": None}, headers=partner.headers)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["property_type"] is None
    assert cleared.json()["photovoltaic"] is None
    assert_invalid(client.put(target, json={"name": None}, headers=partner.headers), "name")
    assert_invalid(client.put(target, json={"name": "n" * 101}, headers=partner.headers), "name")
    assert_invalid(client.put(target, json={"property_type": "Igloo"}, headers=partner.headers), "property_type")
    assert_invalid(client.put(target, json={"num_occupants": -1}, headers=partner.headers), "num_occupants")
    assert client.get(target, headers=partner.headers).json() == cleared.json()


OPTIONAL = {
    "name": st.text(min_size=1, max_size=100).filter(lambda s: "\x00" not in s),
    "property_type": st.one_of(st.none(), st.sampled_from(PROPERTY_TYPES)),
    "num_occupants": st.one_of(st.none(), st.integers(min_value=0, max_value=20)),
    "photovoltaic": st.one_of(st.none(), st.booleans()),
    "town": st.one_of(st.none(), st.text(max_size=100).filter(lambda s: "\x00" not in s)),
}


@EXAMPLES
@given(changes=st.fixed_dictionaries({}, optional=OPTIONAL))
def test_put_changes_exactly_the_fields_sent(client, partner, user, changes):
    building = create(client, partner, user["id"], **FULL)
    response = client.put(url(partner, user["id"], building["id"]), json=changes, headers=partner.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {**building, **changes}


# --- delete ---------------------------------------------------------------------------------


def test_delete_is_soft(client, partner, user):
    keep = create(client, partner, user["id"], name="keep")
    gone = create(client, partner, user["id"], name="gone")
    target = url(partner, user["id"], gone["id"])
    response = client.delete(target, headers=partner.headers)
    assert response.status_code == 204
    assert response.content == b""

    assert_error(client.get(target, headers=partner.headers), 404)
    assert_error(client.put(target, json={"name": "x"}, headers=partner.headers), 404)
    assert_error(client.delete(target, headers=partner.headers), 404)
    assert listed(client, partner, user["id"]) == [keep]
    assert listed(client, partner, user["id"], include_deleted="false") == [keep]

    found = client.get(target, params={"include_deleted": "true"}, headers=partner.headers)
    assert found.status_code == 200
    assert found.json()["deleted_at"].endswith("Z")
    assert {**found.json(), "deleted_at": None} == gone
    everything = listed(client, partner, user["id"], include_deleted="true")
    assert [b["id"] for b in everything] == [keep["id"], gone["id"]]


def test_delete_of_a_building_with_a_live_inverter_is_a_conflict(client, partner, user):
    building = create(client, partner, user["id"])
    inverters = f"{partner.base}/users/{user['id']}/inverters"
    inverter = client.post(inverters, json={"building_id": building["id"]}, headers=partner.headers).json()
    target = url(partner, user["id"], building["id"])

    assert_error(client.delete(target, headers=partner.headers), 409)
    assert client.get(target, headers=partner.headers).json() == building

    # Once the inverter is deleted, the building may go.
    assert client.delete(f"{inverters}/{inverter['id']}", headers=partner.headers).status_code == 204
    assert client.delete(target, headers=partner.headers).status_code == 204


def test_delete_after_moving_the_inverter_elsewhere(client, partner, user):
    first = create(client, partner, user["id"], name="first")
    second = create(client, partner, user["id"], name="second")
    inverters = f"{partner.base}/users/{user['id']}/inverters"
    inverter = client.post(inverters, json={"building_id": first["id"]}, headers=partner.headers).json()
    assert_error(client.delete(url(partner, user["id"], first["id"]), headers=partner.headers), 409)
    moved = client.put(f"{inverters}/{inverter['id']}", json={"building_id": second["id"]}, headers=partner.headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["building"] == second["id"]
    assert client.delete(url(partner, user["id"], first["id"]), headers=partner.headers).status_code == 204
    assert_error(client.delete(url(partner, user["id"], second["id"]), headers=partner.headers), 409)


# --- unknown, foreign, other organisation ---------------------------------------------------


def test_unknown_or_foreign_user_is_404(client, partner, other_partner, user):
    foreign = create_user(client, other_partner)
    for user_id in (str(uuid.uuid4()), foreign["id"]):
        assert_error(client.get(url(partner, user_id), headers=partner.headers), 404)
        assert_error(client.post(url(partner, user_id), json={"name": "x"}, headers=partner.headers), 404)
    foreign_building = create(client, other_partner, foreign["id"])
    assert_error(client.get(url(partner, user["id"], foreign_building["id"]), headers=partner.headers), 404)
    assert_error(client.get(url(partner, foreign["id"], foreign_building["id"]), headers=partner.headers), 404)


def test_a_building_of_another_user_is_404_under_this_user(client, partner, user):
    other = create_user(client, partner)
    theirs = create(client, partner, other["id"])
    target = url(partner, user["id"], theirs["id"])
    assert_error(client.get(target, headers=partner.headers), 404)
    assert_error(client.put(target, json={"name": "mine"}, headers=partner.headers), 404)
    assert_error(client.delete(target, headers=partner.headers), 404)
    assert client.get(url(partner, other["id"], theirs["id"]), headers=partner.headers).json() == theirs


def test_unknown_building_is_404(client, partner, user):
    target = url(partner, user["id"], str(uuid.uuid4()))
    assert_error(client.get(target, headers=partner.headers), 404)
    assert_error(client.put(target, json={"name": "x"}, headers=partner.headers), 404)
    assert_error(client.delete(target, headers=partner.headers), 404)


def test_a_deleted_user_gets_no_new_buildings(client, partner, user):
    assert client.delete(f"{partner.base}/users/{user['id']}", headers=partner.headers).status_code == 204
    assert_error(client.post(url(partner, user["id"]), json={"name": "x"}, headers=partner.headers), 404)
    assert_error(client.get(url(partner, user["id"]), headers=partner.headers), 404)


def test_another_organisations_token_gets_403(client, partner, other_partner, user):
    building = create(client, partner, user["id"])
    headers = other_partner.headers
    assert_error(client.get(url(partner, user["id"]), headers=headers), 403)
    assert_error(client.post(url(partner, user["id"]), json={"name": "x"}, headers=headers), 403)
    assert_error(client.get(url(partner, user["id"], building["id"]), headers=headers), 403)
    assert_error(client.put(url(partner, user["id"], building["id"]), json={"name": "x"}, headers=headers), 403)
    assert_error(client.delete(url(partner, user["id"], building["id"]), headers=headers), 403)
    assert client.get(url(partner, user["id"], building["id"]), headers=partner.headers).json() == building


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer garbage"}])
def test_buildings_need_a_valid_token(client, partner, user, headers):
    assert_error(client.get(url(partner, user["id"]), headers=headers), 401)
    assert_error(client.post(url(partner, user["id"]), json={"name": "x"}, headers=headers), 401)
    assert listed(client, partner, user["id"]) == []
