"""The customer's side: the Connect UI from the partner's link to a connected (or reconnected) device.

Devices are real: the simulator, the Fronius Solar API and SolarEdge Monitoring API stand-ins on
loopback ports, served on the app's own event loop; the check is the connector's real read.
"""

from __future__ import annotations

import re
import socket
import time
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import select, update

from connect_ui.sessions import CANCEL_URL, SUCCESS_URL, inverter, read_session, start_onboarding
from connect_ui.walker import Walker
from solarfleet.connectors.registry import ConnectorContext
from solarfleet.connectors.simulator.clock import SimulationClock
from solarfleet.credentials_cipher import CredentialsCipher
from solarfleet.database import utcnow
from solarfleet.inverters.models import InverterAction
from solarfleet.monitoring.models import DeviceConnection, PollState
from solarfleet.monitoring.pipeline import MonitoringWorker
from solarfleet.onboarding.flow import forget_expired_details
from solarfleet.onboarding.models import OnboardingSession
from stand_ins.fronius import FroniusStandIn
from stand_ins.solaredge import SolarEdgeStandIn, StandInSite

SITE = 2417
GOOD_KEY = "L4QLVQ1LOKCQX2193VSEICXW61NP6B1O"
NEW_KEY = "Q8ZP3N2W7XK5M4R1T6Y9B0C3V8D2F7HJ"


@pytest.fixture
def cipher(settings) -> CredentialsCipher:
    return CredentialsCipher(settings.fernet_keys())


def serve(client, stand_in):
    """Start a stand-in on the app's event loop (where the checks and the monitoring worker run)."""
    client.portal.call(stand_in.__aenter__)
    return stand_in


def stop(client, stand_in) -> None:
    client.portal.call(stand_in.__aexit__, None, None, None)


@pytest.fixture
def fronius(client):
    stand_in = serve(client, FroniusStandIn())
    yield stand_in
    stop(client, stand_in)


@pytest.fixture
def solaredge(client, app):
    vendor = serve(client, SolarEdgeStandIn())
    vendor.add(GOOD_KEY, StandInSite(SITE, batteries=[("StorEdge", "B-1", 9700.0)], battery_w=-800.0))
    app.state.settings.solaredge_api_url = vendor.base_url
    yield vendor
    stop(client, vendor)


def poll_once(client, database, cipher, minutes_on: int = 1) -> None:
    """One monitoring round, `minutes_on` minutes from now (so each round reads something new), in which
    every device is due."""
    # Vendor connectors stamp readings with the wall clock, in whole seconds: one round per second.
    time.sleep(1.01 - time.time() % 1)
    with database.session() as db:
        db.execute(update(PollState).values(next_poll_at=utcnow()))
    clock = SimulationClock.stepped(utcnow() + timedelta(minutes=minutes_on))

    async def poll() -> None:
        worker = MonitoringWorker(database, cipher, ConnectorContext(clock=clock))
        worker.load()
        await worker.poll_due()
        await worker.close()

    client.portal.call(poll)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def connected_id(client, partner, session_id: str) -> str:
    session = read_session(client, partner, session_id)
    assert session["state"] == "completed", session
    return session["object_id"]


# -- whole flows ------------------------------------------------------------------------------------------


def test_a_simulated_inverter_is_connected_then_active_after_its_first_poll(client, partner, user, database, cipher):
    session = start_onboarding(client, partner, user["id"], is_smart_optimization_active_default=True)
    walker = Walker(client, session["authentication_url"])
    status = walker.connect("solarfleet Simulator", pv_kwp="7,5", battery_kwh="10")
    assert status.status_code == 204
    done = status.headers["hx-redirect"]
    back = client.get(done, follow_redirects=False)
    assert back.status_code == 303
    assert back.headers["location"] == f"{SUCCESS_URL}&session_id={session['id']}"

    inverter_id = connected_id(client, partner, session["id"])
    device = inverter(client, partner, user["id"], inverter_id)
    assert device["lifecycle_state"] == "authenticated"
    assert device["is_authenticated"] is True
    assert device["is_smart_optimization_active"] is True
    assert device["needs_gateway"] is False
    assert device["device_model"]["manufacturer"] == "solarfleet"
    assert device["battery_capacity_kwh"] == pytest.approx(10.0)
    assert device["external_device_id"].startswith("SIM-")

    poll_once(client, database, cipher)
    device = inverter(client, partner, user["id"], inverter_id)
    assert device["lifecycle_state"] == "active"
    assert device["current_solar_production_w"] is not None

    # Single use: the link now says so, and nothing more can be done with it.
    again = client.get(walker.start)
    assert again.status_code == 410
    assert "already used" in again.text


