"""Tenant isolation, as a property over random pairs of organisations.

Each example builds two fresh organisations, A and B, with random users, buildings and inverters
(some soft-deleted; each has one live user with a live building and inverter), then B's token
sends all of these requests at A's data, in an order and with A's ids drawn per example:

- every route, with A's organisation id in the path: 403;
- every route keyed by a user, building, inverter or device, in B's own organisation but with A's
  ids (under A's user or under one of B's): 404, with and without `include_deleted=true`;
- A's building id in the body of B's inverter registration or update: 422;
- a lookup of A's external user id: B's own user with that external id, else 404;
- a copy of A's user (same email and external id) in B's organisation: 201, as uniqueness is per
  organisation (409 only when B itself already has that email or external id);
- A's onboarding session read by B (its path carries no organisation): 404; a session B starts for
  A's user: 422 on `user_id`.

Afterwards every GET of A's (lists, details with deleted rows, onboarding sessions) answers exactly as before, no
response B received contains any of A's ids, and none of B's lists contains one of A's ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BASE, Partner, make_partner
from solarfleet.buildings.schemas import PropertyType
from solarfleet.inverters.schemas import BatteryPolicy
from solarfleet.prices.zones import PriceZone

# ---------------------------------------------------------------- strategies for one organisation

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=20)
COUNTRIES = st.sampled_from(["AT", "DE", "SE", "IT", "HU", "GB", "ro"])
LATITUDES = st.floats(min_value=-90, max_value=90, allow_nan=False)
LONGITUDES = st.floats(min_value=-180, max_value=180, allow_nan=False)

USER_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["admin", "staff", "user", "guest"]),
        "first_name": TEXT,
        "last_name": TEXT,
        "street_and_number": TEXT,
        "street_add_info": TEXT,
        "zip_code": TEXT,
        "town": TEXT,
        "country_iso2": COUNTRIES,
        "latitude": LATITUDES,
        "longitude": LONGITUDES,
    },
)
BUILDING_FIELDS = st.fixed_dictionaries(
    {"name": TEXT.filter(bool)},
    optional={
        "property_type": st.sampled_from([*PropertyType, None]),
        "occupant_type": TEXT,
        "space_heating": TEXT,
        "water_heating": TEXT,
        "property_size_m2": st.integers(0, 1_000_000),
        "property_age": st.integers(0, 2000),
        "num_occupants": st.integers(0, 1000),
        "photovoltaic": st.booleans(),
        "zip_code": TEXT,
        "town": TEXT,
        "country": COUNTRIES,
        "latitude": LATITUDES,
        "longitude": LONGITUDES,
    },
)
BATTERY = st.one_of(
    st.just({"is_battery_connected": False}),
    st.fixed_dictionaries(
        {
            "is_battery_connected": st.just(True),
            "battery_capacity_kwh": st.floats(min_value=0.1, max_value=10_000),
        },
        optional={"battery_policy": st.sampled_from(list(BatteryPolicy)), "user_limits_enabled": st.booleans()},
    ),
)
CHARGE_LIMITS = st.one_of(
    st.just({}),
    st.lists(st.floats(0, 100), min_size=2, max_size=2).map(
        lambda pair: {"min_battery_charge": min(pair), "max_battery_charge": max(pair)}
    ),
)
INVERTER_FIELDS = st.tuples(
    st.fixed_dictionaries(
        {},
        optional={
            "price_zone": st.sampled_from(list(PriceZone)),
            "external_device_id": TEXT,
            "comment": TEXT,
            "is_smart_optimization_active": st.booleans(),
            "is_inverter_forced_mode_enabled": st.booleans(),
            "is_trading_enabled": st.booleans(),
            "solar_power_rating_kw": st.floats(0, 10_000),
        },
    ),
    BATTERY,
    CHARGE_LIMITS,
).map(lambda parts: {k: v for part in parts for k, v in part.items()})


@st.composite
def user_specs(draw, live: bool = False) -> dict[str, Any]:
    """A user with buildings and inverters; `live`: at least one of each, and nothing deleted."""
    deleted = st.just(False) if live else st.booleans()
    buildings = draw(st.lists(st.tuples(BUILDING_FIELDS, deleted), min_size=int(live), max_size=2))
    inverters = draw(
        st.lists(
            st.tuples(INVERTER_FIELDS, st.none() | st.integers(0, max(len(buildings) - 1, 0)), deleted),
            min_size=int(live),
            max_size=2,
        )
    )
    return {
        "fields": draw(USER_FIELDS),
        # Shared between the organisations, so that the same external id exists in both.
        "external": draw(st.none() | st.sampled_from(["crm-1", "crm-2", "crm-3"])),
        "buildings": buildings,
        "inverters": [(f, b if buildings else None, gone) for f, b, gone in inverters],
        "deleted": draw(deleted),
    }


# One live user with live buildings and inverters (so every route has a live target), and at most
# one more user of any kind, soft-deleted rows included.
ORGANISATIONS = st.tuples(user_specs(live=True), st.lists(user_specs(), max_size=1)).map(
    lambda parts: [parts[0], *parts[1]]
)


@dataclass
class Org:
    """What the test created in one organisation, and the ids it knows of."""

    partner: Partner
    users: list[dict[str, Any]] = field(default_factory=list)  # id, email, external, deleted
    buildings: list[dict[str, Any]] = field(default_factory=list)  # id, user, deleted
    inverters: list[dict[str, Any]] = field(default_factory=list)  # id, user, deleted, building
    sessions: list[str] = field(default_factory=list)  # onboarding session ids

    @property
    def ids(self) -> set[str]:
        return (
            {self.partner.org_id}
            | {u["id"] for u in self.users}
            | {b["id"] for b in self.buildings}
            | {i["id"] for i in self.inverters}
            | set(self.sessions)
        )

    def live_users(self) -> list[dict[str, Any]]:
        return [u for u in self.users if not u["deleted"]]


def _send(client: TestClient, partner: Partner, method: str, path: str, body=None, expected: int | None = None):
    response = client.request(method, f"{partner.base}{path}", json=body, headers=partner.headers)
    if expected is not None:
        assert response.status_code == expected, (method, path, body, response.status_code, response.text)
    return response


def populate(client: TestClient, partner: Partner, prefix: str, specs: list[dict[str, Any]]) -> Org:
    org = Org(partner)
    used_external: set[str] = set()
    for n, spec in enumerate(specs):
        body = {**spec["fields"], "email": f"{prefix}{n}@example.com"}
        # Unique among the organisation's live users: a repeat goes without.
        if spec["external"] is not None and spec["external"] not in used_external:
            body["external_user_id"] = spec["external"]
            used_external.add(spec["external"])
        user = _send(client, partner, "POST", "/users", body, expected=201).json()
        record = {"id": user["id"], "email": body["email"], "external": body.get("external_user_id"), "deleted": False}
        org.users.append(record)
        base = f"/users/{user['id']}"
        buildings = []
        for fields, _deleted in spec["buildings"]:
            building = _send(client, partner, "POST", f"{base}/buildings", fields, expected=201).json()
            buildings.append({"id": building["id"], "user": user["id"], "deleted": False})
        inverters = []
        for fields, building_index, deleted in spec["inverters"]:
            body = {**fields, "building_id": buildings[building_index]["id"] if building_index is not None else None}
            inverter = _send(client, partner, "POST", f"{base}/inverters", body, expected=201).json()
            inverters.append(
                {"id": inverter["id"], "user": user["id"], "deleted": False, "building": body["building_id"]}
            )
            if deleted:
                _send(client, partner, "DELETE", f"{base}/inverters/{inverter['id']}", expected=204)
                inverters[-1]["deleted"] = True
        for building, (_fields, deleted) in zip(buildings, spec["buildings"], strict=True):
            in_use = any(i["building"] == building["id"] and not i["deleted"] for i in inverters)
            if deleted and not in_use:
                _send(client, partner, "DELETE", f"{base}/buildings/{building['id']}", expected=204)
                building["deleted"] = True
        session = client.post(f"{BASE}/device-onboarding", json=_onboarding(user["id"]), headers=partner.headers)
        assert session.status_code == 201, session.text
        org.sessions.append(session.json()["id"])
        if spec["deleted"]:
            _send(client, partner, "DELETE", base, expected=204)
            record["deleted"] = True
            for row in buildings + inverters:
                row["deleted"] = True
        org.buildings += buildings
        org.inverters += inverters
    return org


def _onboarding(user_id: str) -> dict[str, Any]:
    return {"user_id": user_id, "language": "en", "price_zone_default": "AT", **RETURN_URLS}


def snapshot(client: TestClient, org: Org) -> dict[str, tuple[int, Any]]:
    """Every GET of the organisation's own data, deleted rows included."""
    paths = ["/users", "/users?include_deleted=true"]
    for user in org.users:
        base = f"/users/{user['id']}"
        paths += [
            f"{base}?include_deleted=true",
            f"{base}/buildings?include_deleted=true",
            f"{base}/inverters?include_deleted=true",
        ]
        if user["external"]:
            paths.append(f"/users/by-ext-id/{user['external']}?include_deleted=true")
    paths += [f"/users/{b['user']}/buildings/{b['id']}?include_deleted=true" for b in org.buildings]
    paths += [f"/users/{i['user']}/inverters/{i['id']}?include_deleted=true" for i in org.inverters]
    shots = {}
    for path in paths:
        response = _send(client, org.partner, "GET", path)
        shots[path] = (response.status_code, response.json())
    for session_id in org.sessions:
        response = client.get(f"{BASE}/device-onboarding/{session_id}", headers=org.partner.headers)
        shots[session_id] = (response.status_code, response.json())
    return shots


