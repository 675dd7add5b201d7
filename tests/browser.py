"""Browser tests: Debian's Chromium, headless, driven by Playwright against an app served on a loopback port.

A plugin (`pytest_plugins` in conftest.py), so its fixtures reach every test; a test module imports the rest,
as `from browser import BROWSER_GROUP, LiveServer`, and marks itself `pytestmark = BROWSER_GROUP`.

Playwright's sync API marks its event loop as running on the test thread from its first call until it
stops, and `asyncio.run()` refuses to start then. So `browser` lives for one module, not the session:
a later module's tests on the same xdist worker run with no loop marked. Keep async tests out of browser
modules.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Self

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright
from starlette.types import ASGIApp

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PHONE: ViewportSize = {"width": 390, "height": 844}
# One worker runs all browser tests under `--dist loadgroup`: one Chromium at a time, started once per module.
BROWSER_GROUP = pytest.mark.xdist_group("browser")
# The closed network here refuses Chromium's own background connections (updates, sync, QUIC probes);
# without these it waits on them. No sandbox: tests run as root in containers, where it cannot start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("SOLARFLEET_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        pytest.skip("no Chromium: Debian's chromium package could not be installed (see scripts/ensure-chromium)")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(request, browser) -> Iterator[Page]:
    """A page in a context of its own (no cookies or storage shared between tests), phone-sized unless the
    test passes another viewport: `@pytest.mark.parametrize("page", [{"width": 1280, "height": 800}], indirect=True)`.
    """
    context = browser.new_context(viewport=getattr(request, "param", PHONE), device_scale_factor=1)
    # Everything is local: a wait longer than this is a failure, and Playwright's 30 s would only delay the report.
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


@pytest.fixture
def screenshots(request, page) -> Callable[[str], Path]:
    """`screenshots("step")` saves the whole page as test-artifacts/<test name>/NN-step.png, numbered in call order,
    and returns the path."""
    directory = ARTIFACTS / _file_name(request.node.name)
    # An earlier run's shots would interleave with this run's numbering.
    shutil.rmtree(directory, ignore_errors=True)
    numbers = itertools.count(1)

    def take(step: str) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{next(numbers):02d}-{_file_name(step)}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return take


class LiveServer:
    """Serves an ASGI app with uvicorn on a free loopback port, in a thread, for the span of a `with` block.

    uvicorn gets a socket already bound to port 0, so the port it serves is known without a race for it."""

    url: str

    def __init__(self, app: ASGIApp, startup_timeout: float = 10.0) -> None:
        # No log config: uvicorn's own would replace the test process's logging. No access log: it would print
        # query parameters (tokens), as in stand_ins/loopback.py. A request still open at the end gets 1 s.
        config = uvicorn.Config(
            app, log_config=None, log_level="warning", access_log=False, timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._startup_timeout = startup_timeout

    def __enter__(self) -> Self:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        # A daemon thread, so that a server that never stops cannot keep the test process alive.
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="live-server", daemon=True
        )
        self._thread.start()
        # `started` is set once the app's lifespan has started and the socket listens.
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"the live server at {self.url} did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
