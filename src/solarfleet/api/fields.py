"""Field types and base models shared by the request and response schemas of every domain."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, TypeVar

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from solarfleet.api.errors import FieldError


def _iso_country(code: str) -> str:
    code = code.upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return code


CountryCode = Annotated[
    str,
    Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2 country code", examples=["AT"]),
    AfterValidator(_iso_country),
]
K = TypeVar("K", bound=StrEnum)

# Text taken from a URL path and looked up as is (a partner's external id): no control characters.
PATH_TEXT_PATTERN = r"^[^\x00-\x1f]+$"
Latitude = Annotated[float, Field(ge=-90, le=90, description="WGS 84 latitude in degrees")]
Longitude = Annotated[float, Field(ge=-180, le=180, description="WGS 84 longitude in degrees")]


class InputModel(BaseModel):
    """A request body: unknown members are refused so a typo never passes silently.

    In update bodies a member typed without `| None` but defaulting to None may be left out,
    yet not sent as null: the default is not validated, an explicit null is.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        # PostgreSQL cannot store NUL in text; refuse it here rather than fail at the database.
        if isinstance(data, dict):
            for name, value in data.items():
                if isinstance(value, str) and "\x00" in value:
                    raise ValueError(f"{name}: text must not contain NUL characters")
        return data

    def changes(self) -> dict[str, Any]:
        """The members the client actually sent: PUT and PATCH are partial."""
        return self.model_dump(exclude_unset=True)


class AddressFields(InputModel):
    """The postal address and coordinates of a user or a building (the country differs by name)."""

    street_and_number: str | None = Field(default=None, max_length=100)
    street_add_info: str | None = Field(default=None, max_length=100)
    zip_code: str | None = Field(default=None, max_length=20)
    town: str | None = Field(default=None, max_length=100)
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def keyword_list(raw: str | None, keywords: type[K], parameter: str = "keywords") -> tuple[K, ...]:
    """The members of `keywords` named in a comma-separated query parameter, in the enum's order; all of
    them when it is not given. FieldError (422) for unknown names or a list that names none."""
    if raw is None:
        return tuple(keywords)
    names = {name.strip() for name in raw.split(",")} - {""}
    known = ", ".join(keywords)
    unknown = sorted(names.difference(keywords))
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        raise FieldError(parameter, f"unknown keyword{'s' * (len(unknown) > 1)} {listed}; known: {known}", "query")
    if not names:
        raise FieldError(parameter, f"names no keyword; leave it out for all, or name some of: {known}", "query")
    return tuple(keyword for keyword in keywords if keyword in names)
