"""Creating organisations and managing their API clients (used by the CLI)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from solarfleet.auth.client_secrets import hash_client_secret, new_client_id, new_client_secret
from solarfleet.database import utcnow
from solarfleet.organisations.models import ApiClient, Organisation


class UnknownOrganisation(LookupError):
    pass


class UnknownClient(LookupError):
    pass


@dataclass(frozen=True)
class IssuedClient:
    """A new client's credentials; the only moment the secret exists in clear."""

    org_id: uuid.UUID
    client_id: str
    client_secret: str

    def as_json(self) -> dict[str, str]:
        return {"org_id": str(self.org_id), "client_id": self.client_id, "client_secret": self.client_secret}


def create_organisation(session: Session, name: str) -> IssuedClient:
    name = name.strip()
    if not name:
        raise ValueError("the organisation name must not be empty")
    organisation = Organisation(name=name)
    session.add(organisation)
    session.flush()
    return create_client(session, organisation.id)


def create_client(session: Session, organisation_id: uuid.UUID) -> IssuedClient:
    if session.get(Organisation, organisation_id) is None:
        raise UnknownOrganisation(f"no organisation with id {organisation_id}")
    secret = new_client_secret()
    client = ApiClient(id=new_client_id(), organisation_id=organisation_id, secret_hash=hash_client_secret(secret))
    session.add(client)
    session.flush()
    return IssuedClient(org_id=organisation_id, client_id=client.id, client_secret=secret)


def revoke_client(session: Session, client_id: str) -> ApiClient:
    client = session.get(ApiClient, client_id)
    if client is None:
        raise UnknownClient(f"no API client with id {client_id}")
    if client.revoked_at is None:
        client.revoked_at = utcnow()
    return client


_is_active = ApiClient.revoked_at.is_(None)
# Asked on every API request (so that a revocation locks tokens out at once): built once, one column.
_ACTIVE_CLIENT_ORGANISATION = select(ApiClient.organisation_id).where(
    ApiClient.id == bindparam("client_id"), _is_active
)


def active_client(session: Session, client_id: str) -> ApiClient | None:
    return session.scalar(select(ApiClient).where(ApiClient.id == client_id, _is_active))


def active_client_organisation(session: Session, client_id: str) -> uuid.UUID | None:
    """The organisation an active client acts for; None for an unknown or revoked client."""
    return session.connection().scalar(_ACTIVE_CLIENT_ORGANISATION, {"client_id": client_id})