# ------------------------------------------------------------------------ B's requests at A's data

# A delivery day the curves are served for (tomorrow), and a trade id that is well-formed: the
# scoping answers before the trade is looked up.
TOMORROW = date.today() + timedelta(days=1)
TRADE_ID = "0b1e5a4e-6f0c-4d43-9d7e-3b7f3c2a9e11"
RETURN_URLS = {"success_url": "https://partner.example/ok", "cancel_url": "https://partner.example/cancel"}
# (method, path template, valid body): a body the route would accept, so only the scoping stops it.
ROUTES = [
    ("GET", "/users", None),
    ("POST", "/users", {"email": "intruder@example.com"}),
    ("GET", "/users/by-ext-id/{external}", None),
    ("GET", "/users/{user}", None),
    ("PUT", "/users/{user}", {"first_name": "Intruder"}),
    ("DELETE", "/users/{user}", None),
    ("GET", "/users/{user}/buildings", None),
    ("POST", "/users/{user}/buildings", {"name": "Intruder"}),
    ("GET", "/users/{user}/buildings/{building}", None),
    ("PUT", "/users/{user}/buildings/{building}", {"name": "Intruder"}),
    ("DELETE", "/users/{user}/buildings/{building}", None),
    ("GET", "/users/{user}/inverters", None),
    ("POST", "/users/{user}/inverters", {"comment": "Intruder"}),
    ("GET", "/users/{user}/inverters/{inverter}", None),
    ("PUT", "/users/{user}/inverters/{inverter}", {"comment": "Intruder"}),
    ("DELETE", "/users/{user}/inverters/{inverter}", None),
    ("PATCH", "/users/{user}/devices/{inverter}", {"comment": "Intruder"}),
    ("GET", "/users/{user}/inverters/{inverter}/data", None),
    ("GET", "/users/{user}/inverters/{inverter}/schedules", None),
    ("GET", "/users/{user}/inverters/{inverter}/inference", None),
    ("GET", "/users/{user}/inverters/{inverter}/savings", None),
    ("GET", "/users/{user}/inverters/{inverter}/statistics", None),
    ("GET", "/devices/savings", None),
    ("GET", "/users/{user}/energy-contracts", None),
    (
        "POST",
        "/users/{user}/energy-contracts",
        {"energy_contract_type": "yearly", "energy_prices": [{"price": 0.3, "timestamp": "2026-01-01T00:00:00Z"}]},
    ),
    ("GET", "/tariff", None),
    ("PUT", "/tariff", {"import_components_eur_mwh": 99.0}),
    ("PATCH", "/trading/dayahead/prices", {"date": TOMORROW.isoformat(), "price_zone": "SE_3", "prices": [50.0] * 96}),
    ("GET", f"/trading/dayahead/load-curves?date={TOMORROW}", None),
    ("POST", "/trading/dayahead/load-curve-confirmation", {"trade_id": TRADE_ID, "accepted": True}),
    ("POST", "/users/{user}/inverters/{inverter}/auth_session", RETURN_URLS),
    ("GET", "/connect-ui", None),
    ("PUT", "/connect-ui", {"allowed_frame_origins": ["https://intruder.example"]}),
]
ID_ROUTES = [route for route in ROUTES if "{user}" in route[1]]
CHILD_ROUTES = [route for route in ROUTES if "{building}" in route[1] or "{inverter}" in route[1]]