def test_a_fronius_inverter_on_the_local_stand_in_is_connected(client, partner, user, fronius):
    session = start_onboarding(client, partner, user["id"], device_type="iv")
    walker = Walker(client, session["authentication_url"])
    walker.open()
    assert "/model" in str(walker.page.url)  # the partner chose the device type already
    walker.choose("Fronius Symo GEN24 Plus")
    assert "Solar API" in walker.page.text  # the catalogue's instructions
    walker.post("connection", host=fronius.host, device_id="1")
    assert "only reads this device" in walker.page.text  # consent names no controls for the Solar API
    walker.consent()
    status = walker.wait()
    assert status.status_code == 204, status.text
    device = inverter(client, partner, user["id"], connected_id(client, partner, session["id"]))
    assert device["needs_gateway"] is False  # solarfleet reached it itself
    assert device["external_device_id"] == "28136344"


def test_an_unreachable_local_inverter_can_be_connected_through_a_gateway(client, partner, user):
    session = start_onboarding(client, partner, user["id"])
    walker = Walker(client, session["authentication_url"])
    status = walker.connect("Fronius Symo GEN24 Plus", host=f"127.0.0.1:{closed_port()}")
    assert status.status_code == 200
    assert "could not reach the inverter" in status.text
    assert "Connect through a gateway" in status.text
    assert read_session(client, partner, session["id"])["state"] == "pending"

    walker.post("gateway", follow=False)
    device = inverter(client, partner, user["id"], connected_id(client, partner, session["id"]))
    assert device["needs_gateway"] is True
    assert device["lifecycle_state"] == "created"  # not polled until a gateway relays it
    assert device["is_authenticated"] is False
    assert device["action_needed"] is True
    assert [a["action"] for a in device["actions"]] == ["connect_gateway"]


def test_a_rejected_solaredge_key_is_explained_and_never_shown_or_logged(
    client, partner, user, solaredge, database, capfd
):
    wrong = "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"
    session = start_onboarding(client, partner, user["id"])
    walker = Walker(client, session["authentication_url"])
    walker.open()
    walker.choose("SolarEdge Home Hub")
    assert 'href="https://monitoring.solaredge.com"' in walker.page.text  # the catalogue's sign-up link

    malformed = walker.post("connection", api_key="too-short", site_id=str(SITE))
    assert malformed.status_code == 422
    assert "32 letters and digits" in malformed.text
    assert str(SITE) in malformed.text
    assert "too-short" not in malformed.text

    walker.post("connection", api_key=wrong, site_id=str(SITE))
    walker.consent()
    status = walker.wait()
    assert "refused these credentials" in status.text
    assert read_session(client, partner, session["id"])["state"] == "pending"

    walker.open(f"{walker.base}/connection")
    walker.post("connection", api_key=GOOD_KEY.lower(), site_id=str(SITE))
    walker.consent()
    assert walker.wait().status_code == 204
    inverter_id = connected_id(client, partner, session["id"])
    device = inverter(client, partner, user["id"], inverter_id)
    assert device["is_battery_connected"] is True
    assert device["battery_capacity_kwh"] == pytest.approx(9.7)

    with database.session(write=False) as db:
        stored = db.get(DeviceConnection, uuid.UUID(inverter_id)).settings_ciphertext
        pending = db.scalars(select(OnboardingSession.pending_settings_ciphertext)).all()
    assert pending == [None]  # the session no longer holds what the customer typed
    seen = [
        *walker.pages,
        stored,
        str(device),
        str(read_session(client, partner, session["id"])),
        client.get(f"{partner.base}/users/{user['id']}/inverters", headers=partner.headers).text,
        *capfd.readouterr(),
    ]
    for key in (wrong, GOOD_KEY, GOOD_KEY.lower()):
        assert not [text for text in seen if key in text]


