"""Behaviour of the users resource: `/org/{org}/users` as the partner API contract defines it."""

from __future__ import annotations

import uuid

import pycountry
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from conftest import assert_error, assert_invalid, create_user, each, make_partner
from solarfleet.inverters.models import Inverter

# Function-scoped fixtures (client, partner) are shared by the examples of one test on purpose:
# each example makes its own rows, so the examples stay independent.
EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

USER_FIELDS = [
    "id",
    "organization_id",
    "role",
    "email",
    "external_user_id",
    "first_name",
    "last_name",
    "num_inverters",
    "is_onboarded",
    "street_and_number",
    "street_add_info",
    "zip_code",
    "town",
    "country",
    "latitude",
    "longitude",
    "joined_at",
    "deleted_at",
]
# Longest accepted length of each free-text member of the request body.
TEXT_LIMITS = {
    "external_user_id": 255,
    "first_name": 150,
    "last_name": 150,
    "street_and_number": 100,
    "street_add_info": 100,
    "zip_code": 20,
    "town": 100,
}
ALPHA_2 = sorted(country.alpha_2 for country in pycountry.countries)


def new_email(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def post_user(client, partner, **body):
    return client.post(f"{partner.base}/users", json=body, headers=partner.headers)


def list_users(client, partner, include_deleted: bool | None = None) -> list[dict]:
    params = {} if include_deleted is None else {"include_deleted": str(include_deleted).lower()}
    response = client.get(f"{partner.base}/users", params=params, headers=partner.headers)
    assert response.status_code == 200, response.text
    return response.json()


def register_inverter(client, partner, user_id: str, **body) -> dict:
    response = client.post(f"{partner.base}/users/{user_id}/inverters", json=body, headers=partner.headers)
    assert response.status_code == 201, response.text
    return response.json()


# --- create ---------------------------------------------------------------------------------


def test_create_with_email_only_applies_the_defaults(client, partner):
    email = new_email()
    response = post_user(client, partner, email=email)
    assert response.status_code == 201, response.text
    user = response.json()
    assert list(user) == USER_FIELDS
    uuid.UUID(user["id"])
    assert user["organization_id"] == partner.org_id
    assert user["role"] == "user"
    assert user["email"] == email
    assert user["num_inverters"] == 0
    assert user["is_onboarded"] is False
    assert user["deleted_at"] is None
    assert user["joined_at"].endswith("Z")
    for name in ("external_user_id", "first_name", "last_name", "street_and_number", "street_add_info"):
        assert user[name] is None
    for name in ("zip_code", "town", "country", "latitude", "longitude"):
        assert user[name] is None


def test_create_with_every_field_stores_them_and_country_iso2_comes_back_as_country(client, partner):
    body = {
        "email": new_email(),
        "role": "staff",
        "external_user_id": "crm-42",
        "first_name": "Anna",
        "last_name": "Gruber",
        "street_and_number": "Hauptplatz 1",
        "street_add_info": "Top 3",
        "zip_code": "8010",
        "town": "Graz",
        "country_iso2": "at",
        "latitude": 47.07,
        "longitude": 15.44,
    }
    response = post_user(client, partner, **body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert "country_iso2" not in created
    assert created["country"] == "AT"
    for name, value in body.items():
        if name != "country_iso2":
            assert created[name] == value, name
    fetched = client.get(f"{partner.base}/users/{created['id']}", headers=partner.headers)
    assert fetched.status_code == 200
    assert fetched.json() == created


@pytest.mark.parametrize("role", ["admin", "staff", "user", "guest"])
def test_every_role_of_the_contract_is_accepted(client, partner, role):
    response = post_user(client, partner, email=new_email(), role=role)
    assert response.status_code == 201, response.text
    assert response.json()["role"] == role


INVALID_CREATE = [
    ({"email": "not-an-email"}, "email"),
    ({"email": "two@@example.com"}, "email"),
    ({"email": ""}, "email"),
    ({"email": None}, "email"),
    ({"email": 42}, "email"),
    ({"role": "superuser"}, "role"),
    ({"role": "Admin"}, "role"),
    ({"role": None}, "role"),
    ({"country_iso2": "XX"}, "country_iso2"),
    ({"country_iso2": "AUT"}, "country_iso2"),
    ({"country_iso2": "A"}, "country_iso2"),
    ({"country_iso2": 43}, "country_iso2"),
    ({"latitude": 90.0001}, "latitude"),
    ({"latitude": -90.5}, "latitude"),
    ({"longitude": 180.5}, "longitude"),
    ({"longitude": -181}, "longitude"),
    ({"latitude": "north"}, "latitude"),
    ({"first_name": 123}, "first_name"),
    ({"last_name": ["Gruber"]}, "last_name"),
    ({"town": {"name": "Graz"}}, "town"),
    ({"nickname": "anna"}, "nickname"),
    ({"country": "AT"}, "country"),
    ({"num_inverters": 3}, "num_inverters"),
    ({"id": str(uuid.uuid4())}, "id"),
]


def test_create_refuses_invalid_input_naming_the_field(client, partner):
    each(
        INVALID_CREATE,
        lambda case: assert_invalid(post_user(client, partner, **{"email": new_email(), **case[0]}), case[1]),
    )
    assert list_users(client, partner) == []


def test_create_requires_an_email(client, partner):
    assert_invalid(post_user(client, partner, first_name="Anna"), "email")
    assert list_users(client, partner) == []


def test_create_refuses_oversize_strings_and_takes_the_longest_allowed(client, partner):
    def check(case) -> None:
        field, limit = case
        too_long = post_user(client, partner, email=new_email(), **{field: "x" * (limit + 1)})
        assert_invalid(too_long, field)
        longest = post_user(client, partner, email=new_email(), **{field: "y" * limit})
        assert longest.status_code == 201, longest.text
        assert longest.json()[field] == "y" * limit

    each(sorted(TEXT_LIMITS.items()), check)
    assert len(list_users(client, partner)) == len(TEXT_LIMITS)


def test_create_refuses_an_oversize_email(client, partner):
    response = post_user(client, partner, email="a" * 250 + "@example.com")
    assert_invalid(response, "email")


@pytest.mark.parametrize("raw", [b'{"email": "a@example.com"', b"{email: 1}", b"not json", b""])
def test_create_refuses_malformed_json(client, partner, raw):
    headers = {**partner.headers, "Content-Type": "application/json"}
    response = client.post(f"{partner.base}/users", content=raw, headers=headers)
    detail = assert_error(response, 422)
    assert all(issue["loc"][0] == "body" for issue in detail)
    assert list_users(client, partner) == []


@pytest.mark.parametrize("body", [[{"email": "a@example.com"}], "a@example.com", 42, None])
def test_create_refuses_a_body_that_is_not_an_object(client, partner, body):
    response = client.post(f"{partner.base}/users", json=body, headers=partner.headers)
    assert_error(response, 422)


@pytest.mark.parametrize(
    "raw", [b'{"email": "nan@example.com", "latitude": NaN}', b'{"email": "i@example.com", "longitude": Infinity}']
)
def test_create_refuses_nan_and_infinity(client, partner, raw):
    headers = {**partner.headers, "Content-Type": "application/json"}
    response = client.post(f"{partner.base}/users", content=raw, headers=headers)
    assert_error(response, 422)
    assert list_users(client, partner) == []


@EXAMPLES
@given(
    latitude=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    longitude=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
)
def test_coordinates_are_accepted_exactly_within_range(client, partner, latitude, longitude):
    response = post_user(client, partner, email=new_email(), latitude=latitude, longitude=longitude)
    if -90 <= latitude <= 90 and -180 <= longitude <= 180:
        assert response.status_code == 201, response.text
        assert response.json()["latitude"] == latitude
        assert response.json()["longitude"] == longitude
    else:
        bad = "latitude" if not -90 <= latitude <= 90 else "longitude"
        assert_invalid(response, bad)


@EXAMPLES
@given(code=st.sampled_from(ALPHA_2), lower=st.booleans())
def test_every_iso_country_code_is_accepted_in_either_case(client, partner, code, lower):
    response = post_user(client, partner, email=new_email(), country_iso2=code.lower() if lower else code)
    assert response.status_code == 201, response.text
    assert response.json()["country"] == code


@EXAMPLES
@given(code=st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=4))
def test_a_country_code_outside_iso_3166_is_refused(client, partner, code):
    response = post_user(client, partner, email=new_email(), country_iso2=code)
    if code.upper() in ALPHA_2:
        assert response.status_code == 201
    else:
        assert_invalid(response, "country_iso2")


# --- uniqueness -----------------------------------------------------------------------------

# Letters whose lower and upper case map one-to-one, ASCII and not.
CASED_LETTERS = "abcdefghijklmnopqrstuvwxyzäöüéèøåčłñжщωλ"


@st.composite
def email_and_case_variant(draw) -> tuple[str, str]:
    """Two spellings of one address that differ only in the case of their letters."""
    local = draw(st.text(alphabet=CASED_LETTERS, min_size=1, max_size=12))

    def spelling() -> str:
        flips = draw(st.lists(st.booleans(), min_size=len(local), max_size=len(local)))
        return "".join(c.upper() if flip else c for c, flip in zip(local, flips, strict=True))

    domain = f"d{uuid.uuid4().hex[:10]}.example.com"
    return f"{spelling()}@{domain}", f"{spelling()}@{domain.upper()}"


@EXAMPLES
@given(pair=email_and_case_variant())
def test_email_is_unique_in_the_organisation_whatever_its_case(client, partner, pair):
    email, variant = pair
    assert post_user(client, partner, email=email).status_code == 201
    assert_error(post_user(client, partner, email=variant), 409)
    assert_error(post_user(client, partner, email=email), 409)


def test_email_update_to_another_users_email_in_other_case_is_a_conflict(client, partner):
    first = create_user(client, partner, email="Anna.Gruber@example.com")
    second = create_user(client, partner)
    response = client.put(
        f"{partner.base}/users/{second['id']}", json={"email": "anna.gruber@EXAMPLE.com"}, headers=partner.headers
    )
    assert_error(response, 409)
    assert client.get(f"{partner.base}/users/{second['id']}", headers=partner.headers).json() == second
    # Changing only the case of one's own email is no conflict.
    own = client.put(
        f"{partner.base}/users/{first['id']}", json={"email": "ANNA.GRUBER@example.com"}, headers=partner.headers
    )
    assert own.status_code == 200, own.text
    assert own.json()["email"].lower() == "anna.gruber@example.com"


def test_the_same_email_is_allowed_in_another_organisation(client, partner, other_partner):
    email = new_email()
    create_user(client, partner, email=email)
    response = post_user(client, other_partner, email=email)
    assert response.status_code == 201, response.text
    assert response.json()["organization_id"] == other_partner.org_id


def test_the_email_of_a_deleted_user_may_be_used_again(client, partner):
    email = new_email()
    first = create_user(client, partner, email=email)
    assert client.delete(f"{partner.base}/users/{first['id']}", headers=partner.headers).status_code == 204
    response = post_user(client, partner, email=email.upper())
    assert response.status_code == 201, response.text
    assert response.json()["id"] != first["id"]


def test_external_user_id_is_unique_among_live_users_of_the_organisation(client, partner, other_partner):
    first = create_user(client, partner, external_user_id="crm-7")
    assert_error(post_user(client, partner, email=new_email(), external_user_id="crm-7"), 409)
    second = create_user(client, partner, external_user_id="crm-8")
    clash = client.put(
        f"{partner.base}/users/{second['id']}", json={"external_user_id": "crm-7"}, headers=partner.headers
    )
    assert_error(clash, 409)
    # Another organisation has its own ids; a deleted user frees the id.
    assert post_user(client, other_partner, email=new_email(), external_user_id="crm-7").status_code == 201
    assert client.delete(f"{partner.base}/users/{first['id']}", headers=partner.headers).status_code == 204
    assert post_user(client, partner, email=new_email(), external_user_id="crm-7").status_code == 201


def test_users_without_external_id_do_not_clash(client, partner):
    create_user(client, partner)
    create_user(client, partner)
    assert len(list_users(client, partner)) == 2


# --- read -----------------------------------------------------------------------------------


def test_get_one_user(client, partner, user):
    response = client.get(f"{partner.base}/users/{user['id']}", headers=partner.headers)
    assert response.status_code == 200
    assert response.json() == user


def test_get_unknown_or_foreign_user_is_404(client, partner, other_partner):
    assert_error(client.get(f"{partner.base}/users/{uuid.uuid4()}", headers=partner.headers), 404)
    foreign = create_user(client, other_partner)
    assert_error(client.get(f"{partner.base}/users/{foreign['id']}", headers=partner.headers), 404)


def test_get_with_a_malformed_id_is_422(client, partner):
    assert_error(client.get(f"{partner.base}/users/not-a-uuid", headers=partner.headers), 422)


def test_list_is_in_creation_order_and_holds_only_the_organisations_users(client, partner, other_partner):
    created = [create_user(client, partner, first_name=f"n{i}") for i in range(4)]
    create_user(client, other_partner)
    listed = list_users(client, partner)
    assert [u["id"] for u in listed] == [u["id"] for u in created]
    assert listed == created


def test_list_hides_deleted_users_unless_include_deleted(client, partner):
    keep = create_user(client, partner)
    gone = create_user(client, partner)
    assert client.delete(f"{partner.base}/users/{gone['id']}", headers=partner.headers).status_code == 204
    assert [u["id"] for u in list_users(client, partner)] == [keep["id"]]
    assert [u["id"] for u in list_users(client, partner, include_deleted=False)] == [keep["id"]]
    with_deleted = list_users(client, partner, include_deleted=True)
    assert [u["id"] for u in with_deleted] == [keep["id"], gone["id"]]
    assert with_deleted[0]["deleted_at"] is None
    assert with_deleted[1]["deleted_at"].endswith("Z")


def test_by_external_id(client, partner, other_partner, user):
    response = client.get(f"{partner.base}/users/by-ext-id/crm-1", headers=partner.headers)
    assert response.status_code == 200, response.text
    assert response.json() == user
    assert_error(client.get(f"{partner.base}/users/by-ext-id/crm-unknown", headers=partner.headers), 404)
    # Another organisation's external ids are not visible.
    assert_error(client.get(f"{other_partner.base}/users/by-ext-id/crm-1", headers=other_partner.headers), 404)


def test_by_external_id_finds_a_deleted_user_only_with_include_deleted(client, partner, user):
    assert client.delete(f"{partner.base}/users/{user['id']}", headers=partner.headers).status_code == 204
    url = f"{partner.base}/users/by-ext-id/crm-1"
    assert_error(client.get(url, headers=partner.headers), 404)
    found = client.get(url, params={"include_deleted": "true"}, headers=partner.headers)
    assert found.status_code == 200, found.text
    assert found.json()["id"] == user["id"]
    assert found.json()["deleted_at"] is not None
    # Once the id is taken again, the live user is the one found, with or without deleted ones.
    again = create_user(client, partner, external_user_id="crm-1")
    assert client.get(url, headers=partner.headers).json()["id"] == again["id"]
    assert client.get(url, params={"include_deleted": "true"}, headers=partner.headers).json()["id"] == again["id"]


def test_get_deleted_user_is_404_unless_include_deleted(client, partner, user):
    assert client.delete(f"{partner.base}/users/{user['id']}", headers=partner.headers).status_code == 204
    url = f"{partner.base}/users/{user['id']}"
    assert_error(client.get(url, headers=partner.headers), 404)
    found = client.get(url, params={"include_deleted": "true"}, headers=partner.headers)
    assert found.status_code == 200
    assert found.json()["deleted_at"].endswith("Z")


# --- update ---------------------------------------------------------------------------------


def test_put_changes_only_the_fields_sent(client, partner):
    created = create_user(
        client, partner, first_name="Anna", last_name="Gruber", town="Graz", country_iso2="AT", latitude=47.0
    )
    url = f"{partner.base}/users/{created['id']}"
    response = client.put(url, json={"town": "Wien", "role": "admin"}, headers=partner.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {**created, "town": "Wien", "role": "admin"}
    assert client.get(url, headers=partner.headers).json() == response.json()


def test_put_with_empty_body_changes_nothing(client, partner, user):
    response = client.put(f"{partner.base}/users/{user['id']}", json={}, headers=partner.headers)
    assert response.status_code == 200
    assert response.json() == user


def test_put_maps_country_iso2_and_may_clear_nullable_fields(client, partner, user):
    url = f"{partner.base}/users/{user['id']}"
    response = client.put(url, json={"country_iso2": "de", "first_name": None}, headers=partner.headers)
    assert response.status_code == 200, response.text
    assert response.json()["country"] == "DE"
    assert response.json()["first_name"] is None
    assert response.json()["last_name"] == user["last_name"]


INVALID_UPDATE = [
    ({"email": None}, "email"),
    ({"email": "broken"}, "email"),
    ({"role": None}, "role"),
    ({"role": "owner"}, "role"),
    ({"latitude": 91}, "latitude"),
    ({"country_iso2": "ZZ"}, "country_iso2"),
    ({"first_name": "x" * 151}, "first_name"),
    ({"num_inverters": 2}, "num_inverters"),
    ({"joined_at": "2024-01-01T00:00:00Z"}, "joined_at"),
    ({"country": "AT"}, "country"),
]


def test_put_refuses_invalid_input_and_changes_nothing(client, partner, user):
    url = f"{partner.base}/users/{user['id']}"
    each(INVALID_UPDATE, lambda case: assert_invalid(client.put(url, json=case[0], headers=partner.headers), case[1]))
    assert client.get(url, headers=partner.headers).json() == user


UPDATABLE = {
    "first_name": st.one_of(st.none(), st.text(max_size=150)),
    "last_name": st.one_of(st.none(), st.text(max_size=150)),
    "town": st.one_of(st.none(), st.text(max_size=100)),
    "zip_code": st.one_of(st.none(), st.text(max_size=20)),
    "role": st.sampled_from(["admin", "staff", "user", "guest"]),
    "latitude": st.one_of(st.none(), st.floats(min_value=-90, max_value=90)),
}


@EXAMPLES
@given(changes=st.fixed_dictionaries({}, optional=UPDATABLE))
def test_put_is_partial_for_any_subset_of_fields(client, partner, changes):
    changes = {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in changes.items()}
    created = create_user(client, partner, first_name="A", last_name="B", town="T", zip_code="1", latitude=1.5)
    response = client.put(f"{partner.base}/users/{created['id']}", json=changes, headers=partner.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {**created, **changes}


def test_put_of_unknown_deleted_or_foreign_user_is_404(client, partner, other_partner, user):
    assert_error(client.put(f"{partner.base}/users/{uuid.uuid4()}", json={}, headers=partner.headers), 404)
    foreign = create_user(client, other_partner)
    assert_error(client.put(f"{partner.base}/users/{foreign['id']}", json={}, headers=partner.headers), 404)
    assert client.delete(f"{partner.base}/users/{user['id']}", headers=partner.headers).status_code == 204
    assert_error(client.put(f"{partner.base}/users/{user['id']}", json={"town": "x"}, headers=partner.headers), 404)


# --- delete ---------------------------------------------------------------------------------


def test_delete_soft_deletes_the_user_with_their_buildings_and_inverters(client, partner, user):
    base = f"{partner.base}/users/{user['id']}"
    building = client.post(f"{base}/buildings", json={"name": "Home"}, headers=partner.headers).json()
    inverter = register_inverter(client, partner, user["id"], building_id=building["id"])
    loose = register_inverter(client, partner, user["id"])

    response = client.delete(base, headers=partner.headers)
    assert response.status_code == 204
    assert response.content == b""

    assert_error(client.get(base, headers=partner.headers), 404)
    assert_error(client.delete(base, headers=partner.headers), 404)
    deleted_user = client.get(base, params={"include_deleted": "true"}, headers=partner.headers).json()
    assert deleted_user["deleted_at"] is not None
    assert deleted_user["num_inverters"] == 0

    show = {"include_deleted": "true"}
    for path in (f"/buildings/{building['id']}", f"/inverters/{inverter['id']}", f"/inverters/{loose['id']}"):
        assert_error(client.get(base + path, headers=partner.headers), 404)
        found = client.get(base + path, params=show, headers=partner.headers)
        assert found.status_code == 200, found.text
        assert found.json()["deleted_at"] is not None

    buildings = client.get(f"{base}/buildings", params=show, headers=partner.headers)
    assert buildings.status_code == 200, buildings.text
    assert [(b["id"], b["deleted_at"] is not None) for b in buildings.json()] == [(building["id"], True)]
    inverters = client.get(f"{base}/inverters", params=show, headers=partner.headers)
    assert inverters.status_code == 200, inverters.text
    assert [(i["id"], i["deleted_at"] is not None) for i in inverters.json()] == [
        (inverter["id"], True),
        (loose["id"], True),
    ]


def test_delete_leaves_other_users_alone(client, partner, user):
    other = create_user(client, partner)
    kept = register_inverter(client, partner, other["id"])
    assert client.delete(f"{partner.base}/users/{user['id']}", headers=partner.headers).status_code == 204
    inverters = client.get(f"{partner.base}/users/{other['id']}/inverters", headers=partner.headers).json()
    assert [i["id"] for i in inverters] == [kept["id"]]
    assert client.get(f"{partner.base}/users/{other['id']}", headers=partner.headers).json()["num_inverters"] == 1


def test_delete_of_unknown_or_foreign_user_is_404(client, partner, other_partner):
    assert_error(client.delete(f"{partner.base}/users/{uuid.uuid4()}", headers=partner.headers), 404)
    foreign = create_user(client, other_partner)
    assert_error(client.delete(f"{partner.base}/users/{foreign['id']}", headers=partner.headers), 404)
    assert client.get(f"{other_partner.base}/users/{foreign['id']}", headers=other_partner.headers).status_code == 200


# --- derived fields -------------------------------------------------------------------------


def test_num_inverters_counts_only_live_inverters_of_the_user(client, partner, user):
    url = f"{partner.base}/users/{user['id']}"
    first = register_inverter(client, partner, user["id"])
    register_inverter(client, partner, user["id"])
    register_inverter(client, partner, create_user(client, partner)["id"])
    assert client.get(url, headers=partner.headers).json()["num_inverters"] == 2
    assert client.delete(f"{url}/inverters/{first['id']}", headers=partner.headers).status_code == 204
    assert client.get(url, headers=partner.headers).json()["num_inverters"] == 1
    listed = {u["id"]: u["num_inverters"] for u in list_users(client, partner)}
    assert listed[user["id"]] == 1


def _set_lifecycle(database, inverter_id: str, state: str) -> None:
    with database.session() as session:
        session.execute(update(Inverter).where(Inverter.id == uuid.UUID(inverter_id)).values(lifecycle_state=state))


def test_is_onboarded_only_once_a_live_inverter_got_past_created(client, partner, user, database):
    url = f"{partner.base}/users/{user['id']}"
    first = register_inverter(client, partner, user["id"])
    second = register_inverter(client, partner, user["id"])
    assert client.get(url, headers=partner.headers).json()["is_onboarded"] is False

    _set_lifecycle(database, first["id"], "authenticated")
    assert client.get(url, headers=partner.headers).json()["is_onboarded"] is True
    assert {u["id"]: u["is_onboarded"] for u in list_users(client, partner)}[user["id"]] is True

    # A deleted device no longer makes its owner onboarded.
    assert client.delete(f"{url}/inverters/{first['id']}", headers=partner.headers).status_code == 204
    assert client.get(url, headers=partner.headers).json()["is_onboarded"] is False
    _set_lifecycle(database, second["id"], "active")
    assert client.get(url, headers=partner.headers).json()["is_onboarded"] is True


# --- authentication and tenancy -------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer garbage"}, {"Authorization": "Basic Zm9vOmJhcg=="}])
def test_users_need_a_valid_token(client, partner, headers):
    assert_error(client.get(f"{partner.base}/users", headers=headers), 401)
    assert_error(client.post(f"{partner.base}/users", json={"email": new_email()}, headers=headers), 401)
    assert list_users(client, partner) == []


def test_a_token_of_another_organisation_gets_403(client, partner, other_partner, user):
    headers = other_partner.headers
    assert_error(client.get(f"{partner.base}/users", headers=headers), 403)
    assert_error(client.get(f"{partner.base}/users/{user['id']}", headers=headers), 403)
    assert_error(client.post(f"{partner.base}/users", json={"email": new_email()}, headers=headers), 403)
    assert_error(client.put(f"{partner.base}/users/{user['id']}", json={"town": "x"}, headers=headers), 403)
    assert_error(client.delete(f"{partner.base}/users/{user['id']}", headers=headers), 403)
    assert_error(client.get(f"{partner.base}/users/by-ext-id/crm-1", headers=headers), 403)
    assert client.get(f"{partner.base}/users/{user['id']}", headers=partner.headers).json() == user


def test_a_third_organisation_sees_none_of_the_users(client, database, partner, user):
    third = make_partner(client, database, "Third")
    assert list_users(client, third) == []
