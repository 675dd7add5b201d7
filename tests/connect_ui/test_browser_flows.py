"""The Connect UI in a real browser: a customer on a phone clicks and types through it, from the partner's link
to the partner's success page, while htmx follows the device check.

The app is served by a live server on a loopback port (its own event loop runs the checks); the partner's
success page is a route added to the same app, and the vendor stand-ins run on an event loop of their own in
a background thread: Playwright's sync API marks a loop as running on the test thread (see browser.py).
Every step is screenshotted to test-artifacts/<test name>/.
"""

from __future__ import annotations

import asyncio
import html
import re
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from playwright.sync_api import Page, Route, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from browser import BROWSER_GROUP, PHONE, LiveServer
from conftest import Partner, basic_auth, create_user
from connect_ui.sessions import inverter, read_session, start_onboarding
from solarfleet.database import Database
from solarfleet.onboarding.device_check import DeviceChecks
from solarfleet.organisations.service import create_organisation
from stand_ins.fronius import FroniusStandIn
from stand_ins.solaredge import SolarEdgeStandIn, StandInSite

# One browser worker (loadgroup), and SQLite only: the PostgreSQL half adds time and no browser behaviour.
pytestmark = [BROWSER_GROUP, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]

SITE = 2417
GOOD_KEY = "L4QLVQ1LOKCQX2193VSEICXW61NP6B1O"
NEW_KEY = "Q8ZP3N2W7XK5M4R1T6Y9B0C3V8D2F7HJ"

Shots = Callable[[str], Path]


# -- the partner's side ------------------------------------------------------------------------------------


def _partner_page(title: str) -> Callable[[Request], HTMLResponse]:
    def page(request: Request) -> HTMLResponse:
        query = html.escape(request.url.query)
        return HTMLResponse(
            "<!doctype html><html><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>Partner · {title}</title></head>"
            f"<body><h1>{title}</h1><p>Back at the partner's app.</p><p id='query'>{query}</p></body></html>"
        )

    return page


class HeldChecks:
    """The app's device checks, each held until the test lets one go.

    A real device takes seconds to read; the local stand-ins and the simulator answer in milliseconds, so a
    check could finish before the browser has even loaded the check page. Held, every flow shows the check
    page first (and it can be screenshotted), then the check runs as the app runs it."""

    def __init__(self, checks: DeviceChecks) -> None:
        self._checks = checks
        self._allowed = 0
        self._lock = threading.Lock()
        self._held: set[asyncio.Task] = set()

    def release(self) -> None:
        """Let the next (or the waiting) check run."""
        with self._lock:
            self._allowed += 1

    def _take(self) -> bool:
        with self._lock:
            if not self._allowed:
                return False
            self._allowed -= 1
            return True

    async def start(self, session_id: uuid.UUID) -> None:
        async def when_released() -> None:
            # Not released in time (a test that failed): the check runs anyway, as it would unheld.
            for _ in range(500):
                if self._take():
                    break
                await asyncio.sleep(0.02)
            await self._checks.start(session_id)

        task = asyncio.get_running_loop().create_task(when_released())
        self._held.add(task)
        task.add_done_callback(self._held.discard)

    async def close(self) -> None:
        for task in list(self._held):
            task.cancel()
        await asyncio.gather(*list(self._held), return_exceptions=True)
        await self._checks.close()


@dataclass
class Site:
    """The live app, a partner's API client on it, and one of the partner's users."""

    url: str
    app: FastAPI
    http: httpx.Client
    partner: Partner
    user: dict
    checks: HeldChecks

    @property
    def success_url(self) -> str:
        return f"{self.url}/partner/done?tab=energy"

    @property
    def cancel_url(self) -> str:
        return f"{self.url}/partner/devices"

    def start(self, **fields) -> dict:
        """An onboarding session, as the partner starts it."""
        return start_onboarding(
            self.http,
            self.partner,
            self.user["id"],
            success_url=self.success_url,
            cancel_url=self.cancel_url,
            **fields,
        )

    def inverter(self, inverter_id: str) -> dict:
        return inverter(self.http, self.partner, self.user["id"], inverter_id)

    def connected_id(self, session_id: str) -> str:
        session = read_session(self.http, self.partner, session_id)
        assert session["state"] == "completed", session
        return session["object_id"]