def test_reauthentication_after_rejected_credentials_reconnects_the_same_inverter(
    client, partner, user, solaredge, database, cipher
):
    session = start_onboarding(client, partner, user["id"])
    Walker(client, session["authentication_url"]).connect("SolarEdge Home Hub", api_key=GOOD_KEY, site_id=str(SITE))
    inverter_id = connected_id(client, partner, session["id"])
    poll_once(client, database, cipher)
    assert inverter(client, partner, user["id"], inverter_id)["lifecycle_state"] == "active"

    # The customer revokes the key at SolarEdge: the next poll is refused.
    solaredge.keys.pop(GOOD_KEY)
    poll_once(client, database, cipher, minutes_on=2)
    device = inverter(client, partner, user["id"], inverter_id)
    assert device["is_authenticated"] is False
    assert device["action_needed"] is True
    [action] = device["actions"]
    assert action["action"] == "reauthenticate"
    assert action["resolution_link"] == device["authorization_url"]

    solaredge.add(NEW_KEY, solaredge.sites[SITE])
    started = client.post(
        f"{partner.base}/users/{user['id']}/inverters/{inverter_id}/auth_session",
        json={"success_url": SUCCESS_URL, "cancel_url": CANCEL_URL, "language": "en"},
        headers=partner.headers,
    ).json()
    walker = Walker(client, started["authentication_url"])
    walker.open()
    assert "/connection" in str(walker.page.url)  # the model is known: straight to the credentials
    assert f'name="site_id" type="text" value="{SITE}"' in walker.page.text  # kept; only the key is asked again
    assert 'name="api_key" type="password" value=""' in walker.page.text
    walker.post("connection", api_key=NEW_KEY, site_id=str(SITE))
    walker.consent()
    assert walker.wait().status_code == 204

    assert connected_id(client, partner, started["session_id"]) == inverter_id
    device = inverter(client, partner, user["id"], inverter_id)
    assert device["is_authenticated"] is True
    assert device["action_needed"] is False
    assert device["actions"] == []
    users_inverters = client.get(f"{partner.base}/users/{user['id']}/inverters", headers=partner.headers).json()
    assert [i["id"] for i in users_inverters] == [inverter_id]  # reconnected, not added
    with database.session(write=False) as db:
        settings = cipher.decrypt(db.get(DeviceConnection, uuid.UUID(inverter_id)).settings_ciphertext.encode())
        resolved = db.scalars(select(InverterAction.resolved_at)).all()
    assert settings["api_key"] == NEW_KEY
    assert all(resolved)

    poll_once(client, database, cipher, minutes_on=3)
    assert inverter(client, partner, user["id"], inverter_id)["lifecycle_state"] == "active"


def test_the_inverters_own_link_starts_a_reauthentication(client, partner, user):
    session = start_onboarding(client, partner, user["id"])
    Walker(client, session["authentication_url"]).connect("solarfleet Simulator", pv_kwp="5", battery_kwh="")
    inverter_id = connected_id(client, partner, session["id"])
    device = inverter(client, partner, user["id"], inverter_id)
    assert device["battery_capacity_kwh"] is None
    assert device["is_battery_connected"] is False

    walker = Walker(client, device["authorization_url"])
    landing = walker.open()
    assert "Reconnect your solarfleet Simulator" in landing.text
    assert landing.headers["content-security-policy"].endswith("frame-ancestors 'none'")
    walker.post("", follow=True)
    assert "/connection" in str(walker.page.url)
    walker.post("connection", pv_kwp="6", battery_kwh="8")
    walker.consent()
    assert walker.wait().status_code == 204
    finished = client.get(walker.wait().headers["hx-redirect"])
    assert "Your device is connected" in finished.text  # no partner page to return to: our own
    device = inverter(client, partner, user["id"], inverter_id)
    assert device["battery_capacity_kwh"] == pytest.approx(8.0)

    forged = device["authorization_url"][:-3] + "AAA"
    assert client.get(forged).status_code == 404


# -- web security ------------------------------------------------------------------------------------------


