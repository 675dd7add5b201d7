"""Request and response bodies of the users resource."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import EmailStr, Field

from solarfleet.api.fields import AddressFields, CountryCode, OutputModel


class Role(StrEnum):
    admin = "admin"
    staff = "staff"
    user = "user"
    guest = "guest"


class UserFields(AddressFields):
    external_user_id: str | None = Field(default=None, max_length=255, description="The partner's own id")
    first_name: str | None = Field(default=None, max_length=150)
    last_name: str | None = Field(default=None, max_length=150)
    country_iso2: CountryCode | None = None


class UserCreate(UserFields):
    email: EmailStr = Field(description="Unique among the organisation's users")
    role: Role = Role.user


class UserUpdate(UserFields):
    email: EmailStr = Field(default=None, description="Unique among the organisation's users")
    role: Role = None


class UserOut(OutputModel):
    id: uuid.UUID = Field(description="The user's id")
    organization_id: uuid.UUID = Field(description="The organisation (partner) the user belongs to")
    role: Role = Field(description="admin, staff, user or guest")
    email: str = Field(description="Unique among the organisation's live users (case-insensitive)")
    external_user_id: str | None = Field(description="The partner's own id of the user")
    first_name: str | None = Field(description="The user's first name")
    last_name: str | None = Field(description="The user's last name")
    num_inverters: int = Field(description="The user's inverters that are not deleted")
    is_onboarded: bool = Field(description="At least one of the user's devices completed onboarding")
    street_and_number: str | None = Field(description="Street and house number")
    street_add_info: str | None = Field(description="Address addition (flat, floor)")
    zip_code: str | None = Field(description="Postal code")
    town: str | None = Field(description="Town or city")
    country: str | None = Field(description="ISO 3166-1 alpha-2 country code (sent as country_iso2)")
    latitude: float | None = Field(description="WGS 84 latitude in degrees")
    longitude: float | None = Field(description="WGS 84 longitude in degrees")
    joined_at: datetime = Field(description="When the user was created")
    deleted_at: datetime | None = Field(description="When set, the user is considered deleted.")