def _partner_over_http(http: httpx.Client, database: Database) -> Partner:
    with database.session() as session:
        issued = create_organisation(session, f"Sunny Energy {uuid.uuid4().hex[:4]}")
    response = http.post(
        "/oauth2/token/",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(issued.client_id, issued.client_secret),
    )
    assert response.status_code == 200, response.text
    return Partner(str(issued.org_id), issued.client_id, issued.client_secret, response.json()["access_token"])


@pytest.fixture
def site(app, database) -> Iterator[Site]:
    app.add_api_route("/partner/done", _partner_page("Connected"), include_in_schema=False)
    app.add_api_route("/partner/devices", _partner_page("Devices"), include_in_schema=False)
    checks = app.state.device_checks = HeldChecks(app.state.device_checks)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        partner = _partner_over_http(http, database)
        user = create_user(http, partner, first_name="Anna", last_name="Gruber")
        yield Site(server.url, app, http, partner, user, checks)


# -- stand-ins on a loop of their own ----------------------------------------------------------------------


class BackgroundLoop:
    """An event loop running in a daemon thread, for the span of a `with` block."""

    def __enter__(self) -> BackgroundLoop:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="stand-in-loop", daemon=True)
        self._thread.start()
        return self

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def __exit__(self, *exc_info: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@contextmanager
def served(stand_in):
    """`async with stand_in`, on a background loop: the stand-in serves while the block runs."""
    with BackgroundLoop() as background:
        background.run(stand_in.__aenter__())
        try:
            yield stand_in
        finally:
            background.run(stand_in.__aexit__(None, None, None))


@pytest.fixture
def fronius() -> Iterator[FroniusStandIn]:
    with served(FroniusStandIn()) as stand_in:
        yield stand_in


@pytest.fixture
def solaredge(site) -> Iterator[SolarEdgeStandIn]:
    with served(SolarEdgeStandIn()) as vendor:
        vendor.add(GOOD_KEY, StandInSite(SITE, batteries=[("StorEdge", "B-1", 9700.0)], battery_w=-800.0))
        site.app.state.settings.solaredge_api_url = vendor.base_url
        yield vendor


# -- what a customer does ----------------------------------------------------------------------------------


def fits_the_phone(page: Page) -> None:
    """No sideways scrolling, and the page's main button (if it has one) lies within the screen's width."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
    primary = page.locator("button.primary")
    if primary.count():
        box = primary.first.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE["width"]
        assert box["height"] >= 44  # a thumb's target


def step_of(page: Page) -> str:
    return page.url.rsplit("/", 1)[-1]


def press(page: Page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()


def choose_model(page: Page, model: str) -> None:
    page.locator("label.choice", has_text=model).click()
    expect(page.get_by_role("radio", name=model)).to_be_checked()


def agree_and_check(page: Page) -> None:
    """Consent; once the browser shows the check page, the check runs."""
    page.get_by_role("checkbox").check()
    press(page, "Agree and connect")
    page.wait_for_url("**/check")
    expect(page.get_by_role("heading", name="Checking your device")).to_be_visible()
    expect(page.locator(".working")).to_be_visible()


def agree_and_wait_for_partner(page: Page, site: Site, shots: Shots, record: bool = True) -> None:
    """Consent, watch the check page until htmx sends the browser on, land on the partner's success page.

    `record`: screenshot each step (a page that never leads on is screenshotted in any case)."""
    page.get_by_role("checkbox").check()
    fits_the_phone(page)
    if record:
        shots("consent")
    agree_and_check(page)
    fits_the_phone(page)
    if record:
        shots("checking")
    site.checks.release()
    try:
        page.wait_for_url(f"{site.url}/partner/done?**")
    except PlaywrightTimeoutError:
        shots("stuck")
        raise AssertionError(f"stuck at {page.url}: {page.locator('body').inner_text()!r}") from None
    expect(page.get_by_role("heading", name="Connected")).to_be_visible()
    if record:
        shots("partner-success")


# -- whole flows -------------------------------------------------------------------------------------------


def test_a_customer_connects_a_simulated_inverter_on_a_phone(site, page, screenshots):
    session = site.start()
    page.goto(session["authentication_url"])
    assert step_of(page) == "type"
    expect(page.get_by_role("heading", name="What would you like to connect?")).to_be_visible()
    expect(page.get_by_role("radio", name="Solar inverter")).to_be_checked()
    fits_the_phone(page)
    screenshots("device-type")
    press(page, "Continue")

    page.wait_for_url("**/model")
    models = page.locator("#models label.choice")
    everyone = models.count()
    assert everyone > 1
    # htmx swaps the list in place: the same document (its marker survives), the same address.
    model_url = page.url
    page.evaluate("window.beforeFilter = true")
    page.select_option("#manufacturer", "solarfleet")
    expect(models).to_have_count(1)
    expect(models).to_have_text(re.compile(r"^\s*solarfleet Simulator\s*$"))
    page.select_option("#manufacturer", "")  # all manufacturers again
    expect(models).to_have_count(everyone)
    page.select_option("#manufacturer", "solarfleet")
    expect(models).to_have_count(1)
    assert page.url == model_url
    assert page.evaluate("window.beforeFilter === true"), "selecting a manufacturer reloaded the page"
    choose_model(page, "solarfleet Simulator")
    fits_the_phone(page)
    screenshots("model")
    press(page, "Continue")

    page.wait_for_url("**/connection")
    expect(page.get_by_role("heading", name="Connect your solarfleet Simulator")).to_be_visible()
    pv = page.get_by_label("Peak power of the PV system (kWp)")
    battery = page.get_by_label("Battery capacity (kWh)")
    expect(pv).to_have_value("6")  # the form's defaults
    expect(battery).to_have_value("10")
    pv.fill("7,5")  # a decimal comma, as a German keyboard types it
    battery.fill("12")
    fits_the_phone(page)
    screenshots("connection")
    press(page, "Continue")

    page.wait_for_url("**/consent")
    expect(page.get_by_role("heading", name="Your consent")).to_be_visible()
    expect(page.get_by_text("charge the battery, also from the grid when power is cheap")).to_be_visible()
    agree_and_wait_for_partner(page, site, screenshots)
    expect(page.locator("#query")).to_have_text(f"tab=energy&session_id={session['id']}")
    fits_the_phone(page)

    device = site.inverter(site.connected_id(session["id"]))
    assert device["lifecycle_state"] == "authenticated"
    assert device["is_authenticated"] is True
    assert device["needs_gateway"] is False
    assert device["device_model"]["model"] == "Simulator"
    assert device["battery_capacity_kwh"] == pytest.approx(12.0)

    # The link was used: opened again, it says so.
    page.goto(session["authentication_url"])
    expect(page.get_by_role("heading", name="This link was already used")).to_be_visible()


def test_a_customer_connects_a_fronius_inverter_on_the_home_network(site, page, screenshots, fronius):
    session = site.start(device_type="iv")
    page.goto(session["authentication_url"])
    assert step_of(page) == "model"  # the partner chose the device type already
    expect(page.get_by_role("heading", name="Which inverter do you have?")).to_be_visible()
    screenshots("model-list")
    choose_model(page, "Fronius Symo GEN24 Plus")
    fits_the_phone(page)
    screenshots("model")
    press(page, "Continue")

    page.wait_for_url("**/connection")
    expect(page.get_by_text("Communication → Solar API")).to_be_visible()  # the catalogue's instructions
    expect(page.get_by_label("Solar Net device id")).to_have_value("1")
    page.get_by_label("Local address of the inverter").fill(fronius.host)
    fits_the_phone(page)
    screenshots("connection")
    press(page, "Continue")

    page.wait_for_url("**/consent")
    expect(page.get_by_text("solarfleet only reads this device; it sends it no commands.")).to_be_visible()
    agree_and_wait_for_partner(page, site, screenshots)

    device = site.inverter(site.connected_id(session["id"]))
    assert device["is_authenticated"] is True
    assert device["needs_gateway"] is False  # solarfleet reached it itself
    assert device["external_device_id"] == "28136344"
    assert any(path.startswith("/solar_api/v1/") for path in fronius.requests)


def test_reauthentication_shows_a_refused_key_then_reconnects_the_same_inverter(site, page, screenshots, solaredge):
    # Connected once with a key that works.
    first = site.start(device_type="iv")
    page.goto(first["authentication_url"])
    choose_model(page, "SolarEdge Home Hub")
    press(page, "Continue")
    page.wait_for_url("**/connection")
    page.get_by_label("API key").fill(GOOD_KEY)
    page.get_by_label("Site id").fill(str(SITE))
    press(page, "Continue")
    page.wait_for_url("**/consent")
    agree_and_wait_for_partner(page, site, screenshots, record=False)
    inverter_id = site.connected_id(first["id"])

    # The customer replaced the key at SolarEdge; the partner starts a re-authentication.
    solaredge.keys.pop(GOOD_KEY)
    solaredge.add(NEW_KEY, solaredge.sites[SITE])
    response = site.http.post(
        f"{site.partner.base}/users/{site.user['id']}/inverters/{inverter_id}/auth_session",
        json={"success_url": site.success_url, "cancel_url": site.cancel_url, "language": "en"},
        headers=site.partner.headers,
    )
    assert response.status_code == 201, response.text
    started = response.json()
    assert started["device_id"] == inverter_id

    page.goto(started["authentication_url"])
    assert step_of(page) == "connection"  # the model is known: straight to the credentials
    expect(page.get_by_role("heading", name="Connect your SolarEdge Home Hub")).to_be_visible()
    expect(page.get_by_label("API key")).to_have_value("")  # a secret is never written back
    page.get_by_label("API key").fill(GOOD_KEY)  # the old key, which SolarEdge now refuses
    page.get_by_label("Site id").fill(str(SITE))
    fits_the_phone(page)
    screenshots("connection")
    press(page, "Continue")
    page.wait_for_url("**/consent")
    page.get_by_role("checkbox").check()
    screenshots("consent")
    agree_and_check(page)
    site.checks.release()
    refused = page.get_by_role("alert")
    expect(refused).to_contain_text("The manufacturer refused these credentials.")
    expect(page.get_by_role("button", name="Try again")).to_be_visible()
    expect(page.get_by_role("button", name="Connect through a gateway")).to_have_count(0)  # a cloud service
    assert GOOD_KEY not in page.content()
    fits_the_phone(page)
    screenshots("connection-refused-key")
    assert read_session(site.http, site.partner, started["session_id"])["state"] == "pending"

    # Refused details: changing them is the first thing offered; the site id is kept, the key is not.
    page.get_by_role("link", name="Change the connection details").click()
    page.wait_for_url("**/connection")
    expect(page.get_by_label("Site id")).to_have_value(str(SITE))
    expect(page.get_by_label("API key")).to_have_value("")
    page.get_by_label("API key").fill(NEW_KEY)
    screenshots("connection-new-key")
    press(page, "Continue")
    page.wait_for_url("**/consent")
    agree_and_wait_for_partner(page, site, screenshots)
    expect(page.locator("#query")).to_contain_text(f"session_id={started['session_id']}")

    assert site.connected_id(started["session_id"]) == inverter_id
    device = site.inverter(inverter_id)
    assert device["is_authenticated"] is True
    assert device["action_needed"] is False
    users_inverters = site.http.get(
        f"{site.partner.base}/users/{site.user['id']}/inverters", headers=site.partner.headers
    )
    assert [i["id"] for i in users_inverters.json()] == [inverter_id]  # reconnected, not added


def test_a_german_session_speaks_german_up_to_the_consent(site, page, screenshots):
    session = site.start(language="de")
    page.goto(session["authentication_url"])
    assert page.locator("html").get_attribute("lang") == "de"
    expect(page.get_by_role("heading", name="Was möchten Sie verbinden?")).to_be_visible()
    expect(page.get_by_text("PV-Wechselrichter")).to_be_visible()
    expect(page.get_by_text("Ihre Zugangsdaten werden verschlüsselt gespeichert")).to_be_visible()
    fits_the_phone(page)
    screenshots("geraeteart")
    press(page, "Weiter")

    page.wait_for_url("**/model")
    expect(page.get_by_role("heading", name="Welchen Wechselrichter haben Sie?")).to_be_visible()
    expect(page.get_by_label("Hersteller")).to_contain_text("Alle Hersteller")
    expect(page.get_by_text("Noch nicht unterstützt").first).to_be_visible()
    choose_model(page, "solarfleet Simulator")
    fits_the_phone(page)
    screenshots("modell")
    press(page, "Weiter")

    page.wait_for_url("**/connection")
    expect(page.get_by_role("heading", name="solarfleet Simulator verbinden")).to_be_visible()
    expect(page.get_by_text("So finden Sie diese Angaben")).to_be_visible()
    page.get_by_label("Spitzenleistung der PV-Anlage (kWp)").fill("")
    press(page, "Weiter")
    # Left empty: the form comes back with the German error beside the field.
    expect(page.get_by_role("alert")).to_have_text("Bitte füllen Sie dieses Feld aus.")
    fits_the_phone(page)
    screenshots("pflichtfeld")
    page.get_by_label("Spitzenleistung der PV-Anlage (kWp)").fill("5,2")
    page.get_by_label("Batteriekapazität (kWh)").fill("")
    screenshots("verbindung")
    press(page, "Weiter")

    page.wait_for_url("**/consent")
    expect(page.get_by_role("heading", name="Ihre Einwilligung")).to_be_visible()
    expect(page.get_by_text("den Ladezustand Ihrer Batterie")).to_be_visible()
    expect(page.get_by_role("button", name="Zustimmen und verbinden")).to_be_visible()
    expect(page.get_by_role("button", name="Abbrechen")).to_be_visible()
    fits_the_phone(page)
    screenshots("einwilligung")
    assert read_session(site.http, site.partner, session["id"])["state"] == "pending"


def test_a_check_that_finishes_before_its_page_loads_still_leads_to_the_partner(site, page, screenshots):
    """A fast device, or a slow phone: the check completes the session before the browser follows the consent's
    redirect to the check page."""
    session = site.start(device_type="iv")
    page.goto(session["authentication_url"])
    choose_model(page, "solarfleet Simulator")
    press(page, "Continue")
    page.wait_for_url("**/connection")
    press(page, "Continue")  # the form's defaults
    page.wait_for_url("**/consent")

    def after_the_check(route: Route) -> None:
        # The consent is sent; its redirect reaches the browser only once the check has connected the device.
        response = route.fetch(max_redirects=0)
        site.checks.release()
        deadline = time.monotonic() + 10
        while read_session(site.http, site.partner, session["id"])["state"] != "completed":
            assert time.monotonic() < deadline, "the check did not finish"
            time.sleep(0.05)
        route.fulfill(response=response)

    page.route(
        re.compile(r"/consent$"),
        lambda route: after_the_check(route) if route.request.method == "POST" else route.continue_(),
    )
    page.get_by_role("checkbox").check()
    press(page, "Agree and connect")
    page.wait_for_url(re.compile(r"/check$|/partner/done"))
    screenshots("check-page-after-the-check")
    assert not page.get_by_role("heading", name="This link was already used").count(), page.locator("main").inner_text()
    page.wait_for_url(f"{site.url}/partner/done?**")
