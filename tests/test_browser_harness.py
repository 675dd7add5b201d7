"""The browser harness itself: Chromium loads a page from a live server, runs its script, and screenshots it."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import solarfleet
from browser import BROWSER_GROUP, LiveServer

pytestmark = BROWSER_GROUP

VENDORED = Path(solarfleet.__file__).parent / "onboarding" / "static"

PAGE = """<!doctype html>
<html><head><title>Harness</title></head>
<body><button id="press">Press</button><p id="status">Waiting</p><script src="/static/press.js"></script></body></html>
"""
PRESS_JS = 'document.getElementById("press").addEventListener("click", () => {'
PRESS_JS += ' document.getElementById("status").textContent = "Pressed"; });'

HTMX_PAGE = """<!doctype html>
<html><head><title>htmx</title><script src="/vendored/htmx.min.js"></script></head>
<body><button hx-get="/fragment" hx-target="#status">Load</button><p id="status">Waiting</p></body></html>
"""


def harness_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/", lambda _: HTMLResponse(PAGE)),
            # Served from a path of its own, as the app's scripts are: no inline script.
            Route("/static/press.js", lambda _: Response(PRESS_JS, media_type="text/javascript")),
            Route("/htmx", lambda _: HTMLResponse(HTMX_PAGE)),
            Route("/fragment", lambda _: PlainTextResponse("Swapped by htmx")),
            Mount("/vendored", StaticFiles(directory=VENDORED)),
        ]
    )


def test_a_click_runs_the_served_script_and_a_screenshot_is_saved(page, screenshots):
    with LiveServer(harness_app()) as server:
        page.goto(server.url)
        expect(page.locator("#status")).to_have_text("Waiting")
        before = screenshots("before click")
        page.click("#press")
        expect(page.locator("#status")).to_have_text("Pressed")
        after = screenshots("after click")

    assert before.name == "01-before-click.png"
    assert after.name == "02-after-click.png"
    assert after.parent.name == "test_a_click_runs_the_served_script_and_a_screenshot_is_saved"
    for shot in (before, after):
        assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # Stopped: the port no longer answers.
    address = urlsplit(server.url)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address.hostname, address.port), timeout=1)


def test_the_vendored_htmx_swaps_a_fragment_in(page):
    with LiveServer(harness_app()) as server:
        page.goto(f"{server.url}/htmx")
        page.click("button")
        expect(page.locator("#status")).to_have_text("Swapped by htmx")