def test_forms_need_the_sessions_token_and_a_same_site_origin(client, partner, user):
    session = start_onboarding(client, partner, user["id"])
    walker = Walker(client, session["authentication_url"])
    walker.open()
    path = f"{walker.base}/type"
    assert client.post(path, data={"device_type": "iv"}).status_code == 403
    assert client.post(path, data={"device_type": "iv", "csrf_token": "x" * 43}).status_code == 403
    assert client.post(path, data={"device_type": "iv", "csrf_token": "é" * 43}).status_code == 403
    other = start_onboarding(client, partner, user["id"])
    other_walker = Walker(client, other["authentication_url"])
    other_walker.open()
    assert client.post(path, data={"device_type": "iv", "csrf_token": other_walker.csrf}).status_code == 403
    token = walker.csrf
    cross_site = {"Sec-Fetch-Site": "cross-site"}
    refused = client.post(path, data={"device_type": "iv", "csrf_token": token}, headers=cross_site)
    assert refused.status_code == 403
    assert "could not be accepted" in refused.text
    assert client.post(f"{walker.base}/cancel", data={"csrf_token": token}, headers=cross_site).status_code == 403
    assert read_session(client, partner, session["id"])["state"] == "pending"
    walker.open()
    assert walker.post("type", follow=False, device_type="iv").status_code == 303


def test_pages_send_security_headers(client, partner, user):
    session = start_onboarding(client, partner, user["id"])
    page = Walker(client, session["authentication_url"]).open()
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "form-action 'self' https://partner.example" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    script = client.get("/connect/static/htmx.min.js")
    assert script.status_code == 200
    assert script.headers["x-content-type-options"] == "nosniff"


def test_the_embeddable_page_may_be_framed_by_the_organisations_origins_only(client, partner, user):
    device = client.post(f"{partner.base}/users/{user['id']}/inverters", json={}, headers=partner.headers).json()
    embed = client.get(device["embeddable_url"])
    assert "frame-ancestors 'none'" in embed.headers["content-security-policy"]

    origins = ["https://app.partner.example", "https://partner.example"]
    client.put(f"{partner.base}/connect-ui", json={"allowed_frame_origins": origins}, headers=partner.headers)
    embed = client.get(device["embeddable_url"])
    assert embed.status_code == 200
    assert (
        "frame-ancestors https://app.partner.example https://partner.example"
        in embed.headers["content-security-policy"]
    )
    assert "x-frame-options" not in embed.headers  # it could only forbid every origin
    assert 'class="brand"' not in embed.text  # no surrounding chrome

    walker = Walker(client, device["embeddable_url"])
    walker.open()
    walker.post("", follow=True)
    assert "frame-ancestors https://app.partner.example" in walker.page.headers["content-security-policy"]
    assert 'class="brand"' not in walker.page.text
    hosted = client.get(device["authorization_url"])
    assert "frame-ancestors 'none'" in hosted.headers["content-security-policy"]
    assert hosted.headers["x-frame-options"] == "DENY"


def test_an_international_return_address_is_named_in_ascii_in_the_policy(client, partner, user):
    success = "https://bücher.example/zurück?x=ä"
    session = start_onboarding(client, partner, user["id"], success_url=success)
    assert session["success_url"] == success  # stored and returned as given
    page = Walker(client, session["authentication_url"]).open()
    assert page.status_code == 200
    assert (
        "form-action 'self' https://xn--bcher-kva.example https://partner.example"
        in page.headers["content-security-policy"]
    )


