"""Request and response bodies of the buildings resource."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from solarfleet.api.fields import AddressFields, CountryCode, OutputModel


class PropertyType(StrEnum):
    detached = "Detached"
    semi_detached = "Semi-detached"
    bungalow = "Bungalow"
    terraced = "Terraced"
    end_terrace = "End-terrace"
    flat = "Flat"


class BuildingFields(AddressFields):
    property_type: PropertyType | None = None
    occupant_type: str | None = Field(default=None, max_length=50)
    space_heating: str | None = Field(default=None, max_length=50)
    water_heating: str | None = Field(default=None, max_length=50)
    property_size_m2: int | None = Field(default=None, ge=0, le=1_000_000, description="Living area in m²")
    property_age: int | None = Field(default=None, ge=0, le=2000, description="Age of the building in years")
    num_occupants: int | None = Field(default=None, ge=0, le=1000)
    photovoltaic: bool | None = Field(default=None, description="The building has a PV system")
    country: CountryCode | None = None


class BuildingCreate(BuildingFields):
    name: str = Field(min_length=1, max_length=100)


class BuildingUpdate(BuildingFields):
    name: str = Field(default=None, min_length=1, max_length=100)


class BuildingOut(OutputModel):
    id: uuid.UUID = Field(description="The building's id")
    name: str = Field(description="The building's name, e.g. 'Home'")
    property_type: PropertyType | None = Field(description="The kind of building")
    occupant_type: str | None = Field(description="Who lives there, in the partner's words")
    space_heating: str | None = Field(description="How rooms are heated, e.g. 'heat pump'")
    water_heating: str | None = Field(description="How hot water is made")
    property_size_m2: int | None = Field(description="Living area in m²")
    property_age: int | None = Field(description="Age of the building in years")
    num_occupants: int | None = Field(description="People living there")
    photovoltaic: bool | None = Field(description="The building has a PV system")
    street_and_number: str | None = Field(description="Street and house number")
    street_add_info: str | None = Field(description="Address addition (flat, floor)")
    zip_code: str | None = Field(description="Postal code")
    town: str | None = Field(description="Town or city")
    country: str | None = Field(description="ISO 3166-1 alpha-2 country code")
    latitude: float | None = Field(description="WGS 84 latitude in degrees")
    longitude: float | None = Field(description="WGS 84 longitude in degrees")
    deleted_at: datetime | None = Field(description="When set, the building is considered deleted.")
