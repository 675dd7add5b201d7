"""The Connect UI: server-rendered pages (Jinja2, enhanced by htmx) where a customer connects a device.

Addresses are signed (`links.py`); every form carries the session's CSRF token and is refused when a
browser says it was sent from another site. Each page sends its own Content-Security-Policy: scripts and
styles from this server only, forms only to this server and the partner's return addresses, and framing
by nobody, except the embeddable pages, which the organisation's allowed origins may frame.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select

from solarfleet.api.dependencies import DbSession, Links
from solarfleet.catalogue.models import DeviceModel
from solarfleet.connectors.base import ControlMode, Quantity
from solarfleet.connectors.registry import connector_kind
from solarfleet.database import utcnow
from solarfleet.inverters.models import Inverter
from solarfleet.onboarding import flow
from solarfleet.onboarding.device_check import CheckFailure
from solarfleet.onboarding.i18n import N_, shown_language, translations
from solarfleet.onboarding.links import CONNECT_PREFIX, ConnectLinks, origin_of, with_session_id
from solarfleet.onboarding.models import STATE_CHECKING, STATE_COMPLETED, STATE_PENDING, OnboardingSession
from solarfleet.onboarding.schemas import Language
from solarfleet.onboarding.service import frame_origins
from solarfleet.organisations.models import Organisation
from solarfleet.prices.zones import ZONES, PriceZone

HERE = Path(__file__).parent
STATIC_PATH = f"{CONNECT_PREFIX}/static"

router = APIRouter(prefix=CONNECT_PREFIX, include_in_schema=False)

# What every device is read for, and what each control means to a customer, in the consent page's words.
READ_QUANTITIES = {
    Quantity.SOLAR_PRODUCTION_W: N_("the power your solar panels produce"),
    Quantity.POWER_TO_GRID_W: N_("the power your home takes from or gives to the grid"),
    Quantity.HOUSEHOLD_CONSUMPTION_W: N_("your home's consumption"),
    Quantity.BATTERY_POWER_W: N_("your battery's charging and discharging power"),
    Quantity.BATTERY_SOC_PERCENT: N_("your battery's state of charge"),
    Quantity.SOLAR_ENERGY_WH: N_("the energy counters of the inverter"),
}
CONTROL_MEANINGS = {
    ControlMode.CHARGE: N_("charge the battery, also from the grid when power is cheap"),
    ControlMode.DISCHARGE: N_("discharge the battery when power is dear"),
    ControlMode.HOLD: N_("hold the battery's charge for later"),
    ControlMode.CURTAIL: N_("limit the solar output when prices are negative"),
    ControlMode.PAUSE: N_("pause export and battery exchange with the grid when you ask for it"),
    ControlMode.SELF_CONSUMPTION: N_("hand the battery back to the inverter's own control"),
}
FAILURE_MESSAGES = {
    CheckFailure.CREDENTIALS_REJECTED: N_(
        "The manufacturer refused these credentials. Check them (copy them again from the manufacturer's "
        "portal) and try again."
    ),
    CheckFailure.UNREACHABLE: N_("The device did not answer. Check the details and try again."),
    CheckFailure.UNEXPECTED_ANSWER: N_(
        "Something answered, but not as this device model should. Check the address and that the interface "
        "the instructions name is switched on."
    ),
    CheckFailure.UNSUPPORTED: N_("This device does not offer what solarfleet needs to read it."),
    CheckFailure.INVALID_SETTINGS: N_("These details cannot be used. Check them and try again."),
    CheckFailure.FAILED: N_("The check failed. Please try again."),
    CheckFailure.INTERRUPTED: N_("The check did not finish. Please try again."),
}
DETAILS_AT_FAULT = frozenset(
    {CheckFailure.CREDENTIALS_REJECTED, CheckFailure.UNEXPECTED_ANSWER, CheckFailure.INVALID_SETTINGS}
)
LOCAL_UNREACHABLE_MESSAGE = N_(
    "solarfleet could not reach the inverter at this address. If the address is right and the inverter is "
    "reachable only inside your home network, connect it through a gateway in your home."
)


@cache
def _environment(language: str) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(("html",)),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_translations(translations(language), newstyle=True)
    return environment


def _csp(form_targets: list[str], frame_ancestors: list[str]) -> str:
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action " + " ".join(["'self'", *dict.fromkeys(form_targets)]),
            "frame-ancestors " + (" ".join(frame_ancestors) if frame_ancestors else "'none'"),
        )
    )


class Page:
    """What a page is rendered for: its language, whether it is embedded, and its security policy."""

    def __init__(self, language: str, embedded: bool, form_targets: list[str], frame_ancestors: list[str]) -> None:
        self.language = shown_language(language)
        self.embedded = embedded
        ancestors = frame_ancestors if embedded else []
        self.policy = _csp(form_targets, ancestors)
        # For browsers that know X-Frame-Options only; it cannot name origins, so framed pages go without.
        self.frame_options = None if ancestors else "DENY"

    def render(self, template: str, status_code: int = 200, headers: dict[str, str] | None = None, **context) -> Any:
        html = (
            _environment(self.language)
            .get_template(template)
            .render(language=self.language, embedded=self.embedded, static=STATIC_PATH, **context)
        )
        response = HTMLResponse(html, status_code=status_code, headers=headers)
        self.secure(response)
        return response

    def secure(self, response: Response) -> Response:
        response.headers["content-security-policy"] = self.policy
        if self.frame_options:
            response.headers["x-frame-options"] = self.frame_options
        response.headers["cache-control"] = "no-store"
        return response

    def redirect(self, url: str) -> Response:
        return self.secure(RedirectResponse(url, status_code=303))


def _page_for(session: DbSession, row: OnboardingSession) -> Page:
    targets = [origin_of(url) for url in (row.success_url, row.cancel_url) if url]
    ancestors = frame_origins(session, row.organisation_id) if row.embedded else []
    return Page(row.language, row.embedded, targets, ancestors)


def _plain_page(language: str = "en") -> Page:
    return Page(language, False, [], [])


# -- the session of a request --------------------------------------------------------------------------


class Customer:
    """The open session a request acts on, with its page and the session's address."""

    def __init__(self, session: DbSession, row: OnboardingSession, links: ConnectLinks) -> None:
        self.db = session
        self.row = row
        self.page = _page_for(session, row)
        self.base = links.session_path(row.id)

    def url(self, step: str = "") -> str:
        return f"{self.base}/{step}" if step else self.base

    def render(self, template: str, step: str | None = None, status_code: int = 200, **context) -> Response:
        return self.page.render(
            template,
            status_code=status_code,
            row=self.row,
            session_url=self.url,
            csrf_token=self.row.csrf_token,
            step=step,
            expires=_expiry_text(self.row, self.page.language),
            partner=self.db.get(Organisation, self.row.organisation_id).name,
            **context,
        )


