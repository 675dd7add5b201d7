"""Request-scoped dependencies: the database session and the authenticated organisation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from solarfleet.auth.tokens import InvalidToken
from solarfleet.onboarding.links import ConnectLinks, links_for
from solarfleet.organisations.service import active_client_organisation

bearer = HTTPBearer(auto_error=False, description="Access token from POST /oauth2/token/")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's unit of work (Database.session).

    Opened on the event loop, since a session connects only on first use: as a sync dependency it
    cost every request one more trip to a worker thread. Ending it (commit or rollback) does I/O, so
    that runs in a worker thread the way FastAPI ends a sync dependency: shielded from cancellation,
    and under a limiter of its own, so it never waits for a thread held by a request that is itself
    waiting for this unit's pooled connection.
    """
    unit = request.app.state.db.session(write=request.method not in READ_METHODS)
    session = unit.__enter__()
    limiter = anyio.CapacityLimiter(1)
    try:
        yield session
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(unit.__exit__, type(exc), exc, exc.__traceback__, limiter=limiter)
        raise
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(unit.__exit__, None, None, None, limiter=limiter)


# "function" scope: commit before the response is sent, so a client that got 2xx can read its write
# back at once, and a failing commit still becomes an error response.
DbSession = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API client acting as administrator of one organisation."""

    organisation_id: uuid.UUID
    client_id: str


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=reason, headers={"WWW-Authenticate": "Bearer"})


def authenticated(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <access_token>'")
    try:
        claims = request.app.state.tokens.verify(credentials.credentials)
    except InvalidToken:
        raise _unauthorized("invalid or expired access token: request a new one at /oauth2/token/") from None
    if active_client_organisation(session, claims.client_id) != claims.organisation_id:
        raise _unauthorized("the API client of this token was revoked: request a token with an active client")
    return Principal(organisation_id=claims.organisation_id, client_id=claims.client_id)


CurrentPrincipal = Annotated[Principal, Depends(authenticated)]

OrgId = Annotated[uuid.UUID, Path(description="The organization ID of the user's organization")]


# async: pure computation, so FastAPI runs it on the event loop instead of handing it to a worker thread.
async def organisation_scope(org_id: OrgId, principal: CurrentPrincipal) -> uuid.UUID:
    """The path's organisation, once shown to be the token's own."""
    if org_id != principal.organisation_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this token does not grant access to that organisation")
    return org_id


ScopedOrg = Annotated[uuid.UUID, Depends(organisation_scope)]

IncludeDeleted = Annotated[bool, Query(description="If true, includes soft-deleted")]


async def connect_links(request: Request) -> ConnectLinks:
    """The Connect UI's addresses, under the configured public address or else the one this request came to."""
    state = request.app.state
    return links_for(state.connect_links_key, state.settings.public_url or str(request.base_url))


Links = Annotated[ConnectLinks, Depends(connect_links)]