class Intruder:
    """B's token at work on A's data: one request per call, its answer checked on the spot."""

    def __init__(self, client: TestClient, a: Org, b: Org, data) -> None:
        self.client, self.a, self.b, self.data = client, a, b, data
        self.responses = []

    def draw(self, strategy):
        return self.data.draw(strategy)

    def send(self, method: str, url: str, body, expected: int):
        response = self.client.request(method, url, json=body, headers=self.b.partner.headers)
        assert response.status_code == expected, (method, url, body, response.status_code, response.text)
        self.responses.append(response)
        return response

    def _row(self, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
        return self.draw(st.sampled_from(rows)) if rows else None

    def _path(self, method: str, template: str, users: list[dict[str, Any]]) -> str:
        """The route with A's building or inverter (an unknown id if A has none), under its owner
        or another of `users`."""
        building = self._row(self.a.buildings) if "{building}" in template else None
        inverter = self._row(self.a.inverters) if "{inverter}" in template else None
        child = building or inverter
        owner = [u for u in users if child is not None and u["id"] == child["user"]]
        user = owner[0] if owner and self.draw(st.booleans()) else self._row(users)
        externals = [u["external"] for u in self.a.users if u["external"]] or ["crm-1"]
        unknown = str(self.draw(st.uuids()))
        path = template.format(
            user=user["id"] if user else unknown,
            external=self.draw(st.sampled_from(externals)),
            building=building["id"] if building else unknown,
            inverter=inverter["id"] if inverter else unknown,
        )
        separator = "&" if "?" in path else "?"
        return f"{path}{separator}include_deleted=true" if method == "GET" and self.draw(st.booleans()) else path

    def foreign_org(self, route) -> None:
        """A's organisation in the path: 403, whatever follows."""
        method, template, body = route
        path = self._path(method, template, self.a.users)
        self.send(method, f"{self.a.partner.base}{path}", body, 403)

    def foreign_user(self, route) -> None:
        """B's organisation, A's user (and A's building or inverter): 404."""
        method, template, body = route
        path = self._path(method, template, self.a.users)
        self.send(method, f"{self.b.partner.base}{path}", body, 404)

    def foreign_child(self, route) -> None:
        """B's organisation and one of B's users, A's building or inverter: 404."""
        method, template, body = route
        path = self._path(method, template, self.b.users)
        self.send(method, f"{self.b.partner.base}{path}", body, 404)

    def foreign_building_in_body(self, _route) -> None:
        """A's building given to one of B's inverters: 422, as for any unknown building."""
        user, building = self._row(self.b.live_users()), self._row(self.a.buildings)
        if user is None or building is None:
            return
        live = [i for i in self.b.inverters if i["user"] == user["id"] and not i["deleted"]]
        if live and self.draw(st.booleans()):
            path = f"/users/{user['id']}/inverters/{self._row(live)['id']}"
            self.send("PUT", f"{self.b.partner.base}{path}", {"building_id": building["id"]}, 422)
        else:
            path = f"/users/{user['id']}/inverters"
            self.send("POST", f"{self.b.partner.base}{path}", {"building_id": building["id"]}, 422)

    def external_id(self, _route) -> None:
        """A's external user id in B's organisation: B's own user with it, else 404."""
        externals = [u["external"] for u in self.a.users if u["external"]]
        if not externals:
            return
        external = self.draw(st.sampled_from(externals))
        include_deleted = self.draw(st.booleans())
        own = [u for u in self.b.users if u["external"] == external and (include_deleted or not u["deleted"])]
        path = f"/users/by-ext-id/{external}" + ("?include_deleted=true" if include_deleted else "")
        response = self.send("GET", f"{self.b.partner.base}{path}", None, 200 if own else 404)
        if own:
            assert response.json()["id"] in {u["id"] for u in own}

    def foreign_session(self, _route) -> None:
        """A's onboarding session read with B's token, and a session B starts for A's user."""
        session_id = self.draw(st.sampled_from(self.a.sessions))
        self.send("GET", f"{BASE}/device-onboarding/{session_id}", None, 404)
        user = self.draw(st.sampled_from(self.a.users))
        self.send("POST", f"{BASE}/device-onboarding", _onboarding(user["id"]), 422)

    def clone_user(self, _route) -> None:
        """A's email and external id are free in B's organisation, unless B took them itself."""
        original = self.draw(st.sampled_from(self.a.users))
        body = {"email": original["email"]}
        if original["external"]:
            body["external_user_id"] = original["external"]
        taken = any(
            u["email"] == body["email"] or (u["external"] and u["external"] == body.get("external_user_id"))
            for u in self.b.live_users()
        )
        response = self.send("POST", f"{self.b.partner.base}/users", body, 409 if taken else 201)
        if not taken:
            self.b.users.append(
                {"id": response.json()["id"], "email": body["email"], "external": body.get("external_user_id")}
                | {"deleted": False}
            )


# Every route with A's organisation, every id-keyed route with A's ids in B's organisation, then the
# requests that need no route; each example sends them all, in an order of its own.
PLAN = (
    [("foreign_org", route) for route in ROUTES]
    + [("foreign_user", route) for route in ID_ROUTES]
    + [("foreign_child", route) for route in CHILD_ROUTES]
    + [("foreign_building_in_body", None), ("external_id", None), ("clone_user", None), ("foreign_session", None)] * 2
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(a_specs=ORGANISATIONS, b_specs=ORGANISATIONS, data=st.data())
def test_no_request_of_one_organisation_reads_or_changes_another(client, database, a_specs, b_specs, data):
    # Fresh organisations per example: nothing carries over between examples.
    a = populate(client, make_partner(client, database, "Tenant A"), "a", a_specs)
    b = populate(client, make_partner(client, database, "Tenant B"), "b", b_specs)
    before = snapshot(client, a)

    intruder = Intruder(client, a, b, data)
    for kind, route in data.draw(st.permutations(PLAN), label="requests"):
        getattr(intruder, kind)(route)

    assert snapshot(client, a) == before
    a_ids = a.ids
    for response in intruder.responses:
        leaked = {i for i in a_ids if i in response.text}
        assert not leaked, (response.request.method, response.request.url, response.text)
    for path in _lists_of(b):
        text = _send(client, b.partner, "GET", path, expected=200).text
        assert not {i for i in a_ids if i in text}, (path, text)


def _lists_of(org: Org) -> list[str]:
    """B's lists, deleted rows included (lists under a deleted user need include_deleted)."""
    paths = ["/users", "/users?include_deleted=true"]
    for user in org.users:
        paths += [f"/users/{user['id']}/{kind}?include_deleted=true" for kind in ("buildings", "inverters")]
    return paths
