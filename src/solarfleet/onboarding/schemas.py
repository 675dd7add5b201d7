"""Requests and responses of onboarding sessions, re-authentication and the Connect UI's framing settings."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field, field_validator

from solarfleet.api.fields import InputModel
from solarfleet.onboarding.links import origin_of
from solarfleet.prices.zones import PriceZone

MAX_RETURN_URL = 8000
MAX_METADATA_BYTES = 4096
MAX_FRAME_ORIGINS = 20


class Language(StrEnum):
    SV = "sv"
    DE = "de"
    EN = "en"
    HU = "hu"
    IT = "it"
    ET = "et"
    PL = "pl"
    RO = "ro"


class SessionState(StrEnum):
    PENDING = "pending"
    CHECKING = "checking"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


def _return_url(value: str) -> str:
    """An absolute http(s) address the customer's browser is sent to, exactly as given."""
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain blanks or control characters")
    parts = urlsplit(value)
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password")
    origin_of(value)  # a plain scheme, host and port: the pages' policies name it
    return value


ReturnUrl = Annotated[
    str,
    Field(max_length=MAX_RETURN_URL, examples=["https://partner.example/devices/connected"]),
    AfterValidator(_return_url),
]


def _origin(value: str) -> str:
    parts = urlsplit(value)
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must be an origin only (scheme, host and port), without path, query or user")
    return origin_of(value)


FrameOrigin = Annotated[str, Field(max_length=300, examples=["https://app.partner.example"]), AfterValidator(_origin)]


class OnboardingCreate(InputModel):
    user_id: uuid.UUID = Field(description="The user whose device is to be connected")
    language: Language = Field(description="Language of the Connect UI; languages without a translation show English")
    price_zone_default: PriceZone = Field(
        description="Price zone of the device created; its time zone sets the session's expiry"
    )
    is_smart_optimization_active_default: bool = Field(
        default=False, description="Whether the created device is optimised from the start"
    )
    success_url: ReturnUrl = Field(description="Where the customer is sent after success, with `session_id` appended")
    cancel_url: ReturnUrl = Field(description="Where the customer is sent on cancel, with `session_id` appended")
    building_id: uuid.UUID | None = Field(default=None, description="The user's building the device belongs to")
    device_type: Literal["iv"] | None = Field(
        default=None, description="`iv`: a solar inverter (with or without battery); null: the customer chooses"
    )
    external_metadata: dict[str, Any] | None = Field(
        default=None, description=f"solarfleet addition: any JSON object (≤ {MAX_METADATA_BYTES} bytes), returned as is"
    )

    @field_validator("external_metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, separators=(",", ":")).encode()) > MAX_METADATA_BYTES:
            raise ValueError(f"must not exceed {MAX_METADATA_BYTES} bytes as JSON")
        return value


class OnboardingOut(BaseModel):
    authentication_url: str = Field(description="The Connect UI address to send the customer to")
    id: uuid.UUID = Field(description="The session's id")
    user: uuid.UUID = Field(description="The user whose device is connected")
    success_url: str | None = Field(description="Where the customer is sent after success")
    cancel_url: str | None = Field(description="Where the customer is sent on cancel")
    expiration_date: datetime = Field(
        description="The session works until then: the end of the next day in the price zone's time zone, UTC"
    )
    object_id: uuid.UUID | None = Field(description="The inverter the session connected; null until it succeeded")
    external_metadata: dict[str, Any] | None = Field(description="What the partner gave when creating the session")
    state: SessionState = Field(
        description="solarfleet addition: `pending` (not finished), `checking` (the device is being read), "
        "`completed`, `cancelled`, or `expired`"
    )
    completed_at: datetime | None = Field(description="solarfleet addition: when the customer finished, UTC")


class AuthSessionCreate(InputModel):
    success_url: ReturnUrl = Field(description="Where the customer is sent after success, with `session_id` appended")
    cancel_url: ReturnUrl = Field(description="Where the customer is sent on cancel, with `session_id` appended")
    language: Language | None = Field(
        default=None,
        description="solarfleet addition: language of the Connect UI; default the language the device was "
        "onboarded in, else English",
    )


class AuthSessionOut(BaseModel):
    authentication_url: str = Field(description="The Connect UI address to send the customer to")
    device_id: uuid.UUID = Field(description="The inverter being re-authenticated")
    session_id: uuid.UUID = Field(description="The session's id, readable at GET /device-onboarding/{session}")


class ConnectUiSettings(InputModel):
    allowed_frame_origins: list[FrameOrigin] = Field(
        max_length=MAX_FRAME_ORIGINS,
        description="Origins whose pages may frame the inverters' `embeddable_url` (CSP frame-ancestors); "
        "empty: no page may frame it",
    )


class ConnectUiSettingsOut(BaseModel):
    allowed_frame_origins: list[str] = Field(description="Origins whose pages may frame the embeddable pages")
