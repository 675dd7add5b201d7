"""The partner's side of onboarding: creating and reading sessions, re-authentication, framing origins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import BASE, assert_invalid, create_user, each
from connect_ui.sessions import CANCEL_URL, SUCCESS_URL, read_session, start_onboarding
from solarfleet.onboarding.service import session_expiry
from solarfleet.prices.zones import ZONES, PriceZone


def test_a_session_has_the_contract_fields_and_is_pending(client, partner, user):
    session = start_onboarding(client, partner, user["id"], external_metadata={"crm": "A-17"})
    assert set(session) >= {
        "authentication_url",
        "id",
        "user",
        "success_url",
        "cancel_url",
        "expiration_date",
        "object_id",
        "external_metadata",
    }
    assert session["user"] == user["id"]
    assert session["success_url"] == SUCCESS_URL
    assert session["cancel_url"] == CANCEL_URL
    assert session["object_id"] is None
    assert session["external_metadata"] == {"crm": "A-17"}
    assert session["state"] == "pending"
    assert session["authentication_url"].startswith(f"http://testserver/connect/s/{session['id']}/")
    assert read_session(client, partner, session["id"]) == session


def test_a_session_expires_at_the_end_of_the_next_day_in_its_zone(client, partner, user):
    session = start_onboarding(client, partner, user["id"], price_zone_default="SE_3")
    expires = datetime.fromisoformat(session["expiration_date"])
    local = expires.astimezone(ZoneInfo("Europe/Stockholm"))
    assert (local.hour, local.minute) == (0, 0)
    assert local.date() == datetime.now(ZoneInfo("Europe/Stockholm")).date() + timedelta(days=2)


@given(
    created=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
    zone=st.sampled_from(list(PriceZone)),
)
def test_expiry_is_local_midnight_two_days_on_whatever_the_clock_change(created, zone):
    expires = session_expiry(created, zone)
    tz = ZoneInfo(ZONES[zone].location.timezone)
    local_created, local_expires = created.astimezone(tz), expires.astimezone(tz)
    assert local_expires.time().isoformat() == "00:00:00"
    assert local_expires.date() == local_created.date() + timedelta(days=2)
    # at least the rest of today and all of tomorrow: between 23 (a short day) and 49 (a long one) hours
    assert timedelta(hours=23) <= expires - created <= timedelta(hours=49)


def test_invalid_sessions_name_the_field(client, partner, user, other_partner):
    foreign_user = create_user(client, other_partner)
    valid = {
        "user_id": user["id"],
        "language": "en",
        "price_zone_default": "AT",
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
    }
    cases = [
        ({"user_id": None}, "user_id"),
        ({"user_id": foreign_user["id"]}, "user_id"),
        ({"language": "fr"}, "language"),
        ({"price_zone_default": "FR"}, "price_zone_default"),
        ({"success_url": "javascript:alert(1)"}, "success_url"),
        ({"success_url": "/relative/path"}, "success_url"),
        ({"success_url": "ftp://partner.example/x"}, "success_url"),
        ({"success_url": "https://user:pass@partner.example/"}, "success_url"),
        ({"success_url": "https://partner.example/a b"}, "success_url"),
        ({"success_url": "https://partner.example:99999/"}, "success_url"),
        ({"success_url": "https://partner.example;script-src:*/"}, "success_url"),
        ({"success_url": "https://[::1/"}, "success_url"),
        ({"cancel_url": "https://partner.example/" + "x" * 8000}, "cancel_url"),
        ({"cancel_url": None}, "cancel_url"),
        ({"building_id": "6f7d3a52-0c2e-4f7e-9a55-0e0a1f0b3c11"}, "building_id"),
        ({"device_type": "hp"}, "device_type"),
        ({"external_metadata": {"x": "y" * 5000}}, "external_metadata"),
        ({"unknown": 1}, "unknown"),
    ]

    def check(case):
        changes, field = case
        body = {**valid, **changes}
        if changes.get("user_id", "") is None:
            body.pop("user_id")
        if changes.get("cancel_url", "") is None:
            body.pop("cancel_url")
        assert_invalid(client.post(f"{BASE}/device-onboarding", json=body, headers=partner.headers), field)

    each(cases, check)


def test_sessions_need_a_token(client, partner, user):
    response = client.post(f"{BASE}/device-onboarding", json={"user_id": user["id"]})
    assert response.status_code == 401


def test_a_reauthentication_session_points_at_the_inverter(client, partner, user):
    inverter = client.post(f"{partner.base}/users/{user['id']}/inverters", json={}, headers=partner.headers).json()
    response = client.post(
        f"{partner.base}/users/{user['id']}/inverters/{inverter['id']}/auth_session",
        json={"success_url": SUCCESS_URL, "cancel_url": CANCEL_URL},
        headers=partner.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"authentication_url", "device_id", "session_id"}
    assert body["device_id"] == inverter["id"]
    session = read_session(client, partner, body["session_id"])
    assert session["authentication_url"] == body["authentication_url"]
    assert session["object_id"] is None  # until the customer has connected it again
    bad = client.post(
        f"{partner.base}/users/{user['id']}/inverters/{inverter['id']}/auth_session",
        json={"success_url": "data:text/html,hi", "cancel_url": CANCEL_URL},
        headers=partner.headers,
    )
    assert_invalid(bad, "success_url")


@pytest.mark.parametrize(
    ("origins", "stored"),
    [
        (
            ["https://app.partner.example", "http://localhost:3000/"],
            ["https://app.partner.example", "http://localhost:3000"],
        ),
        (["https://APP.partner.example:443"], ["https://app.partner.example:443"]),
        (
            ["https://bücher.example", "http://[FD00::1]:8080"],
            ["https://xn--bcher-kva.example", "http://[fd00::1]:8080"],
        ),
        ([], []),
    ],
)
def test_framing_origins_are_stored_as_origins(client, partner, origins, stored):
    response = client.put(
        f"{partner.base}/connect-ui", json={"allowed_frame_origins": origins}, headers=partner.headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"allowed_frame_origins": stored}
    assert client.get(f"{partner.base}/connect-ui", headers=partner.headers).json() == {"allowed_frame_origins": stored}


@pytest.mark.parametrize(
    "origin",
    ["https://partner.example/app", "javascript:alert(1)", "https://partner.example?x=1", "partner.example", "*"],
)
def test_framing_origins_refuse_anything_but_an_origin(client, partner, origin):
    response = client.put(
        f"{partner.base}/connect-ui", json={"allowed_frame_origins": [origin]}, headers=partner.headers
    )
    assert_invalid(response, "allowed_frame_origins")