class Unavailable(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _unavailable(reason: str, language: str = "en") -> Response:
    status_code = 404 if reason == "unknown" else 410
    return _plain_page(language).render("closed.html", status_code=status_code, reason=reason)


def customer(session_id: uuid.UUID, mac: str, session: DbSession, links: Links) -> Customer:
    if not links.verify("session", session_id, mac):
        raise Unavailable(_unavailable("unknown"))
    try:
        row = flow.open_session(session, session_id, utcnow())
    except flow.SessionUnavailable as closed:
        found = session.get(OnboardingSession, session_id)
        raise Unavailable(_unavailable(closed.reason, found.language if found else "en")) from None
    return Customer(session, row, links)


CurrentCustomer = Annotated[Customer, Depends(customer)]


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _forged(request: Request, form: dict[str, str], expected: str) -> bool:
    """A form not sent by our own page: another site's (the browser says so) or without the right token."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return True
    # As bytes: compare_digest refuses str with characters beyond ASCII, which a forged form may send.
    return not hmac.compare_digest(form.get("csrf_token", "").encode(), expected.encode())


def _refused(page: Page) -> Response:
    return page.render("refused.html", status_code=403)


Form = Annotated[dict[str, str], Depends(_form)]


def _expiry_text(row: OnboardingSession, language: str) -> str:
    """The last local day the link works on (it expires at that day's end: midnight would read as the next)."""
    zone = ZoneInfo(ZONES[PriceZone(row.price_zone)].location.timezone)
    last_day = (row.expires_at - timedelta(microseconds=1)).astimezone(zone).date()
    return format_date(last_day, "full", locale=language)


def _next_step(customer: Customer) -> str:
    row = customer.row
    if row.device_type is None:
        return "type"
    if row.device_model_id is None:
        return "model"
    if row.state == STATE_CHECKING or row.check_error is not None:
        return "check"
    if row.pending_settings_ciphertext is None:
        return "connection"
    return "consent"


# -- steps ------------------------------------------------------------------------------------------------


@router.get("/s/{session_id}/{mac}")
def start(customer: CurrentCustomer) -> Response:
    return customer.page.redirect(customer.url(_next_step(customer)))


@router.get("/s/{session_id}/{mac}/type")
def device_type_page(customer: CurrentCustomer) -> Response:
    return customer.render("type.html", step="type")


@router.post("/s/{session_id}/{mac}/type")
def choose_device_type(request: Request, customer: CurrentCustomer, form: Form) -> Response:
    if _forged(request, form, customer.row.csrf_token):
        return _refused(customer.page)
    if form.get("device_type") != "iv":
        return customer.render("type.html", step="type", status_code=422, error=True)
    customer.row.device_type = "iv"
    return customer.page.redirect(customer.url("model"))


def _models_context(customer: Customer, manufacturer: str | None) -> dict[str, Any]:
    choices = flow.device_models(customer.db)
    manufacturers = sorted({c.model.manufacturer for c in choices})
    if manufacturer not in manufacturers:
        manufacturer = None
    shown = [c for c in choices if manufacturer is None or c.model.manufacturer == manufacturer]
    return {"manufacturers": manufacturers, "manufacturer": manufacturer, "choices": shown}


@router.get("/s/{session_id}/{mac}/model")
def model_page(request: Request, customer: CurrentCustomer, manufacturer: str | None = None) -> Response:
    context = _models_context(customer, manufacturer)
    if request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "models":
        return customer.render("_models.html", **context)
    return customer.render("model.html", step="model", **context)


@router.post("/s/{session_id}/{mac}/model")
def choose_model(request: Request, customer: CurrentCustomer, form: Form) -> Response:
    if _forged(request, form, customer.row.csrf_token):
        return _refused(customer.page)
    try:
        chosen = uuid.UUID(form.get("device_model_id", ""))
    except ValueError:
        chosen = None
    if chosen is None or not flow.choose_model(customer.db, customer.row, chosen):
        context = _models_context(customer, form.get("manufacturer"))
        return customer.render("model.html", step="model", status_code=422, error=True, **context)
    return customer.page.redirect(customer.url("connection"))


def _connection_context(customer: Customer) -> dict[str, Any]:
    choice = flow.chosen_model(customer.db, customer.row)
    service = choice.model.cloud_service
    return {
        "model": choice.model,
        "form": choice.form,
        "instructions": service.instructions_in(customer.page.language),
        "signup_link": service.signup_link,
    }


@router.get("/s/{session_id}/{mac}/connection")
def connection_page(request: Request, customer: CurrentCustomer) -> Response:
    if customer.row.device_model_id is None:
        return customer.page.redirect(customer.url("model"))
    context = _connection_context(customer)
    cipher = request.app.state.credentials_cipher
    values = flow.known_values(customer.db, cipher, customer.row, context["form"])
    return customer.render("connection.html", step="connection", values=values, errors={}, **context)


@router.post("/s/{session_id}/{mac}/connection")
def save_connection(request: Request, customer: CurrentCustomer, form: Form) -> Response:
    if _forged(request, form, customer.row.csrf_token):
        return _refused(customer.page)
    if customer.row.device_model_id is None or customer.row.state != STATE_PENDING:
        return customer.page.redirect(customer.url(_next_step(customer)))
    page_context = _connection_context(customer)
    connection_form = page_context["form"]
    values = {f.name: form.get(f.name, "").strip() for f in connection_form.fields}
    context = flow.form_context(customer.db, customer.row, request.app.state.settings.solaredge_api_url)
    errors = flow.save_connection(
        customer.db, request.app.state.credentials_cipher, customer.row, connection_form, values, context
    )
    if errors:
        shown = {f.name: "" if f.secret else values[f.name] for f in connection_form.fields}
        return customer.render(
            "connection.html", step="connection", status_code=422, values=shown, errors=errors, **page_context
        )
    return customer.page.redirect(customer.url("consent"))


def _consent_context(customer: Customer) -> dict[str, Any]:
    choice = flow.chosen_model(customer.db, customer.row)
    controls = connector_kind(choice.model.cloud_service.connector).controls
    return {
        "model": choice.model,
        "reads": list(READ_QUANTITIES.values()),
        "controls": [meaning for mode, meaning in CONTROL_MEANINGS.items() if mode in controls],
    }


@router.get("/s/{session_id}/{mac}/consent")
def consent_page(customer: CurrentCustomer) -> Response:
    if customer.row.pending_settings_ciphertext is None:
        return customer.page.redirect(customer.url(_next_step(customer)))
    return customer.render("consent.html", step="consent", **_consent_context(customer))


@router.post("/s/{session_id}/{mac}/consent")
def give_consent(request: Request, customer: CurrentCustomer, form: Form, background: BackgroundTasks) -> Response:
    if _forged(request, form, customer.row.csrf_token):
        return _refused(customer.page)
    if form.get("consent") != "yes":
        return customer.render(
            "consent.html", step="consent", status_code=422, error=True, **_consent_context(customer)
        )
    return _begin_check(request, customer, background)


@router.post("/s/{session_id}/{mac}/retry")
def retry_check(request: Request, customer: CurrentCustomer, form: Form, background: BackgroundTasks) -> Response:
    """Check the same details again after a failure (consent was given for them already)."""
    if _forged(request, form, customer.row.csrf_token):
        return _refused(customer.page)
    if customer.row.check_error is None:
        return customer.page.redirect(customer.url(_next_step(customer)))
    return _begin_check(request, customer, background)


def _begin_check(request: Request, customer: Customer, background: BackgroundTasks) -> Response:
    if flow.begin_check(customer.db, customer.row, utcnow()):
        # Started once the response is sent, so after this request's commit: the check sees `checking`.
        background.add_task(request.app.state.device_checks.start, customer.row.id)
    return customer.page.redirect(customer.url("check"))


def _check_context(customer: Customer) -> dict[str, Any]:
    row = customer.row
    failure = CheckFailure(row.check_error) if row.check_error else None
    choice = flow.chosen_model(customer.db, row)
    local = choice is not None and choice.form is not None and choice.form.local_address
    message = None
    if failure is CheckFailure.UNREACHABLE and local:
        message = LOCAL_UNREACHABLE_MESSAGE
    elif failure is not None:
        message = FAILURE_MESSAGES[failure]
    return {
        "checking": row.state == STATE_CHECKING,
        "failure": failure,
        "message": message,
        "detail": row.check_detail,
        "gateway_possible": failure is CheckFailure.UNREACHABLE and local,
        # Trying the same details again helps only where the device, not the details, may be at fault.
        "details_wrong": failure in DETAILS_AT_FAULT,
        "model": choice.model if choice else None,
    }


def _customer_or_end(session_id: uuid.UUID, mac: str, session: DbSession, links: ConnectLinks) -> Customer | str:
    """The open session, or, where it was completed meanwhile (a fast device is read before its check
    page loads), the address of its end; an unusable session's page is raised as for any step."""
    try:
        return customer(session_id, mac, session, links)
    except Unavailable:
        row = session.get(OnboardingSession, session_id)
        if row is not None and row.state == STATE_COMPLETED and links.verify("session", session_id, mac):
            return f"{links.session_path(session_id)}/done"
        raise


@router.get("/s/{session_id}/{mac}/check")
def check_page(session_id: uuid.UUID, mac: str, session: DbSession, links: Links) -> Response:
    found = _customer_or_end(session_id, mac, session, links)
    if isinstance(found, str):
        return RedirectResponse(found, status_code=303)
    if found.row.state != STATE_CHECKING and found.row.check_error is None:
        return found.page.redirect(found.url(_next_step(found)))
    return found.render("check.html", step="check", **_check_context(found))


@router.get("/s/{session_id}/{mac}/check/status")
def check_status(session_id: uuid.UUID, mac: str, session: DbSession, links: Links) -> Response:
    """The check's progress for the page's htmx poll; once connected, htmx is sent on to the end."""
    found = _customer_or_end(session_id, mac, session, links)
    if isinstance(found, str):
        return Response(status_code=204, headers={"HX-Redirect": found})
    return found.render("_check_status.html", **_check_context(found))


@router.post("/s/{session_id}/{mac}/gateway")
def connect_through_gateway(request: Request, customer: CurrentCustomer, form: Form) -> Response:
    if _forged(request, form, customer.row.csrf_token):
        return _refused(customer.page)
    if not flow.connect_through_gateway(customer.db, request.app.state.credentials_cipher, customer.row, utcnow()):
        return customer.page.redirect(customer.url(_next_step(customer)))
    return customer.page.redirect(customer.url("done"))


@router.post("/s/{session_id}/{mac}/cancel")
def cancel(request: Request, customer: CurrentCustomer, form: Form) -> Response:
    if _forged(request, form, customer.row.csrf_token):
        return _refused(customer.page)
    flow.cancel(customer.row, utcnow())
    if customer.row.cancel_url:
        return customer.page.redirect(with_session_id(customer.row.cancel_url, customer.row.id))
    return customer.render("finished.html", outcome="cancelled")


@router.get("/s/{session_id}/{mac}/done")
def done(session_id: uuid.UUID, mac: str, session: DbSession, links: Links) -> Response:
    """The end of a completed session: back to the partner's success page, or our own where there is none."""
    row = session.get(OnboardingSession, session_id) if links.verify("session", session_id, mac) else None
    if row is None:
        return _unavailable("unknown")
    if row.state != STATE_COMPLETED:
        return _plain_page(row.language).redirect(links.session_path(session_id))
    page = _page_for(session, row)
    if row.success_url:
        return page.redirect(with_session_id(row.success_url, row.id))
    inverter = session.get(Inverter, row.inverter_id)
    return page.render("finished.html", outcome="connected", row=row, needs_gateway=bool(inverter.needs_gateway))


# -- an inverter's own links (authorization_url, embeddable_url) -------------------------------------------


def _device_page(session: DbSession, inverter: Inverter, embedded: bool, language: str) -> Page:
    ancestors = frame_origins(session, inverter.organisation_id) if embedded else []
    return Page(language, embedded, [], ancestors)


def _linked_inverter(session: DbSession, links: ConnectLinks, inverter_id: uuid.UUID, mac: str) -> Inverter | None:
    if not links.verify("device", inverter_id, mac):
        return None
    return session.scalar(select(Inverter).where(Inverter.id == inverter_id, Inverter.deleted_at.is_(None)))


def _language(requested: str | None) -> str | None:
    return requested if requested in set(Language) else None


def _embedded(request: Request) -> bool:
    """Reached through `embeddable_url` (the `/embed` route) rather than `authorization_url`."""
    return request.scope["route"].path.endswith("/embed")


@router.get("/d/{inverter_id}/{mac}")
@router.get("/d/{inverter_id}/{mac}/embed")
def device_link(
    request: Request, inverter_id: uuid.UUID, mac: str, session: DbSession, links: Links, lang: str | None = None
) -> Response:
    inverter = _linked_inverter(session, links, inverter_id, mac)
    if inverter is None:
        return _unavailable("unknown")
    model = session.get(DeviceModel, inverter.device_model_id) if inverter.device_model_id else None
    page = _device_page(session, inverter, _embedded(request), _language(lang) or "en")
    return page.render(
        "device.html",
        model=model,
        csrf_token=links.mac("start", inverter.id),
        partner=session.get(Organisation, inverter.organisation_id).name,
        lang=_language(lang),
    )


@router.post("/d/{inverter_id}/{mac}")
@router.post("/d/{inverter_id}/{mac}/embed")
def start_from_device_link(
    request: Request, inverter_id: uuid.UUID, mac: str, session: DbSession, links: Links, form: Form
) -> Response:
    inverter = _linked_inverter(session, links, inverter_id, mac)
    if inverter is None:
        return _unavailable("unknown")
    embedded = _embedded(request)
    page = _device_page(session, inverter, embedded, form.get("lang") or "en")
    if _forged(request, form, links.mac("start", inverter.id)):
        return _refused(page)
    row = flow.device_link_session(session, inverter.id, embedded, _language(form.get("lang")), utcnow())
    return page.redirect(links.session_path(row.id))


def install_connect_ui(app) -> None:
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="connect-static")

    @app.exception_handler(Unavailable)
    async def unavailable(_request: Request, exc: Unavailable) -> Response:
        return exc.response