def test_cancel_returns_to_the_cancel_url_with_the_session_id(client, partner, user):
    session = start_onboarding(client, partner, user["id"])
    walker = Walker(client, session["authentication_url"])
    walker.open()
    response = walker.post("cancel", follow=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{CANCEL_URL}?session_id={session['id']}"
    assert read_session(client, partner, session["id"])["state"] == "cancelled"
    assert client.get(walker.start).status_code == 410


def test_expired_and_unknown_links_show_clear_pages(client, partner, user, database):
    session = start_onboarding(client, partner, user["id"], language="de")
    with database.session() as db:
        db.execute(update(OnboardingSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = client.get(Walker(client, session["authentication_url"]).start)
    assert expired.status_code == 410
    assert "abgelaufen" in expired.text
    assert read_session(client, partner, session["id"])["state"] == "expired"

    unknown = client.get(f"/connect/s/{uuid.uuid4()}/{'A' * 22}")
    assert unknown.status_code == 404
    assert client.get(f"/connect/s/{session['id']}/{'é' * 22}").status_code == 404
    assert client.get(f"/connect/d/{uuid.uuid4()}/é").status_code == 404
    tampered = re.sub(r"/[^/]+$", "/" + "B" * 22, Walker(client, session["authentication_url"]).start)
    assert client.get(tampered).status_code == 404


def test_details_typed_into_a_session_that_expired_are_forgotten(client, partner, user, database):
    expired = Walker(client, start_onboarding(client, partner, user["id"])["authentication_url"])
    expired.open()
    expired.choose("solarfleet Simulator")
    expired.post("connection", pv_kwp="5", battery_kwh="")
    live = Walker(client, start_onboarding(client, partner, user["id"])["authentication_url"])
    live.open()
    live.choose("solarfleet Simulator")
    live.post("connection", pv_kwp="6", battery_kwh="")
    with database.session() as db:
        db.execute(
            update(OnboardingSession)
            .where(OnboardingSession.id == uuid.UUID(expired.base.split("/")[3]))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )

    assert forget_expired_details(database, utcnow()) == 1

    with database.session(write=False) as db:
        kept = dict(db.execute(select(OnboardingSession.id, OnboardingSession.pending_settings_ciphertext)).all())
    assert kept[uuid.UUID(expired.base.split("/")[3])] is None
    assert kept[uuid.UUID(live.base.split("/")[3])] is not None


def test_the_session_language_is_spoken_and_others_fall_back_to_english(client, partner, user):
    german = Walker(client, start_onboarding(client, partner, user["id"], language="de")["authentication_url"])
    page = german.open()
    assert '<html lang="de">' in page.text
    assert "Was möchten Sie verbinden?" in page.text
    swedish = Walker(client, start_onboarding(client, partner, user["id"], language="sv")["authentication_url"])
    page = swedish.open()
    assert '<html lang="en">' in page.text
    assert "What would you like to connect?" in page.text


@pytest.mark.parametrize(
    ("fields", "wrong"),
    [
        ({"pv_kwp": "abc", "battery_kwh": ""}, "pv_kwp"),
        ({"pv_kwp": "-1", "battery_kwh": ""}, "pv_kwp"),
        ({"pv_kwp": "nan", "battery_kwh": ""}, "pv_kwp"),
        ({"pv_kwp": "5", "battery_kwh": "-5"}, "battery_kwh"),
        ({"pv_kwp": "5", "battery_kwh": "900"}, "battery_kwh"),
        ({"pv_kwp": "", "battery_kwh": "5"}, "pv_kwp"),
    ],
)
def test_impossible_home_sizes_are_refused_at_their_field(client, partner, user, fields, wrong):
    walker = Walker(client, start_onboarding(client, partner, user["id"], device_type="iv")["authentication_url"])
    walker.open()
    walker.choose("solarfleet Simulator")
    response = walker.post("connection", **fields)
    assert response.status_code == 422
    assert re.search(rf'id="{wrong}-error"', response.text), response.text


def test_a_model_without_a_connector_cannot_be_chosen(client, partner, user):
    walker = Walker(client, start_onboarding(client, partner, user["id"], device_type="iv")["authentication_url"])
    walker.open()
    assert "Not supported yet" in walker.page.text
    huawei = walker.models()["Huawei SUN2000 with LUNA2000"]
    response = walker.post("model", follow=False, device_model_id=huawei)
    assert response.status_code == 422
    filtered = client.get(
        f"{walker.base}/model?manufacturer=SolarEdge", headers={"HX-Request": "true", "HX-Target": "models"}
    )
    assert filtered.text.lstrip().startswith('<fieldset id="models"')
    assert "SolarEdge Home Hub" in filtered.text
    assert "Fronius" not in filtered.text


FORM_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)


@examples(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    model=st.sampled_from(
        ["solarfleet Simulator", "SolarEdge Home Hub", "Fronius Symo GEN24 Plus", "SMA Sunny Tripower Smart Energy"]
    ),
    step=st.sampled_from(["type", "model", "connection", "consent", "retry", "gateway"]),
    fields=st.dictionaries(
        st.sampled_from(
            [
                *("device_type", "device_model_id", "manufacturer", "consent", "pv_kwp", "battery_kwh", "api_key"),
                *("site_id", "host", "device_id", "port", "unit_id", "lang"),
            ]
        ),
        FORM_TEXT,
        max_size=6,
    ),
)
def test_no_form_a_customer_can_send_makes_a_step_fail(client, partner, user, model, step, fields):
    walker = Walker(client, start_onboarding(client, partner, user["id"], device_type="iv")["authentication_url"])
    walker.open()
    walker.choose(model)
    response = walker.post(step, follow=False, **fields)
    assert response.status_code in (200, 303, 403, 422), response.text
