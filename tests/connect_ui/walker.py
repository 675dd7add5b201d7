"""A customer's browser without a browser: walks the Connect UI over the app's test client.

Every form is posted with the CSRF token the last page carried, as a browser would; `wait` lets the
background check of the device finish on the app's event loop.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
MODEL = re.compile(r'name="device_model_id" value="([^"]+)"[^>]*>\s*<span><strong>([^<]+)</strong>')


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Walker:
    def __init__(self, client: TestClient, url: str) -> None:
        self.client = client
        self.start = path_of(url)
        self.base = self.start
        self.page = None
        self.pages: list[str] = []  # every page's HTML, to check nothing secret was shown

    def _keep(self, response):
        if response.headers.get("content-type", "").startswith("text/html"):
            self.page = response
            self.pages.append(response.text)
        return response

    def open(self, path: str | None = None):
        response = self._keep(self.client.get(path or self.start, follow_redirects=True))
        # A device link leads on to a session: its address is the base of every step from then on.
        match = re.match(r"(/connect/s/[^/]+/[^/]+)", urlsplit(str(response.url)).path)
        if match:
            self.base = match.group(1)
        return response

    @property
    def csrf(self) -> str:
        return CSRF.search(self.page.text).group(1)

    def post(self, step: str, follow: bool = True, headers: dict[str, str] | None = None, **fields):
        data = {"csrf_token": self.csrf, **fields}
        url = f"{self.base}/{step}" if step else self.base
        response = self.client.post(url, data=data, follow_redirects=False, headers=headers)
        if follow and response.status_code == 303 and response.headers["location"].startswith("/connect/"):
            return self.open(response.headers["location"])
        return self._keep(response)

    def models(self) -> dict[str, str]:
        """Model name → id on the model page."""
        return {name.strip(): model_id for model_id, name in MODEL.findall(self.page.text)}

    def choose(self, model_name: str):
        if "/type" in str(self.page.url):
            self.post("type", device_type="iv")
        return self.post("model", device_model_id=self.models()[model_name])

    def consent(self):
        return self.post("consent", follow=False, consent="yes")

    def wait(self):
        """Let the device check that consent started finish, then show its outcome."""
        self.client.portal.call(self.client.app.state.device_checks.idle)
        return self.client.get(f"{self.base}/check/status")

    def connect(self, model_name: str, **fields):
        """From the start to the check's outcome, for one model and its connection details."""
        self.open()
        self.choose(model_name)
        response = self.post("connection", **fields)
        assert "/consent" in str(response.url), response.text
        assert self.consent().status_code == 303
        return self.wait()
