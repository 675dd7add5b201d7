"""The FastAPI application: partner API v2.0 under its base path, and the token endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from solarfleet import __version__
from solarfleet.api.errors import install_error_handlers
from solarfleet.api.middleware import RequestContextMiddleware
from solarfleet.auth.api import router as token_router
from solarfleet.auth.login_throttle import LoginThrottle
from solarfleet.auth.tokens import TokenService
from solarfleet.buildings.api import router as buildings_router
from solarfleet.catalogue.api import router as catalogue_router
from solarfleet.config import Settings
from solarfleet.credentials_cipher import CredentialsCipher
from solarfleet.database import Database, utcnow
from solarfleet.inference.api import router as inference_router
from solarfleet.inverters.api import router as inverters_router
from solarfleet.onboarding import flow
from solarfleet.onboarding.api import router as onboarding_router
from solarfleet.onboarding.device_check import DeviceChecks
from solarfleet.onboarding.ui import install_connect_ui
from solarfleet.prices.api import router as prices_router
from solarfleet.savings.api import router as savings_router
from solarfleet.tariffs.api import router as tariffs_router
from solarfleet.trading.api import router as trading_router
from solarfleet.users.api import router as users_router

BASE_PATH = "/api/partners/v2.0"

DESCRIPTION = """\
The partner API v2.0 for solar inverters and home batteries, served by solarfleet.

Authenticate with `POST /oauth2/token/` (HTTP Basic client credentials), then send
`Authorization: Bearer <access_token>`. Everything a partner owns sits under `/org/{org_id}`.
Fields that solarfleet cannot know yet are `null`; each field's description says when it is filled.
"""


def create_app(settings: Settings, database: Database) -> FastAPI:
    cipher = CredentialsCipher(settings.fernet_keys())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await app.state.device_checks.close()

    app = FastAPI(
        lifespan=lifespan,
        title="solarfleet partner API",
        version=f"2.0 (solarfleet {__version__})",
        description=DESCRIPTION,
        openapi_url=f"{BASE_PATH}/openapi.json",
        docs_url=f"{BASE_PATH}/docs",
        redoc_url=None,
        separate_input_output_schemas=False,
    )
    app.state.settings = settings
    app.state.db = database
    signing_key = settings.signing_key()
    app.state.tokens = TokenService(signing_key)
    app.state.connect_links_key = signing_key
    app.state.credentials_cipher = cipher
    app.state.device_checks = DeviceChecks(
        load_job=partial(flow.check_job, database, cipher),
        record=lambda session_id, outcome: flow.record_check(database, cipher, session_id, outcome, utcnow()),
    )
    app.state.login_throttle = LoginThrottle(settings.failed_auth_limit, settings.failed_auth_window_seconds)

    partner_api = APIRouter(prefix=BASE_PATH)
    for router in (
        users_router,
        buildings_router,
        inverters_router,
        catalogue_router,
        tariffs_router,
        prices_router,
        trading_router,
        savings_router,
        inference_router,
        onboarding_router,
    ):
        partner_api.include_router(router)
    app.include_router(partner_api)
    app.include_router(token_router)
    install_connect_ui(app)

    @app.get("/healthz", tags=["Operations"], summary="Liveness and database reachability")
    def health(request: Request) -> JSONResponse:
        with request.app.state.db.session(write=False) as session:
            session.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    return app


def app_from_environment() -> FastAPI:
    """The app as `solarfleet serve` runs it, in each uvicorn worker: settings from the environment."""
    from solarfleet.config import get_settings
    from solarfleet.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, Database(settings.resolved_database_url))
